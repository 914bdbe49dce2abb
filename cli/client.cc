#include "cli/client.h"

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <future>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "berth/v1/berth.grpc.pb.h"
#include "cli/health_check.h"

namespace berth::cli {

namespace {

// Large enough for ListExecutors of an application with tens of thousands of executors.
constexpr int kMaxReceiveMessageBytes = 64 << 20;

std::string read_file(const std::string& path, const char* option) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error(std::string("cannot read ") + option + " " + path + ": " +
                             std::strerror(errno));
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

std::string read_token(const std::string& path) {
  std::string token = read_file(path, "--token-file");
  const char* blanks = " \t\r\n";
  size_t first = token.find_first_not_of(blanks);
  if (first == std::string::npos) throw std::runtime_error("token file " + path + " is empty");
  size_t last = token.find_last_not_of(blanks);
  return token.substr(first, last - first + 1);
}

std::shared_ptr<grpc::Channel> make_channel(const ConnectionOptions& connection) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxReceiveMessageBytes);
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (connection.tls) {
    grpc::SslCredentialsOptions ssl;
    if (!connection.ca_file.empty()) ssl.pem_root_certs = read_file(connection.ca_file, "--ca-file");
    if (!connection.cert_file.empty()) {
      ssl.pem_cert_chain = read_file(connection.cert_file, "--cert-file");
      ssl.pem_private_key = read_file(connection.key_file, "--key-file");
    }
    if (!connection.server_name.empty()) args.SetSslTargetNameOverride(connection.server_name);
    credentials = grpc::SslCredentials(ssl);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  return grpc::CreateCustomChannel(connection.address, credentials, args);
}

sigset_t interrupt_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  return signals;
}

// One connection to the daemon; call operator() with the request to make. Not thread-safe.
class Session {
 public:
  Session(const Invocation& invocation, std::ostream& out, std::ostream& err)
      : connection_(invocation.connection),
        output_(invocation.output),
        out_(out),
        err_(err),
        token_(connection_.token_file.empty() ? std::string() : read_token(connection_.token_file)),
        channel_(make_channel(connection_)),
        admin_(v1::Admin::NewStub(channel_)),
        executors_(v1::Executors::NewStub(channel_)) {}

  int operator()(const HealthCheck& check) {
    grpc::GenericStub stub(channel_);
    auto context = new_context(/*with_deadline=*/true);
    grpc::Slice request_slice(encode_health_check_request(check.service));
    grpc::ByteBuffer request(&request_slice, 1);
    grpc::ByteBuffer response;
    std::promise<grpc::Status> done;
    std::future<grpc::Status> result = done.get_future();
    stub.UnaryCall(context.get(), kHealthCheckMethod, grpc::StubOptions(), &request, &response,
                   [&done](grpc::Status status) { done.set_value(std::move(status)); });
    grpc::Status status = result.get();
    if (!status.ok()) return fail(status);

    std::vector<grpc::Slice> slices;
    std::string bytes;
    if (response.Dump(&slices).ok()) {
      for (const grpc::Slice& slice : slices) {
        bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
      }
    }
    std::optional<int> serving_status = decode_health_check_response(bytes);
    if (!serving_status) {
      return fail(grpc::Status(grpc::StatusCode::INTERNAL,
                               "malformed grpc.health.v1.HealthCheckResponse"));
    }
    out_ << render_health(health_status_name(*serving_status), output_);
    return *serving_status == kHealthServing ? 0 : 1;
  }

  int operator()(const v1::StatusRequest& request) {
    return unary<v1::StatusResponse>([&](grpc::ClientContext* context, auto* response) {
      return admin_->Status(context, request, response);
    });
  }

  int operator()(const v1::ListPoolsRequest& request) {
    return unary<v1::ListPoolsResponse>([&](grpc::ClientContext* context, auto* response) {
      return admin_->ListPools(context, request, response);
    });
  }

  int operator()(const v1::ListApplicationsRequest& request) {
    return unary<v1::ListApplicationsResponse>([&](grpc::ClientContext* context, auto* response) {
      return admin_->ListApplications(context, request, response);
    });
  }

  int operator()(const v1::DrainPoolRequest& request) {
    return unary<v1::DrainPoolResponse>([&](grpc::ClientContext* context, auto* response) {
      return admin_->DrainPool(context, request, response);
    });
  }

  int operator()(const v1::RegisterApplicationRequest& request) {
    return unary<v1::Application>([&](grpc::ClientContext* context, auto* response) {
      return executors_->RegisterApplication(context, request, response);
    });
  }

  int operator()(const v1::GetApplicationRequest& request) {
    return unary<v1::Application>([&](grpc::ClientContext* context, auto* response) {
      return executors_->GetApplication(context, request, response);
    });
  }

  int operator()(const v1::UnregisterApplicationRequest& request) {
    return unary<v1::UnregisterApplicationResponse>(
        [&](grpc::ClientContext* context, auto* response) {
          return executors_->UnregisterApplication(context, request, response);
        },
        [&](const v1::UnregisterApplicationResponse&) {
          return "application " + request.app_id() + " unregistered\n";
        });
  }

