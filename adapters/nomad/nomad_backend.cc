#include "adapters/nomad/nomad_backend.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>
#include <deque>
#include <map>
#include <set>
#include <unordered_map>

#include "adapters/common/backoff.h"
#include "adapters/common/credential_file.h"
#include "adapters/common/health.h"
#include "adapters/common/http_options.h"
#include "adapters/common/ticker.h"
#include "adapters/nomad/alloc_status.h"
#include "adapters/nomad/api_errors.h"
#include "adapters/nomad/job_spec.h"
#include "net/http_client.h"

namespace berth {
namespace {

namespace json = boost::json;
using net::percent_encode;
using nomad::AllocState;
using nomad::JobState;

std::uint64_t header_index(const net::HttpResponse& response) {
  auto it = response.headers.find("x-nomad-index");
  if (it == response.headers.end()) return 0;
  std::uint64_t index = 0;
  std::from_chars(it->second.data(), it->second.data() + it->second.size(), index);
  return index;
}

std::uint64_t index_of(const json::object& object, const char* key) {
  const auto* value = object.if_contains(key);
  if (value == nullptr) return 0;
  if (value->is_uint64()) return value->as_uint64();
  if (value->is_int64() && value->as_int64() > 0) return static_cast<std::uint64_t>(value->as_int64());
  return 0;
}

std::string string_of(const json::object& object, const char* key) {
  const auto* value = object.if_contains(key);
  return value != nullptr && value->is_string() ? std::string(value->as_string()) : "";
}

const json::object* object_of(const json::object& object, const char* key) {
  const auto* value = object.if_contains(key);
  return value != nullptr && value->is_object() ? &value->as_object() : nullptr;
}

bool stop_of(const json::object& job) {
  const auto* stop = job.if_contains("Stop");
  return stop != nullptr && stop->is_bool() && stop->as_bool();
}

bool dead_of(const json::object& job) { return string_of(job, "Status") == "dead"; }

// Takes `incoming` into the job if it is news: the job's first allocation is the executor's
// (JobState::alloc), a later one Nomad's replacement of it (JobState::replacement, the latest);
// a state older than the one held is dropped. Remembers the executor's allocation being stopped
// by others while the job was not. Returns whether the job changed.
bool merge_alloc(JobState& job, AllocState incoming) {
  if (job.alloc && incoming.id != job.alloc->id && incoming.create_index < job.alloc->create_index) {
    // Seen after its replacement (a snapshot, or events lost): this one is the executor's.
    if (!job.replacement || job.replacement->create_index < job.alloc->create_index) job.replacement = std::move(job.alloc);
    job.alloc.reset();
    job.alloc_stopped_by_others = false;
  }
  std::optional<AllocState>& slot = !job.alloc || incoming.id == job.alloc->id ? job.alloc : job.replacement;
  if (slot) {
    if (incoming.id != slot->id && incoming.create_index < slot->create_index) return false;  // an older replacement
    if (incoming.id == slot->id && incoming.modify_index <= slot->modify_index) return false;
  }
  if (&slot == &job.alloc && incoming.stop_desired && !job.stopped) job.alloc_stopped_by_others = true;
  slot = std::move(incoming);
  return true;
}

// The jobs most recently left out of the cache (their end reported, or their removal), each with
// the newest index known of it, so that a stale snapshot or a late event does not bring one back.
// Bounded in entries: the oldest is dropped first, and evicted_through() is the newest index of
// any dropped one.
class ForgottenJobs {
 public:
  explicit ForgottenJobs(std::size_t capacity) : capacity_(capacity) {}

  void add(const std::string& id, std::uint64_t index) {
    auto [it, inserted] = index_.try_emplace(id, index);
    if (!inserted) {
      it->second = std::max(it->second, index);
      return;
    }
    order_.push_back(&it->first);
    if (order_.size() <= capacity_) return;
    auto oldest = index_.find(*order_.front());
    evicted_through_ = std::max(evicted_through_, oldest->second);
    order_.pop_front();
    index_.erase(oldest);
  }

  // The index known of `id` when it was forgotten; null when it is not in the window.
  const std::uint64_t* find(const std::string& id) const {
    auto it = index_.find(id);
    return it == index_.end() ? nullptr : &it->second;
  }
  bool contains(const std::string& id) const { return index_.count(id) > 0; }
  std::uint64_t evicted_through() const { return evicted_through_; }
  std::size_t size() const { return index_.size(); }

 private:
  std::size_t capacity_;
  std::deque<const std::string*> order_;  // keys of index_, oldest first (stable: node-based map)
  std::unordered_map<std::string, std::uint64_t> index_;
  std::uint64_t evicted_through_ = 0;
};

// One consistent-enough view of the pool: Berth's jobs (of any daemon) and their allocations.
struct Snapshot {
  std::map<std::string, JobState> jobs;
  std::uint64_t jobs_index = 0;    // X-Nomad-Index of the job list
  std::uint64_t allocs_index = 0;  // X-Nomad-Index of the allocation list
};

}  // namespace

class NomadBackend::Impl : public std::enable_shared_from_this<Impl> {
 public:
  using ListDone = Callback<StatusOr<std::vector<BackendObject>>>;

