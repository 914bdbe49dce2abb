#include "adapters/kubernetes/kubernetes_backend.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "adapters/common/backoff.h"
#include "adapters/common/credential_file.h"
#include "adapters/common/health.h"
#include "adapters/common/http_options.h"
#include "adapters/common/request_limiter.h"
#include "adapters/common/ticker.h"
#include "adapters/kubernetes/api_errors.h"
#include "adapters/kubernetes/pod_spec.h"
#include "adapters/kubernetes/pod_status.h"
#include "net/http_client.h"

namespace berth {
namespace {

namespace json = boost::json;
using adapters::SteadyTime;
using kubernetes::pod_name;
using kubernetes::label_value;
using net::percent_encode;

// Who owns the fields of the pods Berth creates (metadata.managedFields[].manager).
constexpr const char* kFieldManager = "berth";

std::string name_of(const json::object& pod) {
  const auto* metadata = pod.if_contains("metadata");
  if (metadata == nullptr || !metadata->is_object()) return "";
  const auto* name = metadata->as_object().if_contains("name");
  return name != nullptr && name->is_string() ? std::string(name->as_string()) : "";
}

std::string resource_version_of(const json::object& object) {
  const auto* metadata = object.if_contains("metadata");
  if (metadata == nullptr || !metadata->is_object()) return "";
  const auto* rv = metadata->as_object().if_contains("resourceVersion");
  return rv != nullptr && rv->is_string() ? std::string(rv->as_string()) : "";
}

std::string pod_phase(const json::object& pod) {
  const auto* status = pod.if_contains("status");
  if (status == nullptr || !status->is_object()) return "";
  const auto* phase = status->as_object().if_contains("phase");
  return phase != nullptr && phase->is_string() ? std::string(phase->as_string()) : "";
}

bool has_daemon_label(const json::object& pod) {
  const auto* metadata = pod.if_contains("metadata");
  if (metadata == nullptr || !metadata->is_object()) return false;
  const auto* labels = metadata->as_object().if_contains("labels");
  return labels != nullptr && labels->is_object() && labels->as_object().contains(kLabelDaemon);
}

// One LIST's pods, each converted as its page arrives: a list never holds every pod's JSON.
template <typename Item>
struct PodList {
  std::vector<Item> items;
  std::string resource_version;
};

// What observe() reports and acts on: a pod's state when it was seen.
struct Observation {
  BackendObject object;
  bool failed = false;  // phase Failed (a pod in phase Unknown may come back with its node)
  std::optional<Timestamp> image_pull_deadline;
};

// A pod of a relist: how it is now, and what the cache keeps of it.
struct ListedPod {
  std::string name;
  Observation observation;
  kubernetes::PodRecord record;
};

}  // namespace

class KubernetesBackend::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(boost::asio::any_io_executor executor, PoolName pool, KubernetesPoolConfig config, std::string daemon_id,
       adapters::TimeSource time)
      : executor_(std::move(executor)),
        pool_(std::move(pool)),
        config_(std::move(config)),
        daemon_id_(std::move(daemon_id)),
        time_(std::move(time)),
        health_(pool_),
        limiter_(executor_, config_.qps, config_.burst, time_),
        token_(config_.connection.token_file, config_.connection.token),
        token_refresh_(executor_),
        retry_timer_(executor_),
        backoff_(std::chrono::milliseconds(500), config_.retry_max_backoff, time_.uniform),
        image_pull_timer_(executor_) {
    client_ = std::make_unique<net::HttpClient>(
        executor_, adapters::http_client_options(config_.connection.server,
                                                 adapters::tls_settings_of(config_.connection),
                                                 config_.max_connections, config_.request_timeout));
    init_status_ = client_->init();
    if (!init_status_.ok()) {
      init_status_ = Status::FailedPrecondition("pool " + pool_ + ": " + init_status_.message());
    }
    pods_path_ = "/api/v1/namespaces/" + percent_encode(config_.name_space) + "/pods";
    pool_selector_ = std::string(kLabelDaemon) + "," + kLabelPool + "=" + label_value(pool_);
    watch_selector_ = std::string(kLabelDaemon) + "=" + label_value(daemon_id_) + "," + kLabelPool + "=" +
                      label_value(pool_);
    token_.reload();
    if (!token_.value().empty()) apply_token();
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

  void start(BackendSink* sink) {
    sink_ = sink;
    health_.attach(sink);
    stopped_ = false;
    if (!init_status_.ok()) {
      post([](Impl& self) { self.set_health(self.init_status_); });
      return;
    }
    arm_token_refresh();
    post([](Impl& self) { self.relist(); });
  }

  void stop() {
    stopped_ = true;
    ++generation_;
    if (stream_) stream_->cancel();
    stream_.reset();
    limiter_.cancel();
    token_refresh_.stop();
    retry_timer_.cancel();
    image_pull_timer_.cancel();
  }

  // ---------------------------------------------------------------------------------------------
  // Verbs
  // ---------------------------------------------------------------------------------------------

  void launch(const LaunchRequest& request, Callback<Status> done) {
    const std::string name = pod_name(request.backend_name);
    const std::string what = "create pod " + name + " (app " + request.app + " executor " +
                             std::to_string(request.executor) + ") in namespace " + config_.name_space +
                             " of pool " + pool_;
    if (!init_status_.ok()) return fail(std::move(done), init_status_);
    auto pod = kubernetes::build_pod(request, config_);
    if (!pod.ok()) return fail(std::move(done), pod.status());
    net::HttpClientRequest http;
    http.method = "POST";
    http.target = pods_path_ + "?fieldManager=" + kFieldManager;
    http.headers["content-type"] = "application/json";
    http.headers["accept"] = "application/json";
    http.body = json::serialize(*pod);
    api(std::move(http), [done = std::move(done), what](StatusOr<net::HttpResponse> response) {
      if (!response.ok()) return done(response.status());
      done(kubernetes::status_of(*response, what));
    });
  }

  void kill(const KillRequest& request, Callback<Status> done) {
    const std::string name = pod_name(request.backend_name);
    if (!init_status_.ok()) return fail(std::move(done), init_status_);
    const Duration grace = request.grace > Duration(0) ? request.grace : config_.delete_grace_period;
    const auto seconds = std::chrono::ceil<std::chrono::seconds>(grace).count();
    delete_pod(name, seconds, std::move(done));
  }

  void delete_pod(const std::string& name, std::int64_t grace_seconds, Callback<Status> done) {
    const std::string what = "delete pod " + name + " in namespace " + config_.name_space + " of pool " + pool_;
    killed_.insert(name);
    net::HttpClientRequest http;
    http.method = "DELETE";
    http.target = pods_path_ + "/" + percent_encode(name) + "?gracePeriodSeconds=" + std::to_string(grace_seconds);
    http.headers["accept"] = "application/json";
    api(std::move(http), [weak = weak_from_this(), done = std::move(done), what, name](StatusOr<net::HttpResponse> response) {
      Status status = response.ok() ? kubernetes::status_of(*response, what) : response.status();
      if (auto self = weak.lock(); self && !status.ok() && status.code() != StatusCode::kNotFound) {
        self->killed_.erase(name);  // not deleted by us after all
      }
      done(std::move(status));
    });
  }

  void delete_app_pods(const AppId& app, Duration grace, Callback<Status> done) {
    if (!init_status_.ok()) return fail(std::move(done), init_status_);
    const std::string what = "delete the pods of app " + app + " in namespace " + config_.name_space + " of pool " + pool_;
    const std::string selector = watch_selector_ + "," + kLabelApp + "=" + label_value(app);
    net::HttpClientRequest http;
    http.method = "DELETE";
    http.target = pods_path_ + "?labelSelector=" + percent_encode(selector) + "&gracePeriodSeconds=" +
                  std::to_string(std::chrono::ceil<std::chrono::seconds>(grace).count());
    http.headers["accept"] = "application/json";
    api(std::move(http), [weak = weak_from_this(), done = std::move(done), what](StatusOr<net::HttpResponse> response) {
      if (!response.ok()) return done(response.status());
      Status status = kubernetes::status_of(*response, what);
      auto self = weak.lock();
      if (status.ok() && self) {
        boost::system::error_code ec;
        json::value body = json::parse(response->body, ec);
        const auto* items = !ec && body.is_object() ? body.as_object().if_contains("items") : nullptr;
        if (items != nullptr && items->is_array()) {
          for (const auto& item : items->as_array()) {
            if (item.is_object()) self->killed_.insert(name_of(item.as_object()));
          }
        }
      }
      done(std::move(status));
    });
  }

  void list(Callback<StatusOr<std::vector<BackendObject>>> done) {
    if (!init_status_.ok()) return fail(std::move(done), init_status_);
    ToItem<BackendObject> to_object = [](Impl& self, json::object pod) -> std::optional<BackendObject> {
      if (!has_daemon_label(pod)) return std::nullopt;
      Observation observation = self.observation_of(pod);
      self.delete_if_ended(name_of(pod), observation);
      return std::move(observation.object);
    };
    list_pods<BackendObject>(pool_selector_, std::move(to_object),
                             [done = std::move(done)](StatusOr<PodList<BackendObject>> pods) {
                               if (!pods.ok()) return done(pods.status());
                               done(std::move(pods->items));
                             });
  }

 private:
  // Converts one listed pod as its page arrives; nullopt leaves it out.
  template <typename Item>
  using ToItem = std::function<std::optional<Item>(Impl& self, json::object pod)>;

  template <typename T>
  void fail(Callback<T> done, Status status) {
    post([done = std::move(done), status = std::move(status)](Impl&) mutable { done(std::move(status)); });
  }

  kubernetes::PodContext context(bool deleted, bool by_berth) const {
    kubernetes::PodContext context;
    context.now = time_.wall_now();
    context.executor_container = config_.executor_container;
    context.image_pull_failure_timeout = config_.image_pull_failure_timeout;
    context.deleted = deleted;
    context.deleted_by_berth = by_berth;
    return context;
  }

  // ---------------------------------------------------------------------------------------------
  // Requests: the token bucket, Retry-After pauses, token re-reading
  // ---------------------------------------------------------------------------------------------

  // Runs `send` when the limiter allows, in order of submission.
  void limited(std::function<void()> send) { limiter_.submit(std::move(send)); }

  void api(net::HttpClientRequest request, std::function<void(StatusOr<net::HttpResponse>)> done, int attempt = 0) {
    limited([weak = weak_from_this(), request = std::move(request), done = std::move(done), attempt]() mutable {
      auto self = weak.lock();
      if (!self) return;
      auto copy = request;
      self->client_->request(std::move(copy), [weak, request = std::move(request), done = std::move(done),
                                               attempt](StatusOr<net::HttpResponse> response) mutable {
        auto self = weak.lock();
        if (!self) return;
        if (response.ok() && response->status == 401 && attempt == 0 && self->reload_token()) {
          return self->api(std::move(request), std::move(done), attempt + 1);  // the token had rotated
        }
        if (response.ok() && response->status == 429) {
          auto error = kubernetes::parse_api_error(*response);
          self->limiter_.pause_for(error.retry_after_seconds.value_or(1));
        }
        done(std::move(response));
      });
    });
  }

  void apply_token() { client_->set_default_header("authorization", "Bearer " + token_.value()); }

  // Re-reads the token file; true if the token changed.
  bool reload_token() {
    if (!token_.reload()) return false;
    apply_token();
    return true;
  }

  void arm_token_refresh() {
    if (!token_.rotates()) return;
    token_refresh_.start(config_.token_refresh_interval, [weak = weak_from_this()] {
      auto self = weak.lock();
      if (!self || self->stopped_) return;
      self->reload_token();
    });
  }

  // ---------------------------------------------------------------------------------------------
  // LIST (paged)
  // ---------------------------------------------------------------------------------------------

  template <typename Item>
  void list_pods(const std::string& selector, ToItem<Item> to_item, std::function<void(StatusOr<PodList<Item>>)> done) {
    auto list = std::make_shared<PodList<Item>>();
    list_page(selector, "", std::move(to_item), list, false, std::move(done));
  }

  template <typename Item>
  void list_page(const std::string& selector, const std::string& continue_token, ToItem<Item> to_item,
                 std::shared_ptr<PodList<Item>> list, bool restarted,
                 std::function<void(StatusOr<PodList<Item>>)> done) {
    net::HttpClientRequest http;
    http.target = pods_path_ + "?labelSelector=" + percent_encode(selector) + "&limit=500";
    if (!continue_token.empty()) http.target += "&continue=" + percent_encode(continue_token);
    http.headers["accept"] = "application/json";
    const std::string what = "list pods in namespace " + config_.name_space + " of pool " + pool_;
    api(std::move(http), [weak = weak_from_this(), selector, to_item = std::move(to_item), list, restarted,
                          done = std::move(done), what,
                          paged = !continue_token.empty()](StatusOr<net::HttpResponse> response) mutable {
      auto self = weak.lock();
      if (!self) return;
      if (!response.ok()) return done(response.status());
      if (response->status == 410 && paged && !restarted) {
        // The continue token expired: start again for a consistent list.
        list->items.clear();
        return self->list_page(selector, "", std::move(to_item), list, true, std::move(done));
      }
      Status status = kubernetes::status_of(*response, what);
      if (!status.ok()) return done(status);
      boost::system::error_code ec;
      json::value body = json::parse(response->body, ec);
      if (ec || !body.is_object()) return done(Status::Unavailable(what + ": the response is not a PodList"));
      json::object& object = body.as_object();
      if (auto* items = object.if_contains("items"); items != nullptr && items->is_array()) {
        for (auto& item : items->as_array()) {
          if (!item.is_object()) continue;
          if (auto converted = to_item(*self, std::move(item.as_object()))) list->items.push_back(std::move(*converted));
        }
      }
      std::string next;
      if (const auto* metadata = object.if_contains("metadata"); metadata != nullptr && metadata->is_object()) {
        list->resource_version = resource_version_of(object);
        if (const auto* token = metadata->as_object().if_contains("continue"); token != nullptr && token->is_string()) {
          next = std::string(token->as_string());
        }
      }
      if (!next.empty()) return self->list_page(selector, next, std::move(to_item), list, restarted, std::move(done));
      done(std::move(*list));
    });
  }

  // ---------------------------------------------------------------------------------------------
  // The informer: list, then watch from the list's resourceVersion
  // ---------------------------------------------------------------------------------------------

  void set_health(const Status& status) { health_.report(status); }

  void retry_later(bool relist_after) {
    retry_timer_.expires_after(backoff_.next());
    const std::uint64_t generation = generation_;
    retry_timer_.async_wait([weak = weak_from_this(), generation, relist_after](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self || self->stopped_ || generation != self->generation_) return;
      if (relist_after) {
        self->relist();
      } else {
        self->start_watch();
      }
    });
  }

