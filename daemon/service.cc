#include "daemon/service.h"

#include <spdlog/spdlog.h>

#include <malloc.h>

#include <deque>
#include <mutex>

#include "daemon/app_lookup.h"
#include "daemon/convert.h"
#include "daemon/request_parsing.h"
#include "daemon/validate.h"

namespace berth {

grpc::Status to_grpc(const berth::Status& status) {
  switch (status.code()) {
    case StatusCode::kOk: return grpc::Status::OK;
    case StatusCode::kInvalidArgument: return {grpc::StatusCode::INVALID_ARGUMENT, status.message()};
    case StatusCode::kNotFound: return {grpc::StatusCode::NOT_FOUND, status.message()};
    case StatusCode::kAlreadyExists: return {grpc::StatusCode::ALREADY_EXISTS, status.message()};
    case StatusCode::kPermissionDenied: return {grpc::StatusCode::PERMISSION_DENIED, status.message()};
    case StatusCode::kUnauthenticated: return {grpc::StatusCode::UNAUTHENTICATED, status.message()};
    case StatusCode::kResourceExhausted: return {grpc::StatusCode::RESOURCE_EXHAUSTED, status.message()};
    case StatusCode::kFailedPrecondition: return {grpc::StatusCode::FAILED_PRECONDITION, status.message()};
    case StatusCode::kUnavailable: return {grpc::StatusCode::UNAVAILABLE, status.message()};
    case StatusCode::kDeadlineExceeded: return {grpc::StatusCode::DEADLINE_EXCEEDED, status.message()};
    case StatusCode::kAborted: return {grpc::StatusCode::ABORTED, status.message()};
    case StatusCode::kInternal: return {grpc::StatusCode::INTERNAL, status.message()};
  }
  return {grpc::StatusCode::UNKNOWN, status.message()};
}

namespace {

std::optional<std::string_view> authorization_of(grpc::CallbackServerContext* ctx) {
  const auto& metadata = ctx->client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return std::nullopt;
  return std::string_view(it->second.data(), it->second.size());
}

// One unary call: authentication and validation up front, then the work on the strand; finish()
// may be called from any thread, exactly once.
class UnaryCall {
 public:
  UnaryCall(const ServiceContext& context, grpc::CallbackServerContext* ctx, const char* method)
      : context_(context), reactor_(ctx->DefaultReactor()), method_(method) {
    auto caller = context.auth.authenticate(authorization_of(ctx));
    if (caller.ok()) {
      caller_ = *caller;
    } else {
      finish(caller.status());
    }
  }

  bool finished() const { return finished_; }
  const Caller& caller() const { return caller_; }
  grpc::ServerUnaryReactor* reactor() const { return reactor_; }

  void finish(const berth::Status& status) {
    finished_ = true;
    grpc::Status grpc_status = to_grpc(status);
    context_.metrics.record_grpc(method_, grpc_code_name(grpc_status.error_code()));
    if (!status.ok() && status.code() != StatusCode::kNotFound && status.code() != StatusCode::kInvalidArgument) {
      spdlog::debug("{} failed: {}", method_, status.to_string());
    }
    reactor_->Finish(grpc_status);
  }

  static const char* grpc_code_name(grpc::StatusCode code) {
    switch (code) {
      case grpc::StatusCode::OK: return "OK";
      case grpc::StatusCode::CANCELLED: return "CANCELLED";
      case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
      case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
      case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
      case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
      case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
      case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
      case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
      case grpc::StatusCode::ABORTED: return "ABORTED";
      case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
      case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
      case grpc::StatusCode::INTERNAL: return "INTERNAL";
      default: return "UNKNOWN";
    }
  }