  Impl(boost::asio::any_io_executor executor, PoolName pool, NomadPoolConfig config, std::string daemon_id,
       std::string name_prefix, adapters::TimeSource time)
      : executor_(std::move(executor)),
        pool_(std::move(pool)),
        config_(std::move(config)),
        daemon_id_(std::move(daemon_id)),
        job_prefix_(std::move(name_prefix) + "-"),
        executor_task_(nomad::executor_task_name(config_)),
        time_(std::move(time)),
        health_(pool_),
        token_(config_.connection.token_file, config_.connection.token),
        token_refresh_(executor_),
        retry_timer_(executor_),
        backoff_(std::chrono::milliseconds(250), config_.retry_max_backoff, time_.uniform) {
    client_ = std::make_unique<net::HttpClient>(
        executor_, adapters::http_client_options(config_.connection.address,
                                                 adapters::tls_settings_of(config_.connection),
                                                 config_.max_connections, config_.request_timeout));
    init_status_ = client_->init();
    if (!init_status_.ok()) init_status_ = Status::FailedPrecondition("pool " + pool_ + ": " + init_status_.message());
    scope_ = "namespace=" + percent_encode(config_.name_space);
    if (!config_.region.empty()) scope_ += "&region=" + percent_encode(config_.region);
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

  void recover(const BackendRecovery& recovery) {
    recovered_.emplace();
    for (const auto& executor : recovery.executors) recovered_->insert(executor.backend_name);
  }

  void start(BackendSink* sink) {
    sink_ = sink;
    health_.attach(sink);
    stopped_ = false;
    if (!init_status_.ok()) {
      post([](Impl& self) { self.set_health(self.init_status_); });
      return;
    }
    arm_token_refresh();
    // Core's first list() comes right after start(): it shares the start-up snapshot.
    resync_waiters_ = std::make_shared<std::vector<ListDone>>();
    post([](Impl& self) { self.resync(); });
  }

  void stop() {
    stopped_ = true;
    ++generation_;
    if (stream_) stream_->cancel();
    stream_.reset();
    token_refresh_.stop();
    retry_timer_.cancel();
  }

  // ---------------------------------------------------------------------------------------------
  // Verbs
  // ---------------------------------------------------------------------------------------------

  void launch(const LaunchRequest& request, Callback<Status> done) {
    if (!init_status_.ok()) return fail(std::move(done), init_status_);
    const std::string id = request.backend_name;
    const std::string what = "register job " + id + " (app " + request.app + " executor " +
                             std::to_string(request.executor) + ") in namespace " + config_.name_space + " of pool " + pool_;
    auto job = nomad::build_job(request, config_);
    if (!job.ok()) return fail(std::move(done), Status::InvalidArgument(what + ": " + job.status().message()));
    auto identity = nomad::identity_of(*job);
    // Create-only: a job that exists (even stopped) is adopted, never registered over.
    json::object body{{"Job", std::move(*job)}, {"EnforceIndex", true}, {"JobModifyIndex", 0}};
    net::HttpClientRequest http;
    http.method = "POST";
    http.target = "/v1/jobs?" + scope_;
    http.headers["content-type"] = "application/json";
    http.body = json::serialize(body);
    api(std::move(http), [weak = weak_from_this(), done = std::move(done), what, identity = std::move(identity)](
                             StatusOr<net::HttpResponse> response) {
      if (!response.ok()) return done(response.status());
      Status status = nomad::status_of(*response, what);
      auto self = weak.lock();
      if (status.ok() && self && identity && self->ours(*identity) && !self->jobs_.count(identity->job_id)) {
        JobState job;
        job.identity = *identity;
        boost::system::error_code ec;
        json::value reply = json::parse(response->body, ec);
        if (!ec && reply.is_object()) job.modify_index = index_of(reply.as_object(), "JobModifyIndex");
        job.create_index = job.modify_index;  // a create-only registration
        // Unless the cache has already seen the job come and go (an executor that ended at once).
        const bool seen = self->forgotten_.contains(job.identity.job_id) ||
                          (job.create_index != 0 && job.create_index <= self->known_through_);
        if (!seen) self->jobs_.emplace(identity->job_id, std::move(job));
      }
      done(std::move(status));
    });
  }

  void kill(const KillRequest& request, Callback<Status> done) {
    if (!init_status_.ok()) return fail(std::move(done), init_status_);
    const std::string id = request.backend_name;
    const std::string what = "deregister job " + id + " in namespace " + config_.name_space + " of pool " + pool_;
    killed_.insert(id);
    ++kills_in_flight_[id];
    net::HttpClientRequest http;
    http.method = "DELETE";
    http.target = "/v1/job/" + percent_encode(id) + "?" + scope_ + "&purge=" + (config_.purge_on_kill ? "true" : "false");
    api(std::move(http), [weak = weak_from_this(), done = std::move(done), what, id](StatusOr<net::HttpResponse> response) {
      Status status = response.ok() ? nomad::status_of(*response, what) : response.status();
      auto self = weak.lock();
      if (self) self->kill_answered(id, status);
      done(std::move(status));
    });
  }

  // Core's list: a fresh snapshot, which also corrects the cache the event stream keeps. While
  // the snapshot of a resync (start-up's, a reconnect's) is under way, the list is that one:
  // the jobs and allocations are listed once, not twice.
  void list(ListDone done) {
    if (!init_status_.ok()) return fail(std::move(done), init_status_);
    if (resync_waiters_) return resync_waiters_->push_back(std::move(done));
    snapshot(0, [weak = weak_from_this(), done = std::move(done)](StatusOr<Snapshot> taken) {
      auto self = weak.lock();
      if (!self) return;
      if (!taken.ok()) return done(taken.status());
      self->apply(*taken, false);
      std::vector<std::string> ended;
      auto objects = self->objects_of(*taken, &ended);
      done(std::move(objects));
      // The answer told core of these ends.
      for (const auto& id : ended) self->end_reported(id);
    });
  }

  std::size_t cached_jobs() const { return jobs_.size(); }

 private:
  // A snapshot as core's list() answers it: Berth's jobs of every daemon, but not this pool's jobs
  // that apply() left out of the cache (forgotten: their end was reported already). Adds to
  // `ended` the cached jobs whose end the answer reports.
  std::vector<BackendObject> objects_of(const Snapshot& taken, std::vector<std::string>* ended = nullptr) const {
    std::vector<BackendObject> objects;
    objects.reserve(taken.jobs.size());
    for (const auto& [id, job] : taken.jobs) {
      const bool mine = ours(job.identity);
      if (mine && jobs_.count(id) == 0) continue;
      const bool killed = job.identity.daemon_id == daemon_id_ && killed_.count(id) > 0;
      objects.push_back(nomad::to_object(job, killed));
      if (auto replacement = nomad::replacement_object(job)) objects.push_back(std::move(*replacement));
      if (mine && ended != nullptr && nomad::reported_ended(job, killed)) ended->push_back(id);
    }
    return objects;
  }

  template <typename T>
  void fail(Callback<T> done, Status status) {
    post([done = std::move(done), status = std::move(status)](Impl&) mutable { done(std::move(status)); });
  }

  bool ours(const nomad::JobIdentity& identity) const {
    return identity.daemon_id == daemon_id_ && identity.pool == pool_;
  }

  // ---------------------------------------------------------------------------------------------
  // Requests and the ACL token
  // ---------------------------------------------------------------------------------------------

  void api(net::HttpClientRequest request, std::function<void(StatusOr<net::HttpResponse>)> done, int attempt = 0) {
    auto copy = request;
    client_->request(std::move(copy), [weak = weak_from_this(), request = std::move(request), done = std::move(done),
                                       attempt](StatusOr<net::HttpResponse> response) mutable {
      auto self = weak.lock();
      if (!self) return;
      if (response.ok() && response->status == 403 && attempt == 0 && self->reload_token()) {
        return self->api(std::move(request), std::move(done), attempt + 1);  // the token had rotated
      }
      done(std::move(response));
    });
  }

  void apply_token() { client_->set_default_header("x-nomad-token", token_.value()); }

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
      if (self->reload_token() && !self->health_.healthy()) self->resync();  // a refused stream may work now
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Snapshots: the job list and the allocation list, each followed through its pages
  // ---------------------------------------------------------------------------------------------

  using Page = std::function<void(json::array items)>;

  // GETs `target` and every further page (X-Nomad-NextToken), handing each page's items to
  // `page`; `done` gets the first page's X-Nomad-Index.
  void get_pages(std::string target, std::chrono::milliseconds timeout, Page page,
                 std::function<void(StatusOr<std::uint64_t>)> done, std::uint64_t index = 0,
                 const std::string& next_token = "") {
    net::HttpClientRequest http;
    http.target = target + (next_token.empty() ? "" : "&next_token=" + percent_encode(next_token));
    http.timeout = timeout;
    const std::string what = "list " + target.substr(0, target.find('?')) + " in namespace " + config_.name_space +
                             " of pool " + pool_;
    api(std::move(http), [weak = weak_from_this(), target = std::move(target), page = std::move(page),
                          done = std::move(done), index, what](StatusOr<net::HttpResponse> response) mutable {
      auto self = weak.lock();
      if (!self) return;
      if (!response.ok()) return done(response.status());
      if (Status status = nomad::status_of(*response, what); !status.ok()) return done(status);
      boost::system::error_code ec;
      json::value body = json::parse(response->body, ec);
      if (ec || !body.is_array()) return done(Status::Unavailable(what + ": the response is not a JSON list"));
      page(std::move(body.as_array()));
      const std::uint64_t first_index = index != 0 ? index : header_index(*response);
      auto next = response->headers.find("x-nomad-nexttoken");
      if (next != response->headers.end() && !next->second.empty()) {
        // Later pages never block: the change the first one waited for has happened.
        target = strip_blocking(target);
        return self->get_pages(std::move(target), std::chrono::milliseconds(0), std::move(page), std::move(done),
                               first_index, next->second);
      }
      done(first_index);
    });
  }

  static std::string strip_blocking(const std::string& target) {
    const auto at = target.find("&index=");
    return at == std::string::npos ? target : target.substr(0, at);
  }

  // Lists Berth's jobs of this pool and their allocations. With `blocking_index`, the allocation
  // list is a blocking query that returns once anything changed after that index.
  void snapshot(std::uint64_t blocking_index, std::function<void(StatusOr<Snapshot>)> done) {
    auto taken = std::make_shared<Snapshot>();
    auto allocs = std::make_shared<std::vector<std::pair<std::string, AllocState>>>();
    const std::string jobs_target = "/v1/jobs?" + scope_ + "&prefix=" + percent_encode(job_prefix_) + "&meta=true";
    std::string allocs_target = "/v1/allocations?" + scope_ + "&task_states=true";
    std::chrono::milliseconds allocs_timeout(0);
    if (blocking_index > 0) {
      allocs_target += "&index=" + std::to_string(blocking_index) + "&wait=" + std::to_string(kBlockingWait.count()) + "s";
      allocs_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(kBlockingWait + config_.request_timeout);
    }
    Page job_page = [weak = weak_from_this(), taken](json::array items) {
      auto self = weak.lock();
      if (!self) return;
      for (const auto& item : items) {
        if (!item.is_object()) continue;
        auto identity = nomad::identity_of(item.as_object());
        if (!identity || identity->pool != self->pool_ || identity->job_id.rfind(self->job_prefix_, 0) != 0) continue;
        JobState job;
        job.identity = std::move(*identity);
        job.create_index = index_of(item.as_object(), "CreateIndex");
        job.modify_index = index_of(item.as_object(), "ModifyIndex");
        job.stopped = stop_of(item.as_object());
        job.dead = dead_of(item.as_object());
        taken->jobs.emplace(job.identity.job_id, std::move(job));
      }
    };
    Page alloc_page = [weak = weak_from_this(), allocs](json::array items) {
      auto self = weak.lock();
      if (!self) return;
      for (const auto& item : items) {
        if (!item.is_object()) continue;
        std::string job_id = string_of(item.as_object(), "JobID");
        if (job_id.rfind(self->job_prefix_, 0) != 0) continue;
        allocs->emplace_back(std::move(job_id), nomad::alloc_state(item.as_object(), self->executor_task_));
      }
    };
    auto finish = [taken, allocs, done = std::move(done)](Status status) {
      if (!status.ok()) return done(status);
      for (auto& [job_id, alloc] : *allocs) {
        auto it = taken->jobs.find(job_id);
        if (it != taken->jobs.end()) merge_alloc(it->second, std::move(alloc));
      }
      done(std::move(*taken));
    };
    using Step = std::function<void(std::function<void(Status)>)>;
    Step list_jobs = [weak = weak_from_this(), jobs_target, job_page, taken](std::function<void(Status)> next) {
      auto self = weak.lock();
      if (!self) return;
      self->get_pages(jobs_target, std::chrono::milliseconds(0), job_page,
                      [taken, next = std::move(next)](StatusOr<std::uint64_t> index) {
                        if (!index.ok()) return next(index.status());
                        taken->jobs_index = *index;
                        next(Status::Ok());
                      });
    };
    Step list_allocs = [weak = weak_from_this(), allocs_target, allocs_timeout, alloc_page,
                        taken](std::function<void(Status)> next) {
      auto self = weak.lock();
      if (!self) return;
      self->get_pages(allocs_target, allocs_timeout, alloc_page, [taken, next = std::move(next)](StatusOr<std::uint64_t> index) {
        if (!index.ok()) return next(index.status());
        taken->allocs_index = *index;
        next(Status::Ok());
      });
    };
    // Allocations first when blocking (that is the wait), jobs first otherwise, so that the
    // stream resumes from the job list's index, the older of the two.
    Step first = blocking_index > 0 ? list_allocs : list_jobs;
    Step second = blocking_index > 0 ? list_jobs : list_allocs;
    first([second, finish](Status status) {
      if (!status.ok()) return finish(status);
      second(finish);
    });
  }

  // ---------------------------------------------------------------------------------------------
  // The cache: what this daemon's jobs of this pool look like
  // ---------------------------------------------------------------------------------------------

  // Takes a snapshot into the cache: newer states win (by ModifyIndex), jobs missing from it
  // that were not registered since it was taken are gone, jobs the cache forgot stay forgotten
  // (forgotten()). Reports every job when `report_all`, else only what is new to the cache (core's
  // list() reports the rest itself).
  void apply(const Snapshot& taken, bool report_all) {
    const std::uint64_t taken_at = std::min(taken.jobs_index, taken.allocs_index == 0 ? taken.jobs_index : taken.allocs_index);
    for (const auto& [id, listed] : taken.jobs) {
      if (!ours(listed.identity)) continue;
      auto it = jobs_.find(id);
      const bool inserted = it == jobs_.end();
      if (inserted) {
        if (forgotten(listed)) continue;
        it = jobs_.emplace(id, listed).first;
      } else {
        JobState& job = it->second;
        if (job.create_index == 0) job.create_index = listed.create_index;
        if (listed.modify_index >= job.modify_index) {
          job.modify_index = listed.modify_index;
          job.stopped = listed.stopped;
          job.dead = listed.dead;
        }
        job.alloc_stopped_by_others = job.alloc_stopped_by_others || listed.alloc_stopped_by_others;
        if (listed.alloc) merge_alloc(job, *listed.alloc);
        if (listed.replacement) merge_alloc(job, *listed.replacement);
      }
      if (report_all || inserted) report(it->second);  // may forget it
    }
    // Every job of this pool registered up to here was in this snapshot, so was in the cache.
    known_through_ = std::max(known_through_, taken.jobs_index);
    recovered_.reset();
    std::vector<std::string> removed;
    for (const auto& [id, job] : jobs_) {
      if (taken.jobs.count(id) == 0 && job.modify_index <= taken_at) removed.push_back(id);
    }
    for (const auto& id : removed) report_gone(id);
  }

  // Reports the cached `job`; forgets it when that was its end and Nomad is done with it (so
  // `job` may be gone when this returns).
  void report(JobState& job) {
    if (sink_ == nullptr || stopped_) return;
    const bool killed = killed_.count(job.identity.job_id) > 0;
    sink_->on_observed(pool_, nomad::to_object(job, killed));
    auto replacement = nomad::replacement_object(job);
    if (replacement) sink_->on_observed(pool_, *replacement);
    job.end_reported = nomad::reported_ended(job, killed);
    if (job.end_reported) forget_if_done(job.identity.job_id);
  }

  // Core has been told (by a list() answer) that the cached job `id` ended.
  void end_reported(const std::string& id) {
    auto it = jobs_.find(id);
    if (it == jobs_.end() || !nomad::reported_ended(it->second, killed_.count(id) > 0)) return;
    it->second.end_reported = true;
    forget_if_done(id);
  }

  // Forgets the job `id` once its end has been reported, Nomad is done with it (dead, or stopped
  // with nothing left running) and no kill of Berth's awaits its answer: what Nomad keeps of it
  // until its garbage collection is nothing Berth needs, so the cache holds live executors, not
  // every executor that ever ran.
  void forget_if_done(const std::string& id) {
    auto it = jobs_.find(id);
    if (it == jobs_.end() || !it->second.end_reported || !nomad::settled(it->second) || kills_in_flight_.count(id) > 0) {
      return;
    }
    forgotten_.add(id, nomad::last_index(it->second));
    killed_.erase(id);
    jobs_.erase(it);
  }

  // Whether `listed`, a job of this pool that is not in the cache, is one the cache forgot (or
  // reported gone) and that this snapshot tells nothing new of: settled, or not newer than what
  // was known when it was forgotten (a snapshot taken before its end). A job registered up to the
  // last snapshot applied was in the cache; if it is not now, it left it. Only someone running a
  // forgotten job again makes it news, reported (as live, for core to stop).
  bool forgotten(const JobState& listed) const {
    std::uint64_t known = 0;
    if (const std::uint64_t* index = forgotten_.find(listed.identity.job_id)) {
      known = *index;
    } else if (listed.create_index != 0 && listed.create_index <= known_through_) {
      known = forgotten_.evicted_through();
    } else {
      // Before the first snapshot, after a restart: a job Nomad is done with is news only for an
      // executor core still has live.
      return recovered_ && nomad::settled(listed) && recovered_->count(listed.identity.job_id) == 0;
    }
    return nomad::settled(listed) || nomad::last_index(listed) <= known;
  }

  void kill_answered(const std::string& id, const Status& status) {
    if (auto it = kills_in_flight_.find(id); it != kills_in_flight_.end() && --it->second == 0) kills_in_flight_.erase(it);
    if (!status.ok() && status.code() != StatusCode::kNotFound) killed_.erase(id);
    // Purged: the job is gone as the DELETE returns (no need to ask), and that is the end of
    // Berth's kill.
    if (status.ok() && config_.purge_on_kill) report_gone(id);
    if (jobs_.count(id) > 0) return forget_if_done(id);
    if (forgotten_.contains(id)) killed_.erase(id);  // a kill of what had already ended
  }

  void report_gone(const std::string& id) {
    auto it = jobs_.find(id);
    if (it == jobs_.end()) return;
    const bool by_berth = killed_.erase(id) > 0;
    const BackendObject object = nomad::gone_object(it->second, by_berth);
    forgotten_.add(id, nomad::last_index(it->second));
    jobs_.erase(it);
    if (sink_ != nullptr && !stopped_) sink_->on_observed(pool_, object);
  }

  // Whether a deregistered job still exists (stopped) or was purged.
  void check_job(const std::string& id) {
    net::HttpClientRequest http;
    http.target = "/v1/job/" + percent_encode(id) + "?" + scope_;
    api(std::move(http), [weak = weak_from_this(), id](StatusOr<net::HttpResponse> response) {
      auto self = weak.lock();
      if (!self || !response.ok()) return;  // the next snapshot will tell
      if (response->status == 404) return self->report_gone(id);
      if (response->status != 200) return;
      boost::system::error_code ec;
      json::value body = json::parse(response->body, ec);
      auto it = self->jobs_.find(id);
      if (ec || !body.is_object() || it == self->jobs_.end()) return;
      const std::uint64_t modify = index_of(body.as_object(), "ModifyIndex");
      if (modify < it->second.modify_index) return;
      it->second.modify_index = modify;
      it->second.stopped = stop_of(body.as_object());
      it->second.dead = dead_of(body.as_object());
      self->report(it->second);
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Observation: snapshot, then the event stream (or blocking queries when it is refused)
  // ---------------------------------------------------------------------------------------------

  void set_health(const Status& status) { health_.report(status); }

  void retry_later() {
    ++generation_;
    if (stream_) stream_->cancel();
    stream_.reset();
    retry_timer_.expires_after(backoff_.next());
    const std::uint64_t generation = generation_;
    retry_timer_.async_wait([weak = weak_from_this(), generation](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self || self->stopped_ || generation != self->generation_) return;
      self->resync();
    });
  }

  // A snapshot, then the stream from just after it (or the next blocking query).
  void resync() {
    if (stopped_) return;
    const std::uint64_t generation = ++generation_;
    if (stream_) stream_->cancel();
    stream_.reset();
    auto waiters = resync_waiters_ ? resync_waiters_ : std::make_shared<std::vector<ListDone>>();
    resync_waiters_ = waiters;
    snapshot(0, [weak = weak_from_this(), generation, waiters](StatusOr<Snapshot> taken) {
      auto self = weak.lock();
      if (!self) return;
      if (self->resync_waiters_ == waiters) self->resync_waiters_.reset();
      if (!self->stopped_ && generation == self->generation_) {
        if (taken.ok()) {
          self->apply(*taken, true);
          if (self->polling_) {
            self->set_health(Status::Ok());
            self->backoff_.reset();
            self->poll(taken->allocs_index);
          } else {
            self->start_stream(taken->jobs_index + 1);
          }
        } else {
          self->set_health(taken.status());
          self->retry_later();
        }
      } else if (taken.ok() && !waiters->empty()) {
        self->apply(*taken, false);  // what a list() of its own would have done
      }
      if (waiters->empty()) return;
      std::vector<std::string> ended;
      const StatusOr<std::vector<BackendObject>> answer =
          taken.ok() ? StatusOr<std::vector<BackendObject>>(self->objects_of(*taken, &ended))
                     : StatusOr<std::vector<BackendObject>>(taken.status());
      for (auto& waiter : *waiters) waiter(answer);
      for (const auto& id : ended) self->end_reported(id);
    });
  }

  void poll(std::uint64_t index) {
    if (stopped_) return;
    const std::uint64_t generation = generation_;
    snapshot(std::max<std::uint64_t>(index, 1), [weak = weak_from_this(), generation, index](StatusOr<Snapshot> taken) {
      auto self = weak.lock();
      if (!self || self->stopped_ || generation != self->generation_) return;
      if (!taken.ok()) {
        self->set_health(taken.status());
        return self->retry_later();
      }
      self->set_health(Status::Ok());
      self->backoff_.reset();
      self->apply(*taken, true);
      // An index that went backwards (a restored or new leader) starts over.
      const std::uint64_t next = taken->allocs_index >= index ? taken->allocs_index : 1;
      self->poll(next);
    });
  }

  void start_stream(std::uint64_t from_index) {
    if (stopped_) return;
    const std::uint64_t generation = generation_;
    net::HttpClientRequest http;
    http.target = "/v1/event/stream?" + scope_ + "&index=" + std::to_string(from_index) +
                  "&topic=Job&topic=Allocation&topic=Evaluation";
    stream_status_ = 0;
    stream_error_body_.clear();
    line_buffer_.clear();
    net::StreamCallbacks callbacks;
    callbacks.on_headers = [weak = weak_from_this(), generation](int status, const net::Headers&) {
      auto self = weak.lock();
      if (!self || generation != self->generation_) return;
      self->stream_status_ = status;
      if (status == 200) {
        self->set_health(Status::Ok());
        self->backoff_.reset();
      }
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
    const auto idle = std::chrono::duration_cast<std::chrono::milliseconds>(config_.stream_idle_timeout);
    stream_ = client_->stream(std::move(http), std::move(callbacks), idle);
  }

  void on_stream_data(std::string_view bytes) {
    if (stream_status_ != 200) {
      if (stream_error_body_.size() < 64 * 1024) stream_error_body_.append(bytes);
      return;
    }
    line_buffer_.append(bytes);
    std::size_t start = 0;
    for (;;) {
      const std::size_t end = line_buffer_.find('\n', start);
      if (end == std::string::npos) break;
      const std::string_view line(line_buffer_.data() + start, end - start);
      start = end + 1;
      if (line.find_first_not_of(" \r\t") == std::string_view::npos) continue;
      boost::system::error_code ec;
      json::value frame = json::parse(line, ec);
      if (ec || !frame.is_object()) {
        stream_.reset();
        return retry_later();  // a garbled stream: start over from a snapshot
      }
      on_frame(frame.as_object());
    }
    line_buffer_.erase(0, start);
  }

  void on_stream_end(Status status) {
    stream_.reset();
    if (stream_status_ != 0 && stream_status_ != 200) {
      net::HttpResponse response{stream_status_, {}, stream_error_body_};
      Status error = nomad::status_of(response, "stream events of namespace " + config_.name_space + " of pool " + pool_);
      if (stream_status_ == 400 || stream_status_ == 403 || stream_status_ == 404 || stream_status_ == 405) {
        // No event stream for us (an older agent, or a token without the right to it): the
        // allocation list's blocking queries see the same changes, later and at more cost.
        polling_ = true;
        return resync();
      }
      set_health(error);
      return retry_later();
    }
    if (!status.ok()) {
      set_health(status);
      return retry_later();
    }
    // The server ended the stream (leadership change, token change, slow reader): everything
    // since may be lost, so start again from a snapshot.
    retry_later();
  }

  void on_frame(const json::object& frame) {
    const auto* events = frame.if_contains("Events");
    if (events == nullptr || !events->is_array()) return;  // a heartbeat {}
    for (const auto& item : events->as_array()) {
      if (!item.is_object()) continue;
      const json::object& event = item.as_object();
      const json::object* payload = object_of(event, "Payload");
      if (payload == nullptr) continue;
      const std::string topic = string_of(event, "Topic");
      if (topic == "Allocation") {
        if (const json::object* alloc = object_of(*payload, "Allocation")) on_alloc(*alloc);
      } else if (topic == "Job") {
        if (const json::object* job = object_of(*payload, "Job")) on_job(*job, string_of(event, "Type"));
      } else if (topic == "Evaluation") {
        if (const json::object* eval = object_of(*payload, "Evaluation")) on_eval(*eval);
      }
    }
  }

  void on_job(const json::object& object, const std::string& type) {
    auto identity = nomad::identity_of(object);
    if (!identity || !ours(*identity)) return;
    const std::string id = identity->job_id;
    // Deregistered: stopped or purged by a client (JobDeregistered), or removed by Nomad's garbage
    // collection (JobBatchDeregistered). A job not (or no longer) in the cache that is being
    // deregistered is nothing to report: the event of Berth's own purge can arrive after the purge
    // was reported, and the collector takes only what ended long ago.
    const bool deregistered = type == "JobDeregistered" || type == "JobBatchDeregistered";
    if (deregistered && jobs_.count(id) == 0) return;
    auto it = jobs_.find(id);
    const bool inserted = it == jobs_.end();
    if (inserted) {
      // A job registered before the last snapshot, or forgotten since, that the cache does not
      // hold has ended, and that was reported: what happens to it now is Nomad's bookkeeping.
      const std::uint64_t created = index_of(object, "CreateIndex");
      if (forgotten_.contains(id) || (created != 0 && created <= known_through_)) return;
      it = jobs_.emplace(id, JobState{}).first;
      it->second.identity = std::move(*identity);
      it->second.create_index = created;
    }
    JobState& job = it->second;
    const std::uint64_t modify = index_of(object, "ModifyIndex");
    if (!inserted && modify < job.modify_index) return;
    job.modify_index = std::max(job.modify_index, modify);
    job.stopped = stop_of(object);
    job.dead = dead_of(object);
    if (type == "JobBatchDeregistered") return report_gone(id);  // collected: gone for good
    if (deregistered) {
      job.stopped = true;
      if (killed_.count(id) > 0) {
        // Berth's own DELETE: whether it purged is known, and a stop changes nothing reported
        // while the allocation runs (it reports its own end).
        if (config_.purge_on_kill) return report_gone(id);
        if (job.alloc) return forget_if_done(id);
      } else {
        // Someone else's: stopped, or purged; the event does not say which.
        check_job(id);
      }
    }
    report(job);
  }

  void on_alloc(const json::object& object) {
    auto it = jobs_.find(string_of(object, "JobID"));
    if (it == jobs_.end()) return;  // not one of this daemon's jobs of this pool
    JobState& job = it->second;
    if (merge_alloc(job, nomad::alloc_state(object, executor_task_))) report(job);
  }

  void on_eval(const json::object& eval) {
    auto it = jobs_.find(string_of(eval, "JobID"));
    if (it == jobs_.end()) return;
    JobState& job = it->second;
    const json::object* failed = object_of(eval, "FailedTGAllocs");
    std::string failure;
    if (failed != nullptr && !failed->empty() && failed->begin()->value().is_object()) {
      failure = nomad::placement_failure_text(failed->begin()->value().as_object());
    }
    if (failure.empty() && string_of(eval, "Status") == "blocked") return;  // the blocked eval says nothing new
    if (failure == job.placement_failure) return;
    job.placement_failure = std::move(failure);
    if (!job.alloc) report(job);
  }

  static constexpr std::chrono::seconds kBlockingWait{60};

  boost::asio::any_io_executor executor_;
  PoolName pool_;
  NomadPoolConfig config_;
  std::string daemon_id_;
  std::string job_prefix_;     // "<name_prefix>-": every Berth job ID starts with it
  std::string executor_task_;  // the task whose state is the executor's
  adapters::TimeSource time_;
  adapters::HealthReporter health_;
  std::unique_ptr<net::HttpClient> client_;
  Status init_status_;
  std::string scope_;          // namespace (and region) query parameters
  BackendSink* sink_ = nullptr;
  bool stopped_ = false;

  adapters::CredentialFile token_;
  adapters::Ticker token_refresh_;

  std::uint64_t generation_ = 0;  // of the current snapshot + stream; older callbacks are dropped
  std::shared_ptr<net::HttpStream> stream_;
  int stream_status_ = 0;
  std::string stream_error_body_;
  std::string line_buffer_;
  bool polling_ = false;          // blocking queries instead of the event stream
  // The list() calls answered by the resync snapshot under way (or about to start); null when
  // none is.
  std::shared_ptr<std::vector<ListDone>> resync_waiters_;
  boost::asio::steady_timer retry_timer_;
  adapters::Backoff backoff_;  // of resyncs

  // How many jobs the cache remembers having forgotten, beyond what the indexes tell.
  static constexpr std::size_t kForgottenWindow = 1024;

  std::unordered_map<std::string, JobState> jobs_;  // this daemon's live jobs of this pool (forget_if_done)
  std::set<std::string> killed_;                    // jobs Berth deregistered, until they are forgotten
  std::unordered_map<std::string, int> kills_in_flight_;  // Berth's DELETEs not answered yet, per job
  ForgottenJobs forgotten_{kForgottenWindow};
  // The job list index of the newest snapshot applied: every job of this pool registered up to
  // it has been in the cache.
  std::uint64_t known_through_ = 0;
  // The executors core has live in this pool (recover()), until the first snapshot is applied.
  std::optional<std::set<std::string>> recovered_;
};

NomadBackend::NomadBackend(boost::asio::any_io_executor strand, PoolName pool, NomadPoolConfig config,
                           std::string daemon_id, std::string name_prefix, adapters::TimeSource time)
    : impl_(std::make_shared<Impl>(std::move(strand), std::move(pool), std::move(config), std::move(daemon_id),
                                   std::move(name_prefix), std::move(time))) {}

NomadBackend::~NomadBackend() { impl_->stop(); }

void NomadBackend::recover(const BackendRecovery& recovery) { impl_->recover(recovery); }
void NomadBackend::start(BackendSink* sink) { impl_->start(sink); }
void NomadBackend::stop() { impl_->stop(); }
void NomadBackend::launch(const LaunchRequest& request, Callback<Status> done) {
  impl_->launch(request, std::move(done));
}
void NomadBackend::kill(const KillRequest& request, Callback<Status> done) { impl_->kill(request, std::move(done)); }
void NomadBackend::list(Callback<StatusOr<std::vector<BackendObject>>> done) { impl_->list(std::move(done)); }
std::size_t NomadBackend::cached_jobs() const { return impl_->cached_jobs(); }

std::unique_ptr<Backend> make_nomad_backend(boost::asio::any_io_executor strand, PoolName pool, NomadPoolConfig config,
                                            std::string daemon_id, std::string name_prefix, adapters::TimeSource time) {
  return std::make_unique<NomadBackend>(std::move(strand), std::move(pool), std::move(config), std::move(daemon_id),
                                        std::move(name_prefix), std::move(time));
}

}  // namespace berth