  void relist() {
    if (stopped_) return;
    const std::uint64_t generation = ++generation_;
    if (stream_) stream_->cancel();
    stream_.reset();
    ToItem<ListedPod> to_listed = [](Impl& self, json::object pod) -> std::optional<ListedPod> {
      if (!has_daemon_label(pod)) return std::nullopt;
      std::string name = name_of(pod);
      Observation observation = self.observation_of(pod);
      kubernetes::PodRecord record(std::move(pod), self.context(false, false));
      return ListedPod{std::move(name), std::move(observation), std::move(record)};
    };
    auto listed = [weak = weak_from_this(), generation](StatusOr<PodList<ListedPod>> pods) {
      auto self = weak.lock();
      if (!self || self->stopped_ || generation != self->generation_) return;
      if (!pods.ok()) {
        self->set_health(pods.status());
        return self->retry_later(true);
      }
      self->set_health(Status::Ok());
      self->backoff_.reset();
      self->replace(std::move(*pods));
      self->start_watch();
    };
    list_pods<ListedPod>(watch_selector_, std::move(to_listed), std::move(listed));
  }

  // A full list replaces the cache: pods that vanished since were deleted without our seeing it.
  // The list's pods are reported in name order; a name listed twice counts once, as first listed.
  void replace(PodList<ListedPod> pods) {
    std::vector<ListedPod>& listed = pods.items;
    const auto by_name = [](const ListedPod& a, const ListedPod& b) { return a.name < b.name; };
    std::stable_sort(listed.begin(), listed.end(), by_name);
    listed.erase(std::unique(listed.begin(), listed.end(),
                             [](const ListedPod& a, const ListedPod& b) { return a.name == b.name; }),
                 listed.end());
    std::map<std::string, kubernetes::PodRecord> fresh;
    for (auto& pod : listed) {
      // Failing to pull its image: its state depends on the time, so it is taken now.
      if (const json::object* pulling = pod.record.image_pull_pod()) pod.observation = observation_of(*pulling);
      fresh.emplace_hint(fresh.end(), pod.name, std::move(pod.record));
    }
    for (const auto& [name, record] : cache_) {
      if (fresh.count(name) == 0) observe_deleted(name, record);
    }
    cache_ = std::move(fresh);
    for (const auto& pod : listed) observe(pod.name, pod.observation);
    resource_version_ = pods.resource_version;
  }