 private:
  const ServiceContext& context_;
  grpc::ServerUnaryReactor* reactor_;
  const char* method_;
  Caller caller_;
  bool finished_ = false;
};

// Runs `work` on the strand with the caller's access to `app_id` checked; `work` returns the
// status to finish with, or nullopt when it finishes the call itself (after durability).
template <typename Work>
void on_app(const ServiceContext& context, std::shared_ptr<UnaryCall> call, AppId app_id, Work work) {
  context.runtime.post([&context, call, app_id = std::move(app_id), work = std::move(work)]() mutable {
    Engine& engine = context.runtime.engine();
    auto app = visible_app(engine, context.default_tenant, call->caller(), app_id);
    if (!app.ok()) {
      call->finish(app.status());
      return;
    }
    work(engine, **app);
  });
}

// Authenticates and validates a call; the returned call is already finished when either failed.
template <typename Request>
std::shared_ptr<UnaryCall> begin(const ServiceContext& context, grpc::CallbackServerContext* ctx, const char* method,
                                 const Request& request) {
  auto call = std::make_shared<UnaryCall>(context, ctx, method);
  if (!call->finished()) {
    if (auto status = validate(request); !status.ok()) call->finish(status);
  }
  return call;
}

void finish_when_durable(Engine& engine, std::shared_ptr<UnaryCall> call) {
  engine.when_durable([call](const berth::Status& status) { call->finish(status); });
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Registration: every method parses its request itself (request_parsing.h)
// ---------------------------------------------------------------------------------------------

namespace {

template <typename Service, typename Request, typename Response>
grpc::internal::MethodHandler* parsing(Service* service, Metrics& metrics, const char* name,
                                       grpc::ServerUnaryReactor* (Service::*method)(grpc::CallbackServerContext*,
                                                                                    const Request*, Response*)) {
  return parsing_unary_handler<Request, Response>(
      [service, method](grpc::CallbackServerContext* ctx, const Request* request, Response* response) {
        return (service->*method)(ctx, request, response);
      },
      [&metrics, name] { metrics.record_grpc(name, "INVALID_ARGUMENT"); });
}

template <typename Service, typename Request, typename Response>
grpc::internal::MethodHandler* parsing(Service* service, Metrics& metrics, const char* name,
                                       grpc::ServerWriteReactor<Response>* (Service::*method)(grpc::CallbackServerContext*,
                                                                                              const Request*)) {
  return parsing_server_streaming_handler<Request, Response>(
      [service, method](grpc::CallbackServerContext* ctx, const Request* request) { return (service->*method)(ctx, request); },
      [&metrics, name] { metrics.record_grpc(name, "INVALID_ARGUMENT"); });
}

}  // namespace

// Replaces the handler gRPC registered for Method with one that parses the request itself.
#define BERTH_PARSE_REQUESTS(ServiceName, Method)                                                    \
  MarkMethodCallback(method_index("berth.v1." #ServiceName, #Method),                               \
                     parsing(this, context_.metrics, #Method, &ServiceName##Service::Method))

ExecutorsService::ExecutorsService(ServiceContext context) : context_(std::move(context)) {
  BERTH_PARSE_REQUESTS(Executors, RegisterApplication);
  BERTH_PARSE_REQUESTS(Executors, RequestTotalExecutors);
  BERTH_PARSE_REQUESTS(Executors, KillExecutors);
  BERTH_PARSE_REQUESTS(Executors, DecommissionExecutors);
  BERTH_PARSE_REQUESTS(Executors, GetApplication);
  BERTH_PARSE_REQUESTS(Executors, ListExecutors);
  BERTH_PARSE_REQUESTS(Executors, WatchEvents);
  BERTH_PARSE_REQUESTS(Executors, KeepAlive);
  BERTH_PARSE_REQUESTS(Executors, UnregisterApplication);
}

AdminService::AdminService(ServiceContext context) : context_(std::move(context)) {
  BERTH_PARSE_REQUESTS(Admin, ListPools);
  BERTH_PARSE_REQUESTS(Admin, ListApplications);
  BERTH_PARSE_REQUESTS(Admin, DrainPool);
  BERTH_PARSE_REQUESTS(Admin, Status);
}

#undef BERTH_PARSE_REQUESTS

// ---------------------------------------------------------------------------------------------
// Executors
// ---------------------------------------------------------------------------------------------

grpc::ServerUnaryReactor* ExecutorsService::RegisterApplication(grpc::CallbackServerContext* ctx,
                                                                const v1::RegisterApplicationRequest* request,
                                                                v1::Application* response) {
  auto call = begin(context_, ctx, "RegisterApplication", *request);
  if (call->finished()) return call->reactor();
  AppSpec spec = from_proto(*request);
  const Caller& caller = call->caller();
  if (spec.tenant.empty()) spec.tenant = caller.anonymous || caller.is_operator ? context_.default_tenant : caller.tenant;
  if (!caller.may_access(spec.tenant)) {
    call->finish(berth::Status::PermissionDenied("tenant: this token belongs to tenant " + caller.tenant +
                                                 " and may not register applications of tenant " + spec.tenant));
    return call->reactor();
  }
  if (spec.tenant.empty()) spec.tenant = context_.default_tenant;
  context_.runtime.post([this, call, response, spec = std::move(spec)]() mutable {
    Engine& engine = context_.runtime.engine();
    spec.id = tenant_app_key(engine, context_.default_tenant, spec.tenant, spec.id);
    auto app = engine.register_app(std::move(spec));
    if (!app.ok()) {
      call->finish(app.status());
      return;
    }
    to_proto(*app, engine.counts(app->spec.id), response);
    redact_env(*context_.redact_env, response);
    spdlog::info("application {} registered: tenant {}, pools {}", app->spec.id, app->spec.tenant,
                 fmt::join(app->spec.pools, ","));
    finish_when_durable(engine, call);
  });
  return call->reactor();
}

grpc::ServerUnaryReactor* ExecutorsService::RequestTotalExecutors(grpc::CallbackServerContext* ctx,
                                                                  const v1::RequestTotalExecutorsRequest* request,
                                                                  v1::RequestTotalExecutorsResponse* response) {
  auto call = begin(context_, ctx, "RequestTotalExecutors", *request);
  if (call->finished()) return call->reactor();
  std::map<ProfileId, std::int32_t> totals(request->totals().begin(), request->totals().end());
  on_app(context_, call, request->app_id(), [call, response, totals](Engine& engine, const Application& app) {
    auto revision = engine.set_targets(app.spec.id, totals);
    if (!revision.ok()) {
      call->finish(revision.status());
      return;
    }
    response->set_accepted(true);
    response->set_revision(*revision);
    finish_when_durable(engine, call);
  });
  return call->reactor();
}

grpc::ServerUnaryReactor* ExecutorsService::KillExecutors(grpc::CallbackServerContext* ctx,
                                                          const v1::KillExecutorsRequest* request,
                                                          v1::KillExecutorsResponse* response) {
  auto call = begin(context_, ctx, "KillExecutors", *request);
  if (call->finished()) return call->reactor();
  std::vector<ExecutorId> ids(request->executor_ids().begin(), request->executor_ids().end());
  const bool adjust = request->adjust_target();
  const bool force = request->force();
  on_app(context_, call, request->app_id(), [call, response, ids, adjust, force](Engine& engine, const Application& app) {
    auto outcome = engine.kill_executors(app.spec.id, ids, adjust, force);
    if (!outcome.ok()) {
      call->finish(outcome.status());
      return;
    }
    response->mutable_killed()->Add(outcome->done.begin(), outcome->done.end());
    response->mutable_unknown()->Add(outcome->unknown.begin(), outcome->unknown.end());
    finish_when_durable(engine, call);
  });
  return call->reactor();
}

grpc::ServerUnaryReactor* ExecutorsService::DecommissionExecutors(grpc::CallbackServerContext* ctx,
                                                                  const v1::DecommissionExecutorsRequest* request,
                                                                  v1::DecommissionExecutorsResponse* response) {
  auto call = begin(context_, ctx, "DecommissionExecutors", *request);
  if (call->finished()) return call->reactor();
  std::vector<ExecutorId> ids(request->executor_ids().begin(), request->executor_ids().end());
  const Duration grace = std::chrono::seconds(request->grace_seconds());
  const bool adjust = request->adjust_target();
  on_app(context_, call, request->app_id(), [call, response, ids, grace, adjust](Engine& engine, const Application& app) {
    auto outcome = engine.decommission_executors(app.spec.id, ids, grace, adjust);
    if (!outcome.ok()) {
      call->finish(outcome.status());
      return;
    }
    response->mutable_accepted()->Add(outcome->done.begin(), outcome->done.end());
    response->mutable_unknown()->Add(outcome->unknown.begin(), outcome->unknown.end());
    finish_when_durable(engine, call);
  });
  return call->reactor();
}

grpc::ServerUnaryReactor* ExecutorsService::GetApplication(grpc::CallbackServerContext* ctx,
                                                           const v1::GetApplicationRequest* request,
                                                           v1::Application* response) {
  auto call = begin(context_, ctx, "GetApplication", *request);
  if (call->finished()) return call->reactor();
  on_app(context_, call, request->app_id(), [this, call, response](Engine& engine, const Application& app) {
    to_proto(app, engine.counts(app.spec.id), response);
    redact_env(*context_.redact_env, response);
    call->finish(berth::Status::Ok());
  });
  return call->reactor();
}

grpc::ServerUnaryReactor* ExecutorsService::ListExecutors(grpc::CallbackServerContext* ctx,
                                                          const v1::ListExecutorsRequest* request,
                                                          v1::ListExecutorsResponse* response) {
  auto call = begin(context_, ctx, "ListExecutors", *request);
  if (call->finished()) return call->reactor();
  std::set<ExecutorState> states;
  for (int s : request->states()) states.insert(from_proto(static_cast<v1::ExecutorState>(s)));
  on_app(context_, call, request->app_id(), [call, response, states](Engine& engine, const Application& app) {
    for (const Executor* executor : engine.executors(app.spec.id)) {
      if (!states.empty() && states.count(executor->state) == 0) continue;
      to_proto(*executor, response->add_executors());
    }
    response->set_revision(engine.revision());
    call->finish(berth::Status::Ok());
  });
  return call->reactor();
}

grpc::ServerUnaryReactor* ExecutorsService::KeepAlive(grpc::CallbackServerContext* ctx,
                                                      const v1::KeepAliveRequest* request,
                                                      v1::KeepAliveResponse* response) {
  auto call = begin(context_, ctx, "KeepAlive", *request);
  if (call->finished()) return call->reactor();
  on_app(context_, call, request->app_id(), [call, response](Engine& engine, const Application& app) {
    auto deadline = engine.keep_alive(app.spec.id);
    if (!deadline.ok()) {
      call->finish(deadline.status());
      return;
    }
    to_proto(*deadline, response->mutable_lease_deadline());
    call->finish(berth::Status::Ok());
  });
  return call->reactor();
}

grpc::ServerUnaryReactor* ExecutorsService::UnregisterApplication(grpc::CallbackServerContext* ctx,
                                                                  const v1::UnregisterApplicationRequest* request,
                                                                  v1::UnregisterApplicationResponse*) {
  auto call = begin(context_, ctx, "UnregisterApplication", *request);
  if (call->finished()) return call->reactor();
  std::string reason = request->reason();
  on_app(context_, call, request->app_id(), [call, reason](Engine& engine, const Application& app) {
    auto status = engine.unregister_app(app.spec.id, reason);
    if (!status.ok()) {
      call->finish(status);
      return;
    }
    spdlog::info("application {} unregistered: {}", app.spec.id, reason.empty() ? "by the driver" : reason);
    finish_when_durable(engine, call);
  });
  return call->reactor();
}

void OpenStreams::add(std::weak_ptr<void> owner, std::function<void()> end) {
  std::lock_guard lock(mutex_);
  std::erase_if(streams_, [](const auto& stream) { return stream.first.expired(); });
  streams_.emplace_back(std::move(owner), std::move(end));
}

bool OpenStreams::watch_opened(const TenantName& tenant, std::int32_t limit) {
  std::lock_guard lock(mutex_);
  std::int32_t& open = watches_[tenant];
  if (limit > 0 && open >= limit) return false;
  ++open;
  return true;
}

void OpenStreams::watch_closed(const TenantName& tenant) {
  std::lock_guard lock(mutex_);
  auto it = watches_.find(tenant);
  if (it != watches_.end() && --it->second <= 0) watches_.erase(it);
}

void OpenStreams::end_all() {
  std::vector<std::pair<std::weak_ptr<void>, std::function<void()>>> streams;
  {
    std::lock_guard lock(mutex_);
    streams.swap(streams_);
  }
  for (auto& [owner, end] : streams) {
    if (!owner.expired()) end();
  }
}

// ---------------------------------------------------------------------------------------------
// WatchEvents
// ---------------------------------------------------------------------------------------------

namespace {

// A WatchEvents stream. The engine appends events on the strand; gRPC writes them one at a time.
// A stream whose client falls more than kMaxQueued live events (or kMaxQueuedBytes of them)
// behind is finished with RESOURCE_EXHAUSTED and the revision to resume from, rather than
// buffering without bound.
class WatchStream final : public grpc::ServerWriteReactor<v1::Event> {
 public:
  static constexpr std::size_t kMaxQueued = 65'536;
  static constexpr std::size_t kMaxQueuedBytes = 16u << 20;
  static constexpr std::size_t kReleaseAfterBytes = 1u << 20;

  // State shared with the engine's listener list; outlives the reactor until the strand has
  // removed the listener.
  struct Shared final : EngineListener {
    // Recursive: gRPC may run OnWriteDone inline from StartWrite, which is called with it held.
    std::recursive_mutex mutex;
    WatchStream* stream = nullptr;  // null once the reactor is done
    bool keeps_lease = false;       // watch_started() was called (strand only)
    AppId app_filter;
    Caller caller;
    std::optional<std::string> authorization;  // what the caller authenticated with
    const Engine* engine = nullptr;
    std::optional<TenantName> counted_tenant;  // the tenant whose max_watchers counts this stream

    // The daemon stops: the stream ends now, telling the client where to resume (on another
    // berthd, or this one restarted).
    void end_for_shutdown() {
      std::lock_guard<std::recursive_mutex> lock(mutex);
      if (stream == nullptr) return;
      stream->finish_locked(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                         "berthd is stopping; resume with from_revision=" +
                                             std::to_string(stream->last_sent_)));
    }

    // After the tokens changed: a stream whose token no longer grants what it was opened with
    // ends with UNAUTHENTICATED. False once the stream is done (nothing more to check).
    bool still_authorized(const Authenticator& auth) {
      std::lock_guard<std::recursive_mutex> lock(mutex);
      if (stream == nullptr) return false;
      auto now = auth.authenticate(authorization);
      if (now.ok() && now->tenant == caller.tenant && now->is_operator == caller.is_operator) return true;
      stream->finish_locked(grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                         "the token of this watch was revoked or changed: " +
                                             (now.ok() ? std::string("it now grants other rights") : now.status().message())));
      return false;
    }

    // On the strand: whether this stream shows the event (its app filter and the caller's tenant).
    bool wants(const AppId& app, const TenantName& tenant) const {
      return (app_filter.empty() || app == app_filter) && caller.may_access(tenant);
    }
    bool wants(const Event& event) const { return wants(event.app_id(), event.tenant); }
    void on_event(const Event& event) override {
      if (!wants(event)) return;
      std::lock_guard<std::recursive_mutex> lock(mutex);
      if (stream != nullptr) stream->enqueue_locked(event);
    }
  };

  WatchStream(const ServiceContext& context, grpc::CallbackServerContext* ctx, const v1::WatchEventsRequest& request)
      : context_(context), shared_(std::make_shared<Shared>()) {
    auto caller = context.auth.authenticate(authorization_of(ctx));
    if (!caller.ok()) {
      finish_now(caller.status());
      return;
    }
    if (auto status = validate(request); !status.ok()) {
      finish_now(status);
      return;
    }
    shared_->stream = this;
    shared_->app_filter = request.app_id();
    shared_->caller = *caller;
    if (auto authorization = authorization_of(ctx)) shared_->authorization = std::string(*authorization);
    context.streams->add(shared_, [weak = std::weak_ptr<Shared>(shared_)] {
      if (auto shared = weak.lock()) shared->end_for_shutdown();
    });
    context.auth.on_tokens_changed([weak = std::weak_ptr<Shared>(shared_), &auth = context.auth] {
      auto shared = weak.lock();
      return shared != nullptr && shared->still_authorized(auth);
    });
    const Revision from = request.from_revision();
    auto shared = shared_;
    context.runtime.post([&context, shared, from] { start_on_strand(context, shared, from); });
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::recursive_mutex> lock(shared_->mutex);
    writing_ = false;
    if (!ok) {
      finish_locked(grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
      return;
    }
    write_next_locked();
  }

  void OnCancel() override {
    std::lock_guard<std::recursive_mutex> lock(shared_->mutex);
    finish_locked(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
  }

  void OnDone() override {
    {
      std::lock_guard<std::recursive_mutex> lock(shared_->mutex);
      shared_->stream = nullptr;
    }
    auto shared = shared_;
    Runtime& runtime = context_.runtime;
    // A stream that held megabytes of events for a slow client gives them back to the system, not
    // only to the allocator, so that RSS falls once such watchers are gone.
    const bool held_much = peak_queued_bytes_ > kReleaseAfterBytes;
    runtime.post([&runtime, shared, streams = context_.streams, held_much] {
      runtime.engine().remove_listener(shared.get());
      if (shared->keeps_lease) runtime.watch_ended(shared->app_filter);
      if (shared->counted_tenant) streams->watch_closed(*shared->counted_tenant);
      if (held_much) ::malloc_trim(0);
    });
    delete this;
  }

 private:
  static void start_on_strand(const ServiceContext& context, const std::shared_ptr<Shared>& shared, Revision from) {
    Engine& engine = context.runtime.engine();
    shared->engine = &engine;
    std::lock_guard<std::recursive_mutex> lock(shared->mutex);
    if (shared->stream == nullptr) return;
    WatchStream& stream = *shared->stream;
    if (!shared->app_filter.empty()) {
      auto app = visible_app(engine, context.default_tenant, shared->caller, shared->app_filter);
      if (!app.ok()) {
        stream.finish_locked(to_grpc(app.status()));
        return;
      }
      shared->app_filter = (*app)->spec.id;  // its key, as events name it
    }
    if (!shared->caller.is_operator) {
      const TenantName tenant = shared->caller.tenant.empty() ? context.default_tenant : shared->caller.tenant;
      const TenantPolicy* policy = engine.tenant(tenant);
      const std::int32_t limit = policy == nullptr ? 0 : policy->limits.max_watchers;
      if (!context.streams->watch_opened(tenant, limit)) {
        stream.finish_locked(to_grpc(berth::Status::ResourceExhausted(
            "tenant " + tenant + " has " + std::to_string(limit) + " watches open, its max_watchers limit")));
        return;
      }
      shared->counted_tenant = tenant;
    }
    const WatchStart start = engine.watch_start(
        from, [&shared](const AppId& app, const TenantName& tenant) { return shared->wants(app, tenant); });
    if (start.resync) {
      v1::Event resync;
      resync.set_type(v1::Event::RESYNC);
      resync.set_revision(start.revision);
      resync.set_message(from > start.revision
                             ? "revision " + std::to_string(from) + " is ahead of this daemon's revision " +
                                   std::to_string(start.revision) + "; a snapshot follows"
                             : "revision " + std::to_string(from) + " is no longer available; a snapshot follows");
      stream.push_locked(std::move(resync));
    }
    for (const Event& event : start.events) stream.enqueue_locked(event);
    if (start.kind == WatchStart::Kind::kSnapshot) {
      v1::Event synced;
      synced.set_type(v1::Event::SYNCED);
      synced.set_revision(start.revision);
      stream.push_locked(std::move(synced));
    }
    stream.starting_ = false;
    stream.backlog_ = stream.queue_.size();
    stream.backlog_bytes_ = stream.queued_bytes_;
    engine.add_listener(shared.get());
    if (!shared->app_filter.empty()) {
      context.runtime.watch_started(shared->app_filter);
      shared->keeps_lease = true;
    }
  }

  // With the mutex held.
  void enqueue_locked(const Event& event) {
    if (finished_) return;
    v1::Event out;
    out.set_revision(event.revision);
    if (event.type == Event::Type::kExecutor) {
      out.set_type(v1::Event::EXECUTOR);
      to_proto(event.executor, out.mutable_executor());
    } else {
      out.set_type(v1::Event::APPLICATION);
      to_proto(*event.app, event.counts, out.mutable_application());
      redact_env(*context_.redact_env, out.mutable_application());
    }
    push_locked(std::move(out));
  }

  void push_locked(v1::Event event) {
    if (finished_) return;
    const std::size_t bytes = event.ByteSizeLong();
    if (!starting_ && (queue_.size() >= kMaxQueued + backlog_ || queued_bytes_ + bytes > kMaxQueuedBytes + backlog_bytes_)) {
      finish_locked(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                 "the watcher fell behind; resume with from_revision=" + std::to_string(last_sent_)));
      return;
    }
    queued_bytes_ += bytes;
    peak_queued_bytes_ = std::max(peak_queued_bytes_, queued_bytes_);
    queue_.push_back(std::move(event));
    write_next_locked();
  }

  void write_next_locked() {
    if (writing_ || finished_ || queue_.empty()) return;
    current_ = std::move(queue_.front());
    queue_.pop_front();
    const std::size_t bytes = current_.ByteSizeLong();
    queued_bytes_ -= std::min(bytes, queued_bytes_);
    backlog_bytes_ -= std::min(bytes, backlog_bytes_);
    if (backlog_ > 0) --backlog_;
    last_sent_ = std::max<Revision>(last_sent_, current_.revision());
    writing_ = true;
    // More behind it: let gRPC coalesce this message with the next ones instead of flushing each
    // (a burst of changes then leaves in a few frames); the last one of a burst flushes.
    StartWrite(&current_, queue_.empty() ? grpc::WriteOptions() : grpc::WriteOptions().set_buffer_hint());
  }

  void finish_locked(const grpc::Status& status) {
    if (finished_) return;
    finished_ = true;
    queue_.clear();
    queued_bytes_ = 0;
    context_.metrics.record_grpc("WatchEvents", UnaryCall::grpc_code_name(status.error_code()));
    Finish(status);
  }

  void finish_now(const berth::Status& status) {
    std::lock_guard<std::recursive_mutex> lock(shared_->mutex);
    finish_locked(to_grpc(status));
  }

  const ServiceContext& context_;
  std::shared_ptr<Shared> shared_;
  std::deque<v1::Event> queue_;
  // The replay or snapshot a stream starts with is queued whole, however large (its size is
  // bounded by the event window or the number of executors); live events may then queue up to
  // kMaxQueued beyond what is left of it.
  bool starting_ = true;
  std::size_t backlog_ = 0;
  std::size_t queued_bytes_ = 0;
  std::size_t backlog_bytes_ = 0;
  std::size_t peak_queued_bytes_ = 0;
  v1::Event current_;
  bool writing_ = false;
  bool finished_ = false;
  Revision last_sent_ = 0;
};

}  // namespace

grpc::ServerWriteReactor<v1::Event>* ExecutorsService::WatchEvents(grpc::CallbackServerContext* ctx,
                                                                   const v1::WatchEventsRequest* request) {
  return new WatchStream(context_, ctx, *request);
}

// ---------------------------------------------------------------------------------------------
// Admin
// ---------------------------------------------------------------------------------------------

namespace {

std::shared_ptr<UnaryCall> operator_call(const ServiceContext& context, grpc::CallbackServerContext* ctx,
                                         const char* method) {
  auto call = std::make_shared<UnaryCall>(context, ctx, method);
  if (!call->finished() && !call->caller().is_operator) {
    call->finish(berth::Status::PermissionDenied(std::string(method) + " needs an operator token"));
  }
  return call;
}

}  // namespace

grpc::ServerUnaryReactor* AdminService::ListPools(grpc::CallbackServerContext* ctx, const v1::ListPoolsRequest*,
                                                  v1::ListPoolsResponse* response) {
  auto call = operator_call(context_, ctx, "ListPools");
  if (call->finished()) return call->reactor();
  context_.runtime.post([this, call, response] {
    for (const PoolStatus& pool : context_.runtime.engine().pools()) to_proto(pool, response->add_pools());
    call->finish(berth::Status::Ok());
  });
  return call->reactor();
}

grpc::ServerUnaryReactor* AdminService::ListApplications(grpc::CallbackServerContext* ctx,
                                                         const v1::ListApplicationsRequest* request,
                                                         v1::ListApplicationsResponse* response) {
  auto call = operator_call(context_, ctx, "ListApplications");
  if (call->finished()) return call->reactor();
  TenantName tenant = request->tenant();
  context_.runtime.post([this, call, response, tenant] {
    Engine& engine = context_.runtime.engine();
    for (const Application* app : engine.apps()) {
      if (!tenant.empty() && app->spec.tenant != tenant) continue;
      auto* out = response->add_applications();
      to_proto(*app, engine.counts(app->spec.id), out);
      redact_env(*context_.redact_env, out);
    }
    call->finish(berth::Status::Ok());
  });
  return call->reactor();
}

grpc::ServerUnaryReactor* AdminService::DrainPool(grpc::CallbackServerContext* ctx, const v1::DrainPoolRequest* request,
                                                  v1::DrainPoolResponse* response) {
  auto call = operator_call(context_, ctx, "DrainPool");
  if (call->finished()) return call->reactor();
  PoolName pool = request->pool();
  const bool drain = !request->undrain();
  context_.runtime.post([this, call, response, pool, drain] {
    Engine& engine = context_.runtime.engine();
    auto status = engine.drain_pool(pool, drain);
    if (!status.ok()) {
      call->finish(status);
      return;
    }
    for (const PoolStatus& p : engine.pools()) {
      if (p.policy.name == pool) to_proto(p, response->mutable_pool());
    }
    spdlog::info("pool {} {}", pool, drain ? "draining: no new executors are placed there" : "accepts executors again");
    call->finish(berth::Status::Ok());
  });
  return call->reactor();
}

grpc::ServerUnaryReactor* AdminService::Status(grpc::CallbackServerContext* ctx, const v1::StatusRequest*,
                                               v1::StatusResponse* response) {
  auto call = operator_call(context_, ctx, "Status");
  if (call->finished()) return call->reactor();
  context_.runtime.post([this, call, response] {
    Engine& engine = context_.runtime.engine();
    response->set_version(context_.version);
    response->set_daemon_id(context_.daemon_id);
    to_proto(context_.started, response->mutable_started());
    response->set_revision(engine.revision());
    response->set_applications(static_cast<std::int32_t>(engine.apps().size()));
    response->set_live_executors(engine.live_executors());
    response->set_serving(engine.ready());
    call->finish(berth::Status::Ok());
  });
  return call->reactor();
}

}  // namespace berth
