#include "adapters/mesos/mesos_backend.h"

#include <openssl/evp.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <deque>
#include <map>
#include <set>
#include <unordered_map>

#include "adapters/common/backoff.h"
#include "adapters/common/credential_file.h"
#include "adapters/common/health.h"
#include "adapters/common/http_options.h"
#include "adapters/mesos/offers.h"
#include "adapters/mesos/recordio.h"
#include "adapters/mesos/tasks.h"
#include "net/http_client.h"

namespace berth {
namespace {

namespace json = boost::json;
using adapters::SteadyTime;
using mesos::TaskName;
using mesos::TaskUpdate;

constexpr const char* kSchedulerPath = "/api/v1/scheduler";
constexpr int kMissedHeartbeats = 5;  // silent for this many intervals: the subscription is dead

std::string base64(const std::string& text) {
  std::string out(4 * ((text.size() + 2) / 3) + 1, '\0');
  const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                      reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  out.resize(static_cast<std::size_t>(written));
  return out;
}

std::string string_of(const json::object& object, const char* key) {
  const auto* value = object.if_contains(key);
  return value != nullptr && value->is_string() ? std::string(value->as_string()) : "";
}

const json::object* object_of(const json::object& object, const char* key) {
  const auto* value = object.if_contains(key);
  return value != nullptr && value->is_object() ? &value->as_object() : nullptr;
}

json::object id(const std::string& value) { return json::object{{"value", value}}; }

std::string hostname() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0) return "localhost";
  return name;
}

// "//leader:5050/api/v1/scheduler" (or an absolute URL) -> "http://leader:5050".
std::string redirect_base(const std::string& location, const std::string& current) {
  std::string url = location;
  if (url.rfind("//", 0) == 0) url = current.substr(0, current.find("//")) + url;
  const auto scheme_end = url.find("//");
  if (scheme_end == std::string::npos) return "";
  const auto path = url.find('/', scheme_end + 2);
  return path == std::string::npos ? url : url.substr(0, path);
}

bool terminal(const TaskUpdate& update) {
  // TASK_UNREACHABLE may come back; everything else that is not pending or running is final.
  return update.phase == ObservedPhase::kExited || update.phase == ObservedPhase::kGone ||
         (update.phase == ObservedPhase::kLost && update.state != "TASK_UNREACHABLE");
}

}  // namespace

namespace {
constexpr const char* kFrameworkIdKey = "framework_id";  // adapter state key (BackendSink::save_state)
// An executor's handle: "<agent id>\n<agent hostname>".
constexpr std::int32_t kHandleVersion = 1;
}  // namespace