  void start_watch() {
    if (stopped_) return;
    const std::uint64_t generation = generation_;
    const double spread = 1.0 + time_.uniform();  // in [1, 2): watches of many pools do not end in step
    const auto timeout_seconds = std::max<std::int64_t>(
        1, static_cast<std::int64_t>(std::chrono::duration<double>(config_.watch_timeout).count() * spread));
    net::HttpClientRequest http;
    http.target = pods_path_ + "?labelSelector=" + percent_encode(watch_selector_) + "&watch=true" +
                  "&allowWatchBookmarks=true&timeoutSeconds=" + std::to_string(timeout_seconds);
    if (!resource_version_.empty()) http.target += "&resourceVersion=" + percent_encode(resource_version_);
    http.headers["accept"] = "application/json";
    watch_status_ = 0;
    watch_error_body_.clear();
    line_buffer_.clear();
    watch_started_ = time_.steady_now();
    limited([weak = weak_from_this(), generation, http = std::move(http), timeout_seconds]() mutable {
      auto self = weak.lock();
      if (!self || self->stopped_ || generation != self->generation_) return;
      net::StreamCallbacks callbacks;
      callbacks.on_headers = [weak, generation](int status, const net::Headers&) {
        auto self = weak.lock();
        if (!self || generation != self->generation_) return;
        self->watch_status_ = status;
        if (status == 200) self->set_health(Status::Ok());
      };
      callbacks.on_data = [weak, generation](std::string_view bytes) {
        auto self = weak.lock();
        if (!self || generation != self->generation_) return;
        self->on_watch_data(bytes);
      };
      callbacks.on_end = [weak, generation](Status status) {
        auto self = weak.lock();
        if (!self || generation != self->generation_) return;
        self->on_watch_end(std::move(status));
      };
      // A watch quiet for longer than the server's own deadline is a dead connection.
      const auto idle = std::chrono::seconds(timeout_seconds + 30);
      self->stream_ = self->client_->stream(std::move(http), std::move(callbacks), idle);
    });
  }