  int operator()(const v1::KeepAliveRequest& request) {
    return unary<v1::KeepAliveResponse>([&](grpc::ClientContext* context, auto* response) {
      return executors_->KeepAlive(context, request, response);
    });
  }

  int operator()(const v1::RequestTotalExecutorsRequest& request) {
    return unary<v1::RequestTotalExecutorsResponse>(
        [&](grpc::ClientContext* context, auto* response) {
          return executors_->RequestTotalExecutors(context, request, response);
        });
  }

  int operator()(const v1::ListExecutorsRequest& request) {
    return unary<v1::ListExecutorsResponse>([&](grpc::ClientContext* context, auto* response) {
      return executors_->ListExecutors(context, request, response);
    });
  }

  int operator()(const v1::KillExecutorsRequest& request) {
    return unary<v1::KillExecutorsResponse>([&](grpc::ClientContext* context, auto* response) {
      return executors_->KillExecutors(context, request, response);
    });
  }

  int operator()(const v1::DecommissionExecutorsRequest& request) {
    return unary<v1::DecommissionExecutorsResponse>(
        [&](grpc::ClientContext* context, auto* response) {
          return executors_->DecommissionExecutors(context, request, response);
        });
  }

  // Expects SIGINT and SIGTERM to be blocked in every thread (see run), so that only the waiter
  // thread started here receives them and can cancel the stream instead of killing the process.
  int operator()(const WatchEvents& watch) {
    std::shared_ptr<grpc::ClientContext> context = new_context(/*with_deadline=*/false);
    auto interrupted = std::make_shared<std::atomic<bool>>(false);
    std::thread([context, interrupted] {
      sigset_t signals = interrupt_signals();
      int signal_number = 0;
      if (sigwait(&signals, &signal_number) == 0) {
        interrupted->store(true);
        context->TryCancel();
      }
    }).detach();

    std::unique_ptr<grpc::ClientReader<v1::Event>> reader =
        executors_->WatchEvents(context.get(), watch.request);
    v1::Event event;
    std::uint64_t counted = 0;
    bool enough = false;
    // --count counts live events: those after the snapshot (which ends with SYNCED), or with
    // --from those after that revision, unless the daemon answers RESYNC and sends a snapshot.
    bool live = watch.request.from_revision() > 0;
    while (reader->Read(&event)) {
      out_ << (output_ == OutputFormat::kJson ? to_json(event, /*pretty=*/false)
                                              : render_event_line(event))
           << std::flush;
      if (event.type() == v1::Event::RESYNC) live = false;
      if (event.type() == v1::Event::SYNCED) {
        live = true;
        if (watch.until_synced) {
          enough = true;
          context->TryCancel();
          break;
        }
      }
      const bool change = event.type() == v1::Event::EXECUTOR || event.type() == v1::Event::APPLICATION;
      if (live && change && watch.max_events > 0 && ++counted >= watch.max_events) {
        enough = true;
        context->TryCancel();
        break;
      }
    }
    grpc::Status status = reader->Finish();
    if (enough || interrupted->load() || status.ok()) return 0;
    return fail(status);
  }

 private:
  std::unique_ptr<grpc::ClientContext> new_context(bool with_deadline) const {
    auto context = std::make_unique<grpc::ClientContext>();
    if (with_deadline && connection_.timeout_seconds > 0) {
      context->set_deadline(std::chrono::system_clock::now() +
                            std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                std::chrono::duration<double>(connection_.timeout_seconds)));
    }
    if (!token_.empty()) context->AddMetadata("authorization", "Bearer " + token_);
    return context;
  }

  int fail(const grpc::Status& status) const {
    err_ << format_error(status.error_code(), status.error_message()) << '\n';
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE &&
        (channel_->GetState(false) == GRPC_CHANNEL_TRANSIENT_FAILURE ||
         status.error_message().find("failed to connect") != std::string::npos)) {
      err_ << unreachable_hint(connection_.address, connection_.address_source) << '\n';
    }
    return 1;
  }

  // Makes one unary call and prints its response: as JSON, or as `render` returns it.
  template <class Response, class Call>
  int unary(Call call, std::function<std::string(const Response&)> render = nullptr) {
    auto context = new_context(/*with_deadline=*/true);
    Response response;
    grpc::Status status = call(context.get(), &response);
    if (!status.ok()) return fail(status);
    if (output_ == OutputFormat::kJson) {
      out_ << to_json(response, /*pretty=*/true);
    } else if (render) {
      out_ << render(response);
    } else if constexpr (requires(const Response& r) { render_table(r); }) {
      out_ << render_table(response);
    }
    return 0;
  }

  const ConnectionOptions& connection_;
  OutputFormat output_;
  std::ostream& out_;
  std::ostream& err_;
  std::string token_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Admin::Stub> admin_;
  std::unique_ptr<v1::Executors::Stub> executors_;
};

}  // namespace

int run(const Invocation& invocation, std::ostream& out, std::ostream& err) {
  if (std::holds_alternative<WatchEvents>(invocation.request)) {
    // Before gRPC starts its threads, which inherit this mask.
    sigset_t signals = interrupt_signals();
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  }
  Session session(invocation, out, err);
  return std::visit(session, invocation.request);
}

}  // namespace berth::cli
