#include "daemon/status_server.h"

#include <boost/asio/io_context.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <thread>

#include "config/config.h"
#include "daemon/status_page.h"
#include "net/http_server.h"

namespace berth {

namespace {

constexpr std::string_view kApiPrefix = "/api/v1/";
// The status page, its script and its style: nothing else may load or run (no inline script, no
// other origin), and no other site may frame it.
constexpr const char* kPagePolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

net::HttpResponse plain(int status, std::string content_type, std::string body) {
  net::HttpResponse response;
  response.status = status;
  response.headers["content-type"] = std::move(content_type);
  response.headers["x-content-type-options"] = "nosniff";
  response.headers["cache-control"] = "no-store";
  response.body = std::move(body);
  return response;
}

net::HttpResponse json_error(int status, const std::string& message) {
  return plain(status, "application/json",
               "{\"error\":" + boost::json::serialize(boost::json::string(message)) + "}\n");
}

int http_status(StatusCode code) {
  switch (code) {
    case StatusCode::kInvalidArgument: return 400;
    case StatusCode::kUnauthenticated: return 401;
    case StatusCode::kPermissionDenied: return 403;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kUnavailable: return 503;
    default: return 500;
  }
}

net::HttpResponse asset(std::string_view body, const char* content_type) {
  net::HttpResponse response = plain(200, content_type, std::string(body));
  response.headers["content-security-policy"] = kPagePolicy;
  response.headers["referrer-policy"] = "no-referrer";
  response.headers["x-frame-options"] = "DENY";
  return response;
}

}  // namespace

class StatusServer::Impl {
 public:
  Impl(Runtime& runtime, const Authenticator& auth, const Metrics& metrics, DaemonInfo info)
      : runtime_(runtime), auth_(auth), metrics_(metrics), info_(std::make_shared<const DaemonInfo>(std::move(info))) {}

  void handle(net::HttpRequest request, std::shared_ptr<net::ResponseWriter> writer) {
    if (request.method != "GET") {
      net::HttpResponse response = json_error(405, "method " + request.method.substr(0, 20) + " not allowed: this server is read-only");
      response.headers["allow"] = "GET";
      writer->respond(std::move(response));
      return;
    }
    const std::string& path = request.path;
    if (path == "/metrics") {
      writer->respond(plain(200, "text/plain; version=0.0.4; charset=utf-8", metrics_.scrape()));
    } else if (path == "/" || path == "/index.html") {
      writer->respond(asset(kStatusPageHtml, "text/html; charset=utf-8"));
    } else if (path == "/status.js") {
      writer->respond(asset(kStatusPageJs, "text/javascript; charset=utf-8"));
    } else if (path == "/status.css") {
      writer->respond(asset(kStatusPageCss, "text/css; charset=utf-8"));
    } else if (path.rfind(kApiPrefix, 0) == 0) {
      handle_api(request, std::move(writer));
    } else {
      writer->respond(plain(404, "text/plain; charset=utf-8",
                            "not found: this server has /, /metrics and /api/v1/{status,apps/<id>,events}\n"));
    }
  }

  void handle_api(const net::HttpRequest& request, std::shared_ptr<net::ResponseWriter> writer) {
    auto caller = auth_.authenticate(request.header("authorization"));
    if (!caller.ok()) {
      net::HttpResponse response = json_error(401, caller.status().message());
      response.headers["www-authenticate"] = "Bearer realm=\"berth\"";
      writer->respond(std::move(response));
      return;
    }
    if (caller->anonymous && loopback_) {
      const std::string host = request.header("host").value_or("");
      if (!is_address_host(host)) {
        writer->respond(json_error(403, "Host \"" + host.substr(0, 100) +
                                            "\" is not an address of this host: without tokens, the API answers only "
                                            "requests to localhost or an IP address (a guard against DNS rebinding)"));
        return;
      }
    }
    auto query = parse_status_query(request.path.substr(kApiPrefix.size()), request.query);
    if (!query.ok()) {
      writer->respond(json_error(http_status(query.status().code()), query.status().message()));
      return;
    }
    // The task may outlive this server (a stop while it waits for the strand): it holds only
    // what lives as long as the runtime, and its own copies.
    runtime_.post([&runtime = runtime_, info = info_, writer = std::move(writer), caller = *caller, query = *query] {
      if (writer->closed()) return;
      auto document = answer(runtime.engine(), *info, caller, query);
      if (!document.ok()) {
        writer->respond(json_error(http_status(document.status().code()), document.status().message()));
        return;
      }
      writer->respond(plain(200, "application/json", std::move(*document)));
    });
  }

  Runtime& runtime_;
  const Authenticator& auth_;
  const Metrics& metrics_;
  std::shared_ptr<const DaemonInfo> info_;
  bool loopback_ = false;  // listening on a loopback address
  boost::asio::io_context io_;
  std::unique_ptr<net::HttpServer> server_;
  std::thread thread_;
};

StatusServer::StatusServer(Runtime& runtime, const Authenticator& auth, const Metrics& metrics, DaemonInfo info)
    : impl_(std::make_unique<Impl>(runtime, auth, metrics, std::move(info))) {}

StatusServer::~StatusServer() { stop(); }

StatusOr<std::string> StatusServer::start(const std::string& address) {
  Impl& impl = *impl_;
  impl.loopback_ = config::is_loopback_listen(address);
  net::HttpServerOptions options;
  options.listen = address;
  options.max_body_bytes = 0;  // GET only
  options.max_connections = 256;
  impl.server_ = std::make_unique<net::HttpServer>(
      impl.io_.get_executor(), options,
      [&impl](net::HttpRequest request, std::shared_ptr<net::ResponseWriter> writer) {
        impl.handle(std::move(request), std::move(writer));
      });
  if (Status started = impl.server_->start(); !started.ok()) {
    impl.server_.reset();
    return Status::Unavailable("metrics_listen " + address +
                               ": cannot listen (the address is in use or cannot be bound): " + started.message());
  }
  impl.thread_ = std::thread([&impl] { impl.io_.run(); });
  const std::string host = address.substr(0, address.rfind(':'));
  return host + ":" + std::to_string(impl.server_->port());
}

void StatusServer::stop() {
  Impl& impl = *impl_;
  if (impl.server_) impl.server_->stop();
  impl.io_.stop();
  if (impl.thread_.joinable()) impl.thread_.join();
}

}  // namespace berth