  void on_watch_data(std::string_view bytes) {
    if (watch_status_ != 200) {
      if (watch_error_body_.size() < 64 * 1024) watch_error_body_.append(bytes);
      return;
    }
    line_buffer_.append(bytes);
    std::size_t start = 0;
    const std::uint64_t generation = generation_;
    for (;;) {
      const std::size_t end = line_buffer_.find('\n', start);
      if (end == std::string::npos) break;
      const std::string line = line_buffer_.substr(start, end - start);
      start = end + 1;
      if (line.find_first_not_of(" \r\t") == std::string::npos) continue;
      on_watch_event(line);
      if (generation != generation_) return;  // the event ended this watch
    }
    line_buffer_.erase(0, start);
  }

  void on_watch_event(const std::string& line) {
    boost::system::error_code ec;
    json::value event = json::parse(line, ec);
    if (ec || !event.is_object()) return restart_watch_after_error(true);
    const auto* type_value = event.as_object().if_contains("type");
    auto* object_value = event.as_object().if_contains("object");
    if (type_value == nullptr || !type_value->is_string() || object_value == nullptr || !object_value->is_object()) {
      return restart_watch_after_error(true);
    }
    const std::string type(type_value->as_string());
    json::object& object = object_value->as_object();
    if (type == "ERROR") {
      const auto* code = object.if_contains("code");
      if (code != nullptr && code->is_int64() && code->as_int64() == 410) return relist();  // too old: relist
      return restart_watch_after_error(true);
    }
    if (const std::string rv = resource_version_of(object); !rv.empty()) resource_version_ = rv;
    if (type == "BOOKMARK") return;
    backoff_.reset();  // events flow: the API server is fine
    if (!has_daemon_label(object)) return;
    const std::string name = name_of(object);
    if (type == "DELETED") {
      cache_.erase(name);
      observe_deleted(name, object);
      return;
    }
    if (type == "ADDED" || type == "MODIFIED") {
      const Observation observation = observation_of(object);
      cache_.insert_or_assign(name, kubernetes::PodRecord(std::move(object), context(false, false)));
      observe(name, observation);
    }
  }