class MesosBackend::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(boost::asio::any_io_executor executor, PoolName pool, MesosPoolConfig config, std::string daemon_id,
       std::string name_prefix, std::string framework_id, SaveFrameworkId save_framework_id, adapters::TimeSource time)
      : executor_(std::move(executor)),
        pool_(std::move(pool)),
        config_(std::move(config)),
        daemon_id_(std::move(daemon_id)),
        task_prefix_(std::move(name_prefix) + "-"),
        time_(std::move(time)),
        health_(pool_),
        secret_(config_.secret_file, config_.secret),
        framework_id_(std::move(framework_id)),
        save_framework_id_(std::move(save_framework_id)),
        watchdog_(executor_),
        retry_timer_(executor_),
        reconcile_timer_(executor_),
        settle_timer_(executor_),
        list_timer_(executor_),
        backoff_(std::chrono::milliseconds(250), config_.retry_max_backoff, time_.uniform),
        offer_retry_timer_(executor_),
        revive_timer_(executor_),
        offer_backoff_(std::chrono::milliseconds(250), config_.retry_max_backoff, time_.uniform),
        decline_retry_timer_(executor_),
        decline_backoff_(std::chrono::milliseconds(250), config_.retry_max_backoff, time_.uniform) {
    auto constraints = mesos::parse_constraints(config_.constraints);
    if (constraints.ok()) {
      constraints_ = std::move(*constraints);
    } else {
      init_status_ = Status::FailedPrecondition("pool " + pool_ + ": constraints: " + constraints.status().message());
    }
    if (config_.masters.empty()) init_status_ = Status::FailedPrecondition("pool " + pool_ + ": no Mesos master configured");
    framework_saved_ = !framework_id_.empty();
  }

  template <typename Fn>
  void post(Fn fn) {
    boost::asio::post(executor_, [weak = weak_from_this(), fn = std::move(fn)]() mutable {
      if (auto self = weak.lock()) fn(*self);
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Lifecycle
  // ---------------------------------------------------------------------------------------------

  // What an earlier run saved: re-register as that framework, so its tasks are ours again.
  void recover(const BackendRecovery& recovery) {
    for (const RecoveredExecutor& executor : recovery.executors) {
      if (executor.handle.version != kHandleVersion) continue;
      const std::size_t newline = executor.handle.data.find('\n');
      if (newline == std::string::npos) continue;
      agent_hosts_.emplace(executor.handle.data.substr(0, newline), executor.handle.data.substr(newline + 1));
    }
    auto saved = recovery.state.find(kFrameworkIdKey);
    if (saved == recovery.state.end() || saved->second.empty() || !framework_id_.empty()) return;
    framework_id_ = saved->second;
    framework_saved_ = true;
  }

  void start(BackendSink* sink) {
    sink_ = sink;
    health_.attach(sink);
    stopped_ = false;
    if (!init_status_.ok()) {
      post([](Impl& self) { self.set_health(self.init_status_); });
      return;
    }
    post([](Impl& self) {
      self.use_master(self.config_.masters.front());
      self.subscribe();
    });
  }

  void stop() {
    stopped_ = true;
    ++generation_;
    if (stream_) stream_->cancel();
    stream_.reset();
    watchdog_.cancel();
    retry_timer_.cancel();
    reconcile_timer_.cancel();
    settle_timer_.cancel();
    list_timer_.cancel();
    offer_retry_timer_.cancel();
    revive_timer_.cancel();
    decline_retry_timer_.cancel();
    for (auto& launch : pending_) {
      if (launch.done) launch.done(Status::Unavailable("pool " + pool_ + " is stopping"));
    }
    pending_.clear();
  }

  std::string framework_id() const { return framework_id_; }

  // ---------------------------------------------------------------------------------------------
  // Verbs
  // ---------------------------------------------------------------------------------------------

  void launch(const LaunchRequest& request, Callback<Status> done) {
    if (!init_status_.ok()) return fail(std::move(done), init_status_);
    if (tasks_.count(request.backend_name) > 0) {
      return fail(std::move(done), Status::AlreadyExists("task " + request.backend_name + " exists on pool " + pool_));
    }
    if (pending_.empty()) offers_quiet_since_ = time_.steady_now();  // launches begin to wait from now
    pending_.push_back(PendingLaunch{request, mesos::demand_of(request.profile, config_.ports), std::move(done)});
    sync_offers();
  }

  void kill(const KillRequest& request, Callback<Status> done) {
    if (!init_status_.ok()) return fail(std::move(done), init_status_);
    const std::string& task_id = request.backend_name;
    for (auto it = pending_.begin(); it != pending_.end(); ++it) {
      if (it->request.backend_name != task_id) continue;
      // Never launched: dropping it from the queue is the whole kill.
      auto launch_done = std::move(it->done);
      pending_.erase(it);
      sync_offers();
      post([launch_done = std::move(launch_done), task_id](Impl& self) {
        launch_done(Status::FailedPrecondition("launch of task " + task_id + " on pool " + self.pool_ +
                                               " cancelled before an offer fitted it"));
      });
      return fail(std::move(done), Status::Ok());
    }
    if (!subscribed_) return fail(std::move(done), Status::Unavailable("pool " + pool_ + ": not subscribed to Mesos"));
    json::object kill{{"task_id", id(task_id)}};
    auto it = tasks_.find(task_id);
    if (it != tasks_.end()) {
      it->second.killed = true;
      if (!it->second.agent_id.empty()) kill["agent_id"] = id(it->second.agent_id);
    }
    // The call's kill policy overrides the task's (the pool's kill_grace): a forced kill (grace
    // 0) is a SIGKILL now, not after the pool's grace.
    const Duration grace = std::max(request.grace, Duration(0));
    const auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(grace).count();
    kill["kill_policy"] = json::object{{"grace_period", json::object{{"nanoseconds", nanos}}}};
    const bool known = it != tasks_.end();
    call("KILL", "kill", std::move(kill), [done = std::move(done), known, task_id](Status status) {
      if (status.ok() && !known) {
        // The master answers an unknown task by reconciling it; there is nothing to stop.
        return done(Status::NotFound("task " + task_id + " is not known"));
      }
      done(std::move(status));
    });
  }

  void list(Callback<StatusOr<std::vector<BackendObject>>> done) {
    if (!init_status_.ok()) return fail(std::move(done), init_status_);
    if (subscribed_ && reconciled_) return fail(std::move(done), StatusOr<std::vector<BackendObject>>(objects()));
    list_waiters_.push_back(std::move(done));
    list_timer_.expires_after(config_.request_timeout);
    list_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self) return;
      self->answer_lists(Status::Unavailable("pool " + self->pool_ + ": not subscribed to a Mesos master (" +
                                             self->last_error_ + ")"));
    });
  }

 private:
  struct PendingLaunch {
    LaunchRequest request;
    mesos::TaskDemand demand;
    Callback<Status> done;
  };

  struct TaskRecord {
    TaskName name;
    std::string agent_id;
    TaskUpdate last;
    bool killed = false;  // Berth sent KILL
  };

  template <typename T>
  void fail(Callback<T> done, T value) {
    post([done = std::move(done), value = std::move(value)](Impl&) mutable { done(std::move(value)); });
  }
  void fail(Callback<Status> done, Status status) { fail<Status>(std::move(done), std::move(status)); }
  void fail(Callback<StatusOr<std::vector<BackendObject>>> done, Status status) {
    fail<StatusOr<std::vector<BackendObject>>>(std::move(done), std::move(status));
  }

  std::vector<BackendObject> objects() const {
    std::vector<BackendObject> result;
    result.reserve(tasks_.size());
    for (const auto& [task_id, record] : tasks_) result.push_back(object_of_task(task_id, record));
    return result;
  }

  BackendObject object_of_task(const std::string& task_id, const TaskRecord& record) const {
    BackendObject object =
        mesos::to_object(record.last, record.name, task_id, daemon_id_, host_of(record.agent_id), record.killed);
    // The task's agent and its hostname, kept by core (the scheduler API names hosts only in
    // offers, and an agent a restarted berthd hears from may offer nothing for a long time).
    if (!record.agent_id.empty() && !object.host.empty()) {
      object.handle = BackendHandle{kHandleVersion, record.agent_id + "\n" + object.host};
    }
    return object;
  }

  // The agent's hostname, learnt from its offers; "" while unknown (after a restart, an agent
  // that offers nothing), so that core keeps the host it recorded rather than take the agent id.
  std::string host_of(const std::string& agent_id) const {
    auto it = agent_hosts_.find(agent_id);
    return it != agent_hosts_.end() ? it->second : "";
  }

  void answer_lists(StatusOr<std::vector<BackendObject>> answer) {
    list_timer_.cancel();
    auto waiters = std::move(list_waiters_);
    list_waiters_.clear();
    for (auto& waiter : waiters) waiter(answer);
  }

  // ---------------------------------------------------------------------------------------------
  // Connection
  // ---------------------------------------------------------------------------------------------

  void use_master(const std::string& base_url) {
    master_ = base_url;
    adapters::TlsSettings tls;
    tls.ca_pem = config_.ca_pem;
    tls.server_name = config_.server_name;
    tls.insecure_skip_verify = config_.insecure_skip_verify;
    client_ = std::make_unique<net::HttpClient>(
        executor_, adapters::http_client_options(base_url, tls, config_.max_connections, config_.request_timeout));
    Status status = client_->init();
    if (!status.ok()) last_error_ = status.message();
    if (!config_.principal.empty()) apply_secret();
  }

  void apply_secret() {
    client_->set_default_header("authorization", "Basic " + base64(config_.principal + ":" + secret_.value()));
  }

  // Re-reads the secret file; true if the secret changed (and the header with it).
  bool reload_secret() {
    if (!secret_.reload()) return false;
    apply_secret();
    return true;
  }

  void next_master() {
    master_index_ = (master_index_ + 1) % config_.masters.size();
    use_master(config_.masters[master_index_]);
  }

  json::object framework_info() const {
    json::array roles;
    for (const auto& role : config_.roles) roles.emplace_back(role);
    json::array capabilities;
    for (const char* capability : {"MULTI_ROLE", "GPU_RESOURCES", "PARTITION_AWARE", "TASK_KILLING_STATE"}) {
      capabilities.push_back(json::object{{"type", capability}});
    }
    json::object info{
        {"user", config_.user},
        {"name", config_.framework_name + " (pool " + pool_ + ")"},
        {"hostname", hostname()},
        {"roles", std::move(roles)},
        {"capabilities", std::move(capabilities)},
        {"failover_timeout", std::chrono::duration<double>(config_.failover_timeout).count()},
        {"checkpoint", true},
        {"labels", json::object{{"labels", json::array{json::object{{"key", kLabelDaemon}, {"value", daemon_id_}},
                                                       json::object{{"key", kLabelPool}, {"value", pool_}}}}}}};
    if (!config_.principal.empty()) info["principal"] = config_.principal;
    if (!framework_id_.empty()) info["id"] = id(framework_id_);
    return info;
  }

  void subscribe() {
    if (stopped_) return;
    const std::uint64_t generation = ++generation_;
    if (stream_) stream_->cancel();
    stream_.reset();
    subscribed_ = false;
    stream_id_.clear();
    reader_ = mesos::RecordIoReader();
    stream_status_ = 0;
    stream_error_body_.clear();
    redirect_.clear();
    // The subscription states whether the framework wants offers (a re-subscription replaces
    // whatever an earlier SUPPRESS or REVIVE left at the master); SUBSCRIBED confirms it.
    offer_call_in_flight_ = false;
    offer_retry_timer_.cancel();
    offer_retry_armed_ = false;
    forget_undeclined_offers();  // a new subscription voids the offers of the last one
    subscribe_suppressed_ = pending_.empty();
    json::array suppressed_roles;
    if (subscribe_suppressed_) {
      for (const auto& role : config_.roles) suppressed_roles.emplace_back(role);
    }
    json::object body{{"type", "SUBSCRIBE"},
                      {"subscribe", json::object{{"framework_info", framework_info()},
                                                 {"suppressed_roles", std::move(suppressed_roles)}}}};
    if (!framework_id_.empty()) body["framework_id"] = id(framework_id_);
    net::HttpClientRequest http;
    http.method = "POST";
    http.target = kSchedulerPath;
    http.headers["content-type"] = "application/json";
    http.headers["accept"] = "application/json";
    http.body = json::serialize(body);
    net::StreamCallbacks callbacks;
    callbacks.on_headers = [weak = weak_from_this(), generation](int status, const net::Headers& headers) {
      auto self = weak.lock();
      if (!self || generation != self->generation_) return;
      self->stream_status_ = status;
      if (auto it = headers.find("mesos-stream-id"); it != headers.end()) self->stream_id_ = it->second;
      if (auto it = headers.find("location"); it != headers.end()) self->redirect_ = it->second;
    };
    callbacks.on_data = [weak = weak_from_this(), generation](std::string_view bytes) {
      auto self = weak.lock();
      if (!self || generation != self->generation_) return;
      self->on_stream_data(bytes);
    };
    callbacks.on_end = [weak = weak_from_this(), generation](Status status) {
      auto self = weak.lock();
      if (!self || generation != self->generation_) return;
      self->on_stream_end(std::move(status));
    };
    last_event_ = time_.steady_now();
    // The idle timeout is a backstop; the watchdog uses the interval SUBSCRIBED announces.
    stream_ = client_->stream(std::move(http), std::move(callbacks), std::chrono::minutes(5));
  }

  void on_stream_data(std::string_view bytes) {
    if (stream_status_ != 200) {
      if (stream_error_body_.size() < 16 * 1024) stream_error_body_.append(bytes);
      return;
    }
    last_event_ = time_.steady_now();
    const std::uint64_t generation = generation_;
    Status status = reader_.feed(bytes, [this, generation](std::string_view record) {
      if (generation != generation_) return;  // an event ended this subscription
      boost::system::error_code ec;
      json::value event = json::parse(record, ec);
      if (!ec && event.is_object()) on_event(event.as_object());
    });
    if (!status.ok() && generation == generation_) disconnected(status);
  }

  void on_stream_end(Status status) {
    stream_.reset();
    if (stream_status_ == 307 && !redirect_.empty()) {
      const std::string leader = redirect_base(redirect_, master_);
      if (!leader.empty() && ++redirects_ <= 3) {
        use_master(leader);
        return subscribe();
      }
    }
    if (stream_status_ == 401 && reload_secret()) return subscribe();  // the secret had rotated
    if (stream_status_ != 0 && stream_status_ != 200) {
      std::string text = stream_error_body_;
      while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
      Status error = Status::Unavailable("pool " + pool_ + ": SUBSCRIBE to " + master_ + " answered " +
                                         std::to_string(stream_status_) + (text.empty() ? "" : ": " + text));
      if (stream_status_ == 401 || stream_status_ == 400 || stream_status_ == 403) {
        error = Status::PermissionDenied(error.message());
      }
      return disconnected(error);
    }
    disconnected(status.ok() ? Status::Unavailable("pool " + pool_ + ": the Mesos master " + master_ +
                                                   " closed the subscription")
                             : status);
  }

  void disconnected(const Status& why) {
    ++generation_;
    if (stream_) stream_->cancel();
    stream_.reset();
    subscribed_ = false;
    reconciled_ = false;
    last_error_ = why.message();
    watchdog_.cancel();
    reconcile_timer_.cancel();
    offer_retry_timer_.cancel();
    revive_timer_.cancel();
    forget_undeclined_offers();
    set_health(why);
    if (stopped_) return;
    // A refused or broken connection may mean this master is gone: try the next one.
    if (config_.masters.size() > 1 && (stream_status_ == 0 || stream_status_ >= 500)) next_master();
    redirects_ = 0;
    retry_timer_.expires_after(backoff_.next());
    const std::uint64_t generation = generation_;
    retry_timer_.async_wait([weak = weak_from_this(), generation](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self || self->stopped_ || generation != self->generation_) return;
      self->subscribe();
    });
  }

  void set_health(const Status& status) { health_.report(status); }

  void arm_watchdog() {
    watchdog_.expires_after(heartbeat_interval_);
    const std::uint64_t generation = generation_;
    watchdog_.async_wait([weak = weak_from_this(), generation](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self || self->stopped_ || generation != self->generation_) return;
      if (self->time_.steady_now() - self->last_event_ > kMissedHeartbeats * self->heartbeat_interval_) {
        return self->disconnected(Status::Unavailable("pool " + self->pool_ + ": no heartbeat from " + self->master_ +
                                                      " for " + std::to_string(kMissedHeartbeats) + " intervals"));
      }
      self->arm_watchdog();
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Calls (each on a pooled connection, never the subscription's)
  // ---------------------------------------------------------------------------------------------

  void call(const std::string& type, const std::string& field, json::object payload, std::function<void(Status)> done) {
    call_answered(type, field, std::move(payload),
                  [done = std::move(done)](Status status, bool) { done(std::move(status)); });
  }

  // As above; `answered` is false only when the call may have been carried out although it did
  // not succeed (lost on the way, no answer): a status the master sent, or a call never sent, is
  // certain.
  void call_answered(const std::string& type, const std::string& field, json::object payload,
                     std::function<void(Status, bool answered)> done) {
    if (!subscribed_) {
      return done(Status::Unavailable("pool " + pool_ + ": " + type + " while not subscribed to Mesos"), true);
    }
    json::object body{{"framework_id", id(framework_id_)}, {"type", type}};
    if (!field.empty()) body[field] = std::move(payload);
    net::HttpClientRequest http;
    http.method = "POST";
    http.target = kSchedulerPath;
    http.headers["content-type"] = "application/json";
    http.headers["mesos-stream-id"] = stream_id_;
    http.body = json::serialize(body);
    const std::uint64_t generation = generation_;
    client_->request(std::move(http), [weak = weak_from_this(), type, done = std::move(done),
                                       generation](StatusOr<net::HttpResponse> response) {
      auto self = weak.lock();
      if (!self) return;
      if (!response.ok()) return done(response.status(), false);
      const int code = response->status;
      if (code == 202 || code == 200) return done(Status::Ok(), true);
      const std::string what = "pool " + self->pool_ + ": " + type + " answered " + std::to_string(code) + ": " +
                               response->body;
      if ((code == 307 || code == 403) && generation == self->generation_) {
        // A new leader, or the master no longer knows this subscription: subscribe again.
        self->disconnected(Status::Unavailable(what));
      }
      done(code == 400 ? Status::InvalidArgument(what) : Status::Unavailable(what), true);
    });
  }

  void ignore_errors(Status status) {
    if (!status.ok()) last_error_ = status.message();
  }

  // ---------------------------------------------------------------------------------------------
  // Suppression: the framework wants offers exactly while launches wait. What the master was
  // told is known only from its answers (SUBSCRIBED for the subscription's suppressed_roles, 202
  // for SUPPRESS and REVIVE); one such call is in flight at a time, so a REVIVE is never
  // overtaken by an earlier SUPPRESS; a refused or lost call is sent again after a backoff.
  // ---------------------------------------------------------------------------------------------

  // Sends the SUPPRESS or REVIVE that brings the master to what the launches need, unless one is
  // in flight or waiting for its retry (its answer calls this again).
  void sync_offers() {
    if (!subscribed_ || offer_call_in_flight_ || offer_retry_armed_) return;
    if (!pending_.empty()) {
      if (offer_state_ == OfferState::kRevived && !force_revive_) return;
      return send_offer_call("REVIVE", "revive");
    }
    force_revive_ = false;
    if (offer_state_ != OfferState::kSuppressed) send_offer_call("SUPPRESS", "suppress");
  }

  void send_offer_call(const std::string& type, const std::string& field) {
    offer_call_in_flight_ = true;
    const bool revive = type == "REVIVE";
    const std::uint64_t generation = generation_;
    call_answered(type, field, json::object{}, [weak = weak_from_this(), generation, revive](Status status, bool answered) {
      auto self = weak.lock();
      // A newer subscription asserted the state itself (and the master refuses the older
      // stream's calls): this answer says nothing about it.
      if (!self || self->stopped_ || generation != self->generation_) return;
      self->offer_call_in_flight_ = false;
      if (status.ok()) {
        self->offer_backoff_.reset();
        self->offer_state_ = revive ? OfferState::kRevived : OfferState::kSuppressed;
        if (revive) {
          self->force_revive_ = false;
          self->offers_quiet_since_ = self->time_.steady_now();
        }
        return self->sync_offers();
      }
      self->last_error_ = status.message();
      // Lost on the way, the call may or may not have been carried out: the next one decides.
      if (!answered) self->offer_state_ = OfferState::kUnknown;
      self->retry_offer_call();
    });
  }

  void retry_offer_call() {
    offer_retry_armed_ = true;
    offer_retry_timer_.expires_after(offer_backoff_.next());
    const std::uint64_t generation = generation_;
    offer_retry_timer_.async_wait([weak = weak_from_this(), generation](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self || self->stopped_ || generation != self->generation_) return;
      self->offer_retry_armed_ = false;
      self->sync_offers();
    });
  }

  // The periodic check: launches that have waited revive_interval with no offer since they began
  // to wait (or since the last REVIVE) REVIVE again, whatever the master is believed to do.
  void arm_revive_check() {
    const Duration interval = std::max(config_.revive_interval, Duration(std::chrono::milliseconds(100)));
    revive_timer_.expires_after(interval);
    const std::uint64_t generation = generation_;
    revive_timer_.async_wait([weak = weak_from_this(), generation, interval](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self || self->stopped_ || generation != self->generation_) return;
      if (!self->pending_.empty() && self->time_.steady_now() - self->offers_quiet_since_ >= interval) {
        self->force_revive_ = true;
        self->sync_offers();
      }
      self->arm_revive_check();
    });
  }

  void acknowledge(const TaskUpdate& update) {
    json::object ack{{"agent_id", id(update.agent_id)}, {"task_id", id(update.task_id)}, {"uuid", update.uuid}};
    call("ACKNOWLEDGE", "acknowledge", std::move(ack), [weak = weak_from_this()](Status status) {
      // An acknowledgement lost here is harmless: the agent resends the update.
      if (auto self = weak.lock()) self->ignore_errors(status);
    });
  }

  void reconcile(bool explicit_too) {
    auto ignore = [weak = weak_from_this()](Status status) {
      if (auto self = weak.lock()) self->ignore_errors(status);
    };
    call("RECONCILE", "reconcile", json::object{{"tasks", json::array{}}}, ignore);
    if (!explicit_too || tasks_.empty()) return;
    json::array tasks;
    for (const auto& [task_id, record] : tasks_) {
      json::object task{{"task_id", id(task_id)}};
      if (!record.agent_id.empty()) task["agent_id"] = id(record.agent_id);
      tasks.push_back(std::move(task));
    }
    call("RECONCILE", "reconcile", json::object{{"tasks", std::move(tasks)}}, ignore);
  }

  void arm_reconcile() {
    reconcile_timer_.expires_after(config_.reconcile_interval);
    const std::uint64_t generation = generation_;
    reconcile_timer_.async_wait([weak = weak_from_this(), generation](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self || self->stopped_ || generation != self->generation_) return;
      self->reconcile(false);
      self->arm_reconcile();
    });
  }

  // The reconciliation answers come as a burst of updates; a short quiet spell ends it.
  void arm_settle() {
    settle_timer_.expires_after(kSettleQuiet);
    const std::uint64_t generation = generation_;
    settle_timer_.async_wait([weak = weak_from_this(), generation](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self || self->stopped_ || generation != self->generation_) return;
      self->reconciled_ = true;
      self->answer_lists(self->objects());
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Events
  // ---------------------------------------------------------------------------------------------

  void on_event(const json::object& event) {
    const std::string type = string_of(event, "type");
    if (type == "SUBSCRIBED") {
      if (const json::object* subscribed = object_of(event, "subscribed")) on_subscribed(*subscribed);
    } else if (type == "OFFERS") {
      const json::object* offers = object_of(event, "offers");
      const auto* list = offers != nullptr ? offers->if_contains("offers") : nullptr;
      if (list != nullptr && list->is_array()) on_offers(list->as_array());
    } else if (type == "UPDATE") {
      const json::object* update = object_of(event, "update");
      const json::object* status = update != nullptr ? object_of(*update, "status") : nullptr;
      if (status != nullptr) on_update(*status);
    } else if (type == "ERROR") {
      const json::object* error = object_of(event, "error");
      const std::string message = error != nullptr ? string_of(*error, "message") : "";
      if (message.find("removed") != std::string::npos) {
        // Torn down (or its failover timeout passed): its tasks are gone; register anew.
        forget_framework();
      }
      disconnected(Status::Unavailable("pool " + pool_ + ": Mesos master " + master_ + " ended the subscription: " + message));
    }
    // HEARTBEAT: last_event_ is enough. RESCIND: offers are never held. FAILURE: task updates follow.
  }

  void on_subscribed(const json::object& subscribed) {
    const json::object* framework = object_of(subscribed, "framework_id");
    const std::string assigned = framework != nullptr ? string_of(*framework, "value") : "";
    if (const auto* interval = subscribed.if_contains("heartbeat_interval_seconds"); interval != nullptr &&
                                                                                   interval->is_number()) {
      heartbeat_interval_ = std::max(Duration(std::chrono::milliseconds(100)),
                                     std::chrono::duration_cast<Duration>(std::chrono::duration<double>(
                                         interval->to_number<double>())));
    }
    subscribed_ = true;
    redirects_ = 0;
    backoff_.reset();
    last_error_.clear();
    set_health(Status::Ok());
    arm_watchdog();
    if (assigned != framework_id_ || !framework_saved_) {
      framework_id_ = assigned;
      framework_saved_ = false;
      const std::uint64_t generation = generation_;
      save_framework_id(assigned, [weak = weak_from_this(), generation, assigned](Status status) {
        auto self = weak.lock();
        if (!self || generation != self->generation_ || self->framework_id_ != assigned) return;
        if (!status.ok()) {
          // Never launch under a framework id a restart could not find again.
          return self->disconnected(Status::Unavailable("pool " + self->pool_ + ": cannot save the framework id: " +
                                                        status.message()));
        }
        self->framework_saved_ = true;
      });
    }
    reconcile(true);
    arm_settle();
    arm_reconcile();
    offer_state_ = subscribe_suppressed_ ? OfferState::kSuppressed : OfferState::kRevived;
    offers_quiet_since_ = time_.steady_now();
    offer_backoff_.reset();
    arm_revive_check();
    sync_offers();  // launches that came or went since the SUBSCRIBE was sent
  }

  void forget_framework() {
    framework_id_.clear();
    framework_saved_ = false;
    save_framework_id("", [](Status) {});
  }

  // Keeps the framework id durably: through core's store (BackendSink::save_state), or the
  // function given at construction.
  void save_framework_id(const std::string& id, std::function<void(Status)> done) {
    if (save_framework_id_) return save_framework_id_(id, std::move(done));
    if (sink_ == nullptr) return done(Status::FailedPrecondition("pool " + pool_ + ": not started"));
    sink_->save_state(pool_, kFrameworkIdKey, id, std::move(done));
  }

  void on_offers(const json::array& list) {
    std::vector<mesos::Offer> offers;
    offers.reserve(list.size());
    for (const auto& item : list) {
      if (!item.is_object()) continue;
      offers.push_back(mesos::parse_offer(item.as_object()));
      mesos::Offer& offer = offers.back();
      agent_hosts_[offer.agent_id] = offer.hostname;
      // An agent whose GPUs are all in use offers none, and is a GPU agent still.
      if (offer.gpu_agent) {
        gpu_agents_.insert(offer.agent_id);
      } else {
        offer.gpu_agent = gpu_agents_.count(offer.agent_id) > 0;
      }
    }
    if (offers.empty()) return;
    const SteadyTime now = time_.steady_now();
    offers_quiet_since_ = now;
    if (!framework_saved_ || pending_.empty()) {
      decline(offers, {}, framework_saved_ ? config_.refuse : Duration(std::chrono::seconds(1)));
      return sync_offers();
    }
    std::vector<bool> usable(offers.size());
    for (std::size_t i = 0; i < offers.size(); ++i) {
      auto excluded = excluded_until_.find(offers[i].agent_id);
      usable[i] = mesos::satisfies(offers[i], constraints_) && (excluded == excluded_until_.end() || excluded->second <= now);
    }
    std::vector<mesos::PendingTask> tasks;
    tasks.reserve(pending_.size());
    for (const auto& launch : pending_) tasks.push_back({launch.request.app, launch.demand});
    auto assignments = mesos::assign(tasks, offers, usable);

    // Group the assignments by offer; take the launched executors out of the queue.
    std::map<std::size_t, std::vector<std::pair<PendingLaunch, json::array>>> by_offer;
    std::set<std::size_t> launched;
    for (auto& assignment : assignments) launched.insert(assignment.task);
    std::vector<PendingLaunch> taken(pending_.size());
    std::deque<PendingLaunch> still;
    for (std::size_t i = 0; i < pending_.size(); ++i) {
      if (launched.count(i) > 0) {
        taken[i] = std::move(pending_[i]);
      } else {
        still.push_back(std::move(pending_[i]));
      }
    }
    pending_ = std::move(still);
    for (auto& assignment : assignments) {
      by_offer[assignment.offer].emplace_back(std::move(taken[assignment.task]), std::move(assignment.resources));
    }
    std::set<std::size_t> used;
    for (auto& [offer_index, launches] : by_offer) {
      used.insert(offer_index);
      accept(offers[offer_index], std::move(launches));
    }
    decline(offers, used, config_.refuse);
    sync_offers();
  }

  void decline(const std::vector<mesos::Offer>& offers, const std::set<std::size_t>& used, Duration refuse) {
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < offers.size(); ++i) {
      if (used.count(i) == 0) ids.push_back(offers[i].id);
    }
    send_decline(std::move(ids), refuse);
  }

  // Every offer is answered: used in an ACCEPT or named in a DECLINE. Until then its resources
  // stay the framework's at the master, offered to no one (Mesos has no offer timeout unless its
  // operator sets one), so a DECLINE refused or lost is sent again after a backoff, for as long
  // as the subscription lasts. Declining an offer the master already took is harmless: it
  // ignores offer ids it does not know.
  void send_decline(std::vector<std::string> ids, Duration refuse) {
    if (ids.empty()) return;
    json::array offer_ids;
    for (const auto& offer_id : ids) offer_ids.push_back(id(offer_id));
    json::object decline{{"offer_ids", std::move(offer_ids)},
                         {"filters", json::object{{"refuse_seconds", std::chrono::duration<double>(refuse).count()}}}};
    const std::uint64_t generation = generation_;
    call("DECLINE", "decline", std::move(decline),
         [weak = weak_from_this(), generation, ids = std::move(ids), refuse](Status status) {
           auto self = weak.lock();
           if (!self || self->stopped_ || generation != self->generation_) return;
           if (status.ok()) return self->decline_backoff_.reset();
           self->last_error_ = status.message();
           for (const auto& offer_id : ids) self->undeclined_offers_[offer_id] = refuse;
           self->retry_declines();
         });
  }

  void retry_declines() {
    if (decline_retry_armed_) return;
    decline_retry_armed_ = true;
    decline_retry_timer_.expires_after(decline_backoff_.next());
    const std::uint64_t generation = generation_;
    decline_retry_timer_.async_wait([weak = weak_from_this(), generation](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self || self->stopped_ || generation != self->generation_) return;
      self->decline_retry_armed_ = false;
      std::map<Duration, std::vector<std::string>> by_refuse;
      for (const auto& [offer_id, refuse] : self->undeclined_offers_) by_refuse[refuse].push_back(offer_id);
      self->undeclined_offers_.clear();
      for (auto& [refuse, ids] : by_refuse) self->send_decline(std::move(ids), refuse);
    });
  }

  void forget_undeclined_offers() {
    undeclined_offers_.clear();
    decline_retry_timer_.cancel();
    decline_retry_armed_ = false;
    decline_backoff_.reset();
  }

  void accept(const mesos::Offer& offer, std::vector<std::pair<PendingLaunch, json::array>> launches) {
    json::array task_infos;
    auto accepted = std::make_shared<std::vector<PendingLaunch>>();
    for (auto& [launch, resources] : launches) {
      task_infos.push_back(mesos::build_task_info(launch.request, config_, offer, std::move(resources), framework_id_));
      // Known from now on: a second launch of it is an adoption, and its updates are ours.
      TaskRecord record;
      record.name = TaskName{launch.request.app, launch.request.executor};
      record.agent_id = offer.agent_id;
      record.last.task_id = launch.request.backend_name;
      record.last.state = "TASK_STAGING";
      record.last.agent_id = offer.agent_id;
      tasks_.insert_or_assign(launch.request.backend_name, std::move(record));
      accepted->push_back(std::move(launch));
    }
    json::object operation{{"type", "LAUNCH"}, {"launch", json::object{{"task_infos", std::move(task_infos)}}}};
    json::object accept{{"offer_ids", json::array{id(offer.id)}},
                        {"operations", json::array{std::move(operation)}},
                        {"filters", json::object{{"refuse_seconds", std::chrono::duration<double>(config_.refuse).count()}}}};
    const std::uint64_t generation = generation_;
    call_answered("ACCEPT", "accept", std::move(accept), [weak = weak_from_this(), accepted, generation,
                                                          offer_id = offer.id](Status status, bool answered) {
      auto self = weak.lock();
      if (!self) return;
      // Refused, the offer is still ours at the master; lost, it may be: decline it (in a newer
      // subscription it is void already).
      if (!status.ok() && !self->stopped_ && generation == self->generation_) {
        self->send_decline({offer_id}, Duration::zero());
      }
      if (status.ok() || !answered) {
        // Accepted, or lost on the way with no way to tell: the tasks may exist. Reconciliation
        // settles which (an unknown task comes back TASK_GONE or TASK_UNKNOWN). A refusal the
        // master answered (400, 503, ...) launched nothing: the launch fails with it.
        if (!status.ok()) self->reconcile_tasks(*accepted);
        for (auto& launch : *accepted) launch.done(Status::Ok());
        return;
      }
      for (auto& launch : *accepted) {
        self->tasks_.erase(launch.request.backend_name);
        launch.done(status);
      }
    });
  }

  void reconcile_tasks(const std::vector<PendingLaunch>& launches) {
    json::array tasks;
    for (const auto& launch : launches) tasks.push_back(json::object{{"task_id", id(launch.request.backend_name)}});
    call("RECONCILE", "reconcile", json::object{{"tasks", std::move(tasks)}}, [weak = weak_from_this()](Status status) {
      if (auto self = weak.lock()) self->ignore_errors(status);
    });
  }

  void on_update(const json::object& status) {
    TaskUpdate update = mesos::parse_status(status);
    auto name = mesos::parse_task_id(update.task_id, task_prefix_);
    if (name) {
      auto [it, inserted] = tasks_.try_emplace(update.task_id);
      TaskRecord& record = it->second;
      if (inserted) record.name = *name;
      if (!update.agent_id.empty()) record.agent_id = update.agent_id;
      record.last = update;
      const BackendObject object = object_of_task(update.task_id, record);
      count_agent_failure(update, record);
      if (terminal(update)) tasks_.erase(it);
      if (sink_ != nullptr && !stopped_) sink_->on_observed(pool_, object);
    }
    if (update.reason == "REASON_RECONCILIATION" && !reconciled_) arm_settle();
    // Acknowledge after reporting, and only what the agent will resend (a uuid); never the
    // master's own updates.
    if (!update.uuid.empty()) acknowledge(update);
  }

  void count_agent_failure(const TaskUpdate& update, const TaskRecord& record) {
    if (config_.agent_exclusion.count() <= 0 || record.killed || record.agent_id.empty()) return;
    if (update.end != mesos::TaskEnd::kFailed && update.end != mesos::TaskEnd::kLaunchFailed) return;
    if (update.state == "TASK_DROPPED") return;  // the offer's fault, not the agent's
    const SteadyTime now = time_.steady_now();
    auto& failures = agent_failures_[record.agent_id];
    failures.push_back(now);
    while (!failures.empty() && now - failures.front() > config_.agent_exclusion) failures.pop_front();
    if (static_cast<int>(failures.size()) >= config_.agent_failure_limit) {
      excluded_until_[record.agent_id] = now + config_.agent_exclusion;
      failures.clear();
    }
  }

  static constexpr Duration kSettleQuiet{std::chrono::milliseconds(500)};

  boost::asio::any_io_executor executor_;
  PoolName pool_;
  MesosPoolConfig config_;
  std::string daemon_id_;
  std::string task_prefix_;  // "<name_prefix>-": every Berth task id starts with it
  adapters::TimeSource time_;
  adapters::HealthReporter health_;
  adapters::CredentialFile secret_;  // with config_.principal, the basic authentication
  Status init_status_;
  BackendSink* sink_ = nullptr;
  bool stopped_ = false;

  // Connection and subscription.
  std::unique_ptr<net::HttpClient> client_;
  std::string master_;           // the base URL subscribed to (or tried)
  std::size_t master_index_ = 0;
  int redirects_ = 0;            // 307s followed in a row
  std::string framework_id_;
  bool framework_saved_ = false; // the id is durable: tasks may be launched under it
  SaveFrameworkId save_framework_id_;
  std::uint64_t generation_ = 0; // of the current subscription; older callbacks are dropped
  std::shared_ptr<net::HttpStream> stream_;
  int stream_status_ = 0;
  std::string stream_error_body_;
  std::string redirect_;
  std::string stream_id_;
  mesos::RecordIoReader reader_;
  bool subscribed_ = false;
  bool reconciled_ = false;      // the reconciliation after subscribing has settled
  Duration heartbeat_interval_{std::chrono::seconds(15)};
  SteadyTime last_event_{};
  boost::asio::steady_timer watchdog_;
  boost::asio::steady_timer retry_timer_;
  boost::asio::steady_timer reconcile_timer_;
  boost::asio::steady_timer settle_timer_;
  boost::asio::steady_timer list_timer_;
  adapters::Backoff backoff_;  // of resubscriptions
  std::string last_error_ = "not subscribed yet";

  // Suppression (sync_offers).
  enum class OfferState { kUnknown, kSuppressed, kRevived };
  OfferState offer_state_ = OfferState::kUnknown;  // as the master last confirmed it
  bool subscribe_suppressed_ = false;  // the SUBSCRIBE in flight suppressed the framework's roles
  bool offer_call_in_flight_ = false;  // a SUPPRESS or REVIVE awaits its answer
  bool offer_retry_armed_ = false;     // a failed one waits for offer_retry_timer_
  bool force_revive_ = false;          // the periodic check asks for a REVIVE although revived
  SteadyTime offers_quiet_since_{};    // the last offer, REVIVE or (re)subscription, or the first waiting launch
  boost::asio::steady_timer offer_retry_timer_;
  boost::asio::steady_timer revive_timer_;
  adapters::Backoff offer_backoff_;    // of failed SUPPRESS and REVIVE calls

  // Offers whose DECLINE failed, with their refuse filter (send_decline).
  std::map<std::string, Duration> undeclined_offers_;
  bool decline_retry_armed_ = false;
  boost::asio::steady_timer decline_retry_timer_;
  adapters::Backoff decline_backoff_;

  // Executors.
  std::deque<PendingLaunch> pending_;  // waiting for an offer, in launch order
  std::unordered_map<std::string, TaskRecord> tasks_;  // live tasks by id
  std::map<std::string, std::string> agent_hosts_;     // agent id -> hostname, from offers
  std::set<std::string> gpu_agents_;                   // agents seen offering GPUs
  std::vector<mesos::Constraint> constraints_;
  std::map<std::string, std::deque<SteadyTime>> agent_failures_;
  std::map<std::string, SteadyTime> excluded_until_;
  std::vector<Callback<StatusOr<std::vector<BackendObject>>>> list_waiters_;
};

MesosBackend::MesosBackend(boost::asio::any_io_executor strand, PoolName pool, MesosPoolConfig config,
                           std::string daemon_id, std::string name_prefix, std::string framework_id,
                           SaveFrameworkId save_framework_id, adapters::TimeSource time)
    : impl_(std::make_shared<Impl>(std::move(strand), std::move(pool), std::move(config), std::move(daemon_id),
                                   std::move(name_prefix), std::move(framework_id), std::move(save_framework_id),
                                   std::move(time))) {}

MesosBackend::~MesosBackend() { impl_->stop(); }

void MesosBackend::recover(const BackendRecovery& recovery) { impl_->recover(recovery); }
void MesosBackend::start(BackendSink* sink) { impl_->start(sink); }
void MesosBackend::stop() { impl_->stop(); }
void MesosBackend::launch(const LaunchRequest& request, Callback<Status> done) {
  impl_->launch(request, std::move(done));
}
void MesosBackend::kill(const KillRequest& request, Callback<Status> done) { impl_->kill(request, std::move(done)); }
void MesosBackend::list(Callback<StatusOr<std::vector<BackendObject>>> done) { impl_->list(std::move(done)); }
std::string MesosBackend::framework_id() const { return impl_->framework_id(); }

}  // namespace berth