  void restart_watch_after_error(bool relist_after) {
    ++generation_;
    if (stream_) stream_->cancel();
    stream_.reset();
    retry_later(relist_after);
  }

  void on_watch_end(Status status) {
    stream_.reset();
    if (watch_status_ == 410) return relist();
    if (watch_status_ != 0 && watch_status_ != 200) {
      net::HttpResponse response{watch_status_, {}, watch_error_body_};
      Status error = kubernetes::status_of(response, "watch pods in namespace " + config_.name_space + " of pool " + pool_);
      if (watch_status_ == 401) reload_token();
      if (watch_status_ == 429) limiter_.pause_for(kubernetes::parse_api_error(response).retry_after_seconds.value_or(1));
      set_health(error);
      ++generation_;
      return retry_later(false);
    }
    if (!status.ok()) {
      if (watch_status_ == 0) set_health(status);  // could not even reach the server
      ++generation_;
      return retry_later(false);
    }
    // A clean end (the server's timeout): resume from the last resourceVersion seen. A watch that
    // ends at once, again and again, backs off instead of spinning.
    if (time_.steady_now() - watch_started_ < std::chrono::seconds(1)) {
      ++generation_;
      return retry_later(false);
    }
    start_watch();
  }

  // ---------------------------------------------------------------------------------------------
  // Reporting
  // ---------------------------------------------------------------------------------------------

  Observation observation_of(const json::object& pod) const {
    const kubernetes::PodContext ctx = context(false, false);
    return Observation{kubernetes::pod_to_object(pod, ctx), pod_phase(pod) == "Failed",
                       kubernetes::image_pull_deadline(pod, ctx)};
  }

  void observe(const std::string& name, const Observation& observation) {
    if (sink_ == nullptr) return;
    const BackendObject& object = observation.object;
    if (object.daemon_id != daemon_id_) return;
    sink_->on_observed(pool_, object);
    if (object.phase == ObservedPhase::kExited || object.phase == ObservedPhase::kLost) {
      image_pull_deadlines_.erase(name);
      delete_if_ended(name, observation);
      return;
    }
    if (const auto& deadline = observation.image_pull_deadline) {
      image_pull_deadlines_[name] = *deadline;
      arm_image_pull_check();
    } else {
      image_pull_deadlines_.erase(name);
    }
  }

  // Removes a pod of this daemon whose end is reported (by a watch event, or in a list core
  // gets), as Spark does, so that ended pods do not pile up and a pod that can never pull its
  // image stops holding quota. A pod in phase Unknown may come back with its node: left to the
  // node lifecycle. A delete that fails is tried again the next time the pod is listed (core's
  // resync) or observed.
  void delete_if_ended(const std::string& name, const Observation& observation) {
    const BackendObject& object = observation.object;
    const bool ended = object.phase == ObservedPhase::kExited || (object.phase == ObservedPhase::kLost && observation.failed);
    if (config_.delete_terminated_pods && ended && object.daemon_id == daemon_id_ && killed_.count(name) == 0) {
      delete_pod(name, 0, [](Status) {});
    }
  }

  // A DELETED event: its object is the pod's last state.
  void observe_deleted(const std::string& name, const json::object& pod) {
    const bool by_berth = forget(name);
    report_deleted(kubernetes::pod_to_object(pod, context(true, by_berth)));
  }

  // Missing from a relist: deleted since the last state the cache kept.
  void observe_deleted(const std::string& name, const kubernetes::PodRecord& record) {
    const bool by_berth = forget(name);
    report_deleted(record.deleted(name, by_berth));
  }

  // Drops what is kept about a deleted pod; true if Berth deleted it.
  bool forget(const std::string& name) {
    image_pull_deadlines_.erase(name);
    return killed_.erase(name) > 0;
  }

  void report_deleted(const BackendObject& object) {
    if (sink_ == nullptr || object.daemon_id != daemon_id_) return;
    sink_->on_observed(pool_, object);
  }

  void arm_image_pull_check() {
    if (image_pull_deadlines_.empty()) return;
    Timestamp earliest = Timestamp::max();
    for (const auto& [name, deadline] : image_pull_deadlines_) earliest = std::min(earliest, deadline);
    const auto delay = std::max(Duration(0), earliest - time_.wall_now()) + Duration(10);
    image_pull_timer_.expires_after(delay);
    image_pull_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self || self->stopped_) return;
      const Timestamp now = self->time_.wall_now();
      std::vector<std::string> due;
      for (const auto& [name, deadline] : self->image_pull_deadlines_) {
        if (deadline <= now) due.push_back(name);
      }
      for (const auto& name : due) {
        self->image_pull_deadlines_.erase(name);
        auto it = self->cache_.find(name);
        if (it == self->cache_.end() || it->second.image_pull_pod() == nullptr) continue;
        self->observe(name, self->observation_of(*it->second.image_pull_pod()));
      }
      self->arm_image_pull_check();
    });
  }

  boost::asio::any_io_executor executor_;
  PoolName pool_;
  KubernetesPoolConfig config_;
  std::string daemon_id_;
  adapters::TimeSource time_;
  adapters::HealthReporter health_;
  std::unique_ptr<net::HttpClient> client_;
  Status init_status_;
  std::string pods_path_;
  std::string pool_selector_;   // every Berth pod of this pool (core's list)
  std::string watch_selector_;  // this daemon's pods of this pool (the informer)
  BackendSink* sink_ = nullptr;
  bool stopped_ = false;

  adapters::RequestLimiter limiter_;  // the token bucket and the pauses of 429s

  adapters::CredentialFile token_;
  adapters::Ticker token_refresh_;

  std::uint64_t generation_ = 0;  // of the current list+watch; callbacks of older ones are dropped
  std::shared_ptr<net::HttpStream> stream_;
  std::string resource_version_;
  int watch_status_ = 0;
  std::string watch_error_body_;
  std::string line_buffer_;
  SteadyTime watch_started_{};
  boost::asio::steady_timer retry_timer_;
  adapters::Backoff backoff_;  // of relists and rewatches

  std::map<std::string, kubernetes::PodRecord> cache_;  // pod name -> what is kept of this daemon's pods
  std::set<std::string> killed_;                        // pods Berth deleted, until their DELETED is seen
  std::map<std::string, Timestamp> image_pull_deadlines_;
  boost::asio::steady_timer image_pull_timer_;
};

KubernetesBackend::KubernetesBackend(boost::asio::any_io_executor strand, PoolName pool, KubernetesPoolConfig config,
                                     std::string daemon_id, adapters::TimeSource time)
    : impl_(std::make_shared<Impl>(std::move(strand), std::move(pool), std::move(config), std::move(daemon_id),
                                   std::move(time))) {}

KubernetesBackend::~KubernetesBackend() { impl_->stop(); }

void KubernetesBackend::start(BackendSink* sink) { impl_->start(sink); }
void KubernetesBackend::stop() { impl_->stop(); }
void KubernetesBackend::launch(const LaunchRequest& request, Callback<Status> done) {
  impl_->launch(request, std::move(done));
}
void KubernetesBackend::kill(const KillRequest& request, Callback<Status> done) { impl_->kill(request, std::move(done)); }
void KubernetesBackend::list(Callback<StatusOr<std::vector<BackendObject>>> done) { impl_->list(std::move(done)); }
void KubernetesBackend::delete_app_pods(const AppId& app, Duration grace, Callback<Status> done) {
  impl_->delete_app_pods(app, grace, std::move(done));
}

std::unique_ptr<Backend> make_kubernetes_backend(boost::asio::any_io_executor strand, PoolName pool,
                                                 KubernetesPoolConfig config, std::string daemon_id,
                                                 adapters::TimeSource time) {
  return std::make_unique<KubernetesBackend>(std::move(strand), std::move(pool), std::move(config),
                                             std::move(daemon_id), std::move(time));
}

}  // namespace berth
