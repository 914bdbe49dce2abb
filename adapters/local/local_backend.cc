#include "adapters/local/local_backend.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <system_error>
#include <utility>
#include <vector>

#include "adapters/local/local_files.h"
#include "base/files.h"

extern char** environ;

namespace berth {
namespace {

using local::ExecutorDir;
using local::ExecutorRecord;
using local::ExitRecord;
using local::LaunchRecord;
using local::PidRecord;

// The shim's exit code when it cannot run the command at all; also recorded for a queued
// executor that cannot be started once it fits.
constexpr std::int32_t kExitCannotStart = 125;
constexpr const char* kReasonInsufficientCapacity = "Insufficient capacity";

// A backend name becomes a directory name: one path component, nothing that walks elsewhere.
bool valid_backend_name(const std::string& name) {
  return !name.empty() && name.size() <= 200 && name != "." && name != ".." &&
         name.find('/') == std::string::npos && name.find('\0') == std::string::npos;
}

std::string host_name() {
  char buffer[256] = {};
  if (::gethostname(buffer, sizeof buffer - 1) != 0) return "localhost";
  return buffer;
}

std::string ids(const std::string& backend_name, const PoolName& pool) {
  return "executor " + backend_name + " in pool " + pool;
}

// Whether this process may switch to another user and take care of its processes: root, or
// CAP_SETUID, CAP_SETGID, CAP_CHOWN and CAP_KILL effective (from /proc/self/status).
bool can_switch_users() {
  if (::geteuid() == 0) return true;
  FILE* status = std::fopen("/proc/self/status", "re");
  if (status == nullptr) return false;
  char line[256];
  unsigned long long effective = 0;
  while (std::fgets(line, sizeof line, status) != nullptr) {
    if (std::sscanf(line, "CapEff: %llx", &effective) == 1) break;
  }
  std::fclose(status);
  const unsigned long long needed = (1ULL << 0) | (1ULL << 5) | (1ULL << 6) | (1ULL << 7);
  return (effective & needed) == needed;
}

// <dir>/work, owned by `user` and private to it: the executor's working directory.
Status make_work_dir(const std::filesystem::path& dir, const ExecutorUser& user) {
  const std::filesystem::path work = dir / "work";
  if (::mkdir(work.c_str(), 0700) != 0 && errno != EEXIST) {
    return Status::Unavailable("cannot create " + work.string() + ": " + std::strerror(errno));
  }
  const int fd = ::open(work.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return Status::Unavailable("cannot open " + work.string() + ": " + std::strerror(errno));
  const bool done = ::fchown(fd, user.uid, user.gid) == 0 && ::fchmod(fd, 0700) == 0;
  const int error = errno;
  ::close(fd);
  if (!done) {
    return Status::FailedPrecondition("cannot give " + work.string() + " to user " + user.name + ": " +
                                      std::strerror(error));
  }
  return Status::Ok();
}

std::string count_of(std::int64_t n, const char* singular, const char* plural) {
  return std::to_string(n) + " " + (n == 1 ? singular : plural);
}

// A share of the host's capacity: what an executor needs or what running executors use.
struct Resources {
  std::int64_t cores = 0;
  std::int64_t memory_mib = 0;
};

// posix_spawn's attribute and file-action objects, released on every path.
class SpawnSetup {
 public:
  SpawnSetup() {
    ::posix_spawnattr_init(&attr_);
    ::posix_spawn_file_actions_init(&actions_);
  }
  ~SpawnSetup() {
    ::posix_spawn_file_actions_destroy(&actions_);
    ::posix_spawnattr_destroy(&attr_);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;

  posix_spawnattr_t* attr() { return &attr_; }
  posix_spawn_file_actions_t* actions() { return &actions_; }

 private:
  posix_spawnattr_t attr_;
  posix_spawn_file_actions_t actions_;
};

}  // namespace

class LocalBackend::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(boost::asio::any_io_executor executor, PoolName pool, LocalPoolConfig config,
       std::string daemon_id)
      : executor_(std::move(executor)),
        pool_(std::move(pool)),
        config_(std::move(config)),
        daemon_id_(std::move(daemon_id)),
        host_(host_name()),
        signals_(executor_),
        poll_timer_(executor_) {
    if (config_.shim_path.empty()) config_.shim_path = default_local_exec_path();
    if (config_.poll_interval <= Duration::zero()) config_.poll_interval = std::chrono::seconds(1);
  }

  // Runs `fn(*this)` later on the executor, unless the backend is gone by then.
  template <typename Fn>
  void post(Fn fn) {
    boost::asio::post(executor_, [weak = weak_from_this(), fn = std::move(fn)]() mutable {
      if (auto self = weak.lock()) fn(*self);
    });
  }

  void start(BackendSink* sink) {
    sink_ = sink;
    started_ = true;
    stopped_ = false;
    check_health();
    adopt_running();

    boost::system::error_code signal_ec;
    signals_.add(SIGCHLD, signal_ec);
    // Asio 1.81 installs its handler without SA_RESTART: every exiting executor would interrupt
    // blocking calls on the daemon's other threads with EINTR. Keep its handler, add the flags.
    struct sigaction action;
    if (!signal_ec && ::sigaction(SIGCHLD, nullptr, &action) == 0) {
      action.sa_flags |= SA_RESTART | SA_NOCLDSTOP;
      ::sigaction(SIGCHLD, &action, nullptr);
    }
    wait_for_children();
    // Executors queued before a restart wait on; those that fit now start.
    load_queue();
    report_queued();
    start_queued();
    arm_poll();
  }

  void stop() {
    stopped_ = true;
    boost::system::error_code ec;
    signals_.cancel(ec);
    signals_.clear(ec);
    poll_timer_.cancel();
    for (auto& [name, watched] : watched_) {
      if (watched.force_kill) watched.force_kill->cancel();
    }
  }

  Status launch(const LaunchRequest& request) {
    const std::string& name = request.backend_name;
    const std::string who = "app " + request.app + " executor " + std::to_string(request.executor) +
                            " (" + ids(name, pool_) + ")";
    if (!valid_backend_name(name)) {
      return Status::InvalidArgument("backend name \"" + name + "\" is not a valid directory name for " + who);
    }
    if (Status allowed = check_executor_user(); !allowed.ok()) {
      return Status(allowed.code(), who + ": " + allowed.message());
    }

    const Resources need{request.profile.cores, request.profile.container_memory_mib()};
    if (std::string too_big = exceeds_host(need); !too_big.empty()) {
      return Status::FailedPrecondition(who + " " + too_big);
    }
    std::error_code ec;
    if (Status created = create_private_directories(config_.work_dir.string()); !created.ok()) {
      return Status::Unavailable("work_dir for " + who + ": " + created.message());
    }
    const std::filesystem::path dir = config_.work_dir / name;
    if (::mkdir(dir.c_str(), 0700) == 0) {
      ::chmod(dir.c_str(), 0700);  // the umask may have taken bits away
    } else {
      if (errno != EEXIST) {
        return Status::Unavailable("cannot create " + dir.string() + " for " + who + ": " + std::strerror(errno));
      }
      auto existing = local::read_executor_dir(dir);
      if (existing.ok()) {
        const char* what = existing->exit                              ? "ended"
                           : local::waiting_for_capacity(*existing) ? "waiting for capacity"
                           : local::stopped_while_queued(*existing) ? "stopped before it started"
                                                                    : "started before";
        return Status::AlreadyExists(who + " exists already (daemon " + existing->record.daemon_id + ", " +
                                     what + ")");
      }
      if (existing.status().code() != StatusCode::kNotFound) {
        return Status::AlreadyExists(who + " exists already: " + existing.status().message());
      }
      // No executor.json: an earlier launch stopped before starting anything; take the directory.
    }

    ExecutorRecord record{daemon_id_, pool_, request.app, request.executor, request.profile.id, name,
                          need.cores, need.memory_mib};
    LaunchRecord launch{0, request.spec.command, executor_environment(request)};
    if (launch.command.empty()) {
      // No command: Spark's executor, on this host.
      launch.command = spark_executor_command(request, config_.spark_home, host_name());
    } else {
      launch.command.insert(launch.command.end(), request.spec.args.begin(), request.spec.args.end());
    }

    // First in, first out: a launch waits while earlier ones do, even if it would fit itself.
    load_queue();
    start_queued();
    if (limited() && (!queue_.empty() || !fits(need, used_by_running()))) {
      return enqueue(record, std::move(launch), who);
    }

    Status written = local::write_file_atomic(dir / local::kExecutorFile, local::encode_executor_record(record));
    if (!written.ok()) return Status::Unavailable(written.message() + " for " + who);
    std::filesystem::remove(dir / local::kQueuedFile, ec);  // left by a launch that never finished

    auto spawned = spawn_shim(launch, dir);
    if (!spawned.ok()) {
      // Nothing runs: forget the executor so that the launch can be tried again.
      std::filesystem::remove(dir / local::kExecutorFile, ec);
      return Status(spawned.status().code(), spawned.status().message() + " for " + who);
    }
    BackendObject object = local::base_object(record);
    object.host = host_;
    report(object);
    started(record, *spawned);
    return Status::Ok();
  }

  Status kill(const KillRequest& request) {
    auto target = live_target(request.backend_name, "kill");
    if (!target.ok()) return target.status();
    // Ended already (its end is observed normally), or never started.
    if (!target->has_value()) return stop_if_queued(request.backend_name);
    const ExecutorDir& dir = **target;
    const std::string& name = request.backend_name;
    Status marked = local::write_file_atomic(config_.work_dir / name / local::kStopFile, "");
    if (!marked.ok()) return Status::Unavailable(marked.message() + " for " + ids(name, pool_));

    Watched& watched = watch(name, dir);
    if (request.grace <= Duration::zero()) return signal_group(name, watched.pid, SIGKILL);
    Status sent = signal_group(name, watched.pid, SIGTERM);
    if (!sent.ok()) return sent;
    auto deadline = boost::asio::steady_timer::clock_type::now() + request.grace;
    if (!watched.force_kill) {
      watched.force_kill = std::make_unique<boost::asio::steady_timer>(executor_);
    } else if (watched.force_kill->expiry() <= deadline) {
      return Status::Ok();  // an earlier kill forces it sooner
    }
    watched.force_kill->expires_at(deadline);
    watched.force_kill->async_wait([weak = weak_from_this(), name](const boost::system::error_code& ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->force_kill(name);
    });
    return Status::Ok();
  }

  Status decommission(const std::string& name) {
    auto target = live_target(name, "decommission");
    if (!target.ok()) return target.status();
    if (!target->has_value()) return Status::Ok();
    Status marked = local::write_file_atomic(config_.work_dir / name / local::kDecommissionFile, "");
    if (!marked.ok()) return Status::Unavailable(marked.message() + " for " + ids(name, pool_));
    Watched& watched = watch(name, **target);
    return signal_group(name, watched.pid, SIGPWR);
  }

  StatusOr<std::vector<BackendObject>> list() {
    check_all();  // starts what fits, too
    load_queue();
    const Resources used = queue_.empty() ? Resources{} : used_by_running();
    std::vector<BackendObject> objects;
    std::error_code ec;
    std::filesystem::directory_iterator it(config_.work_dir, ec);
    if (ec == std::errc::no_such_file_or_directory) return objects;
    if (ec) {
      return Status::Unavailable("cannot list work_dir " + config_.work_dir.string() + " of pool " +
                                 pool_ + ": " + ec.message());
    }
    for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
      if (ec) {
        return Status::Unavailable("cannot list work_dir " + config_.work_dir.string() + " of pool " +
                                   pool_ + ": " + ec.message());
      }
      std::error_code type_ec;
      if (!it->is_directory(type_ec)) continue;
      const std::string name = it->path().filename().string();
      auto dir = local::read_executor_dir(it->path());
      if (!dir.ok()) continue;  // not an executor, or a launch that never started one
      BackendObject object;
      if (dir->exit) {
        object = local::exited_object(*dir, *dir->exit);
      } else if (dir->pid && local::process_alive(*dir->pid)) {
        object = local::base_object(*dir);
        object.phase = ObservedPhase::kRunning;
        if (started_ && !stopped_ && dir->record.daemon_id == daemon_id_) watch(name, *dir);
      } else if (local::waiting_for_capacity(*dir)) {
        object = queued_object(dir->record, used);
      } else if (local::stopped_while_queued(*dir)) {
        object = local::stopped_while_queued_object(dir->record);
      } else {
        object = local::base_object(*dir);
        object.phase = ObservedPhase::kExited;
        object.reason = "ended while the daemon was not watching";
        object.message = "executor " + name + " ended without an exit record while berthd was not watching";
      }
      object.host = host_;
      objects.push_back(std::move(object));
    }
    return objects;
  }

 private:
  struct Watched {
    PidRecord pid;
    ExecutorRecord record;
    std::unique_ptr<boost::asio::steady_timer> force_kill;
  };

  // ---- Capacity -------------------------------------------------------------------------------

  bool limited() const { return config_.cores > 0 || config_.memory_mib > 0; }

  bool fits(const Resources& need, const Resources& used) const {
    return (config_.cores == 0 || used.cores + need.cores <= config_.cores) &&
           (config_.memory_mib == 0 || used.memory_mib + need.memory_mib <= config_.memory_mib);
  }

  // Why an executor can never fit on this host, or "" when it can.
  std::string exceeds_host(const Resources& need) const {
    std::string why;
    if (config_.cores > 0 && need.cores > config_.cores) {
      why = "needs " + count_of(need.cores, "core", "cores") + ", more than the " +
            std::to_string(config_.cores) + " of pool " + pool_ + " on host " + host_;
    } else if (config_.memory_mib > 0 && need.memory_mib > config_.memory_mib) {
      why = "needs " + std::to_string(need.memory_mib) + " MiB of memory, more than the " +
            std::to_string(config_.memory_mib) + " MiB of pool " + pool_ + " on host " + host_;
    }
    return why;
  }

  // What the running executors of every daemon id use, from their directories: an executor counts
  // from the moment its pid file names a live process until that process ends.
  Resources used_by_running() const {
    Resources used;
    std::error_code ec;
    for (std::filesystem::directory_iterator it(config_.work_dir, ec), end; !ec && it != end;
         it.increment(ec)) {
      auto dir = local::read_executor_dir(it->path());
      if (!dir.ok() || dir->exit || !dir->pid || !local::process_alive(*dir->pid)) continue;
      used.cores += dir->record.cores;
      used.memory_mib += dir->record.memory_mib;
    }
    return used;
  }

  // What a queued executor waits for: "needs 4 cores, 2 of 8 free on host X".
  std::string shortage(const ExecutorRecord& record, const Resources& used) const {
    std::vector<std::string> parts;
    if (config_.cores > 0 && used.cores + record.cores > config_.cores) {
      parts.push_back("needs " + count_of(record.cores, "core", "cores") + ", " +
                      std::to_string(std::max<std::int64_t>(0, config_.cores - used.cores)) + " of " +
                      std::to_string(config_.cores) + " free");
    }
    if (config_.memory_mib > 0 && used.memory_mib + record.memory_mib > config_.memory_mib) {
      parts.push_back("needs " + std::to_string(record.memory_mib) + " MiB of memory, " +
                      std::to_string(std::max<std::int64_t>(0, config_.memory_mib - used.memory_mib)) +
                      " of " + std::to_string(config_.memory_mib) + " MiB free");
    }
    std::size_t ahead = 0;
    for (const auto& [sequence, queued] : queue_) {
      if (queued.backend_name == record.backend_name) break;
      ++ahead;
    }
    if (ahead > 0) {
      parts.push_back((parts.empty() ? "fits, but waits behind " : "behind ") +
                      count_of(static_cast<std::int64_t>(ahead), "executor", "executors") +
                      " queued before it");
    }
    std::string message;
    for (const auto& part : parts) message += (message.empty() ? "" : " and ") + part;
    if (message.empty()) message = "waits for capacity";
    return message + " on host " + host_;
  }

  BackendObject queued_object(const ExecutorRecord& record, const Resources& used) const {
    BackendObject object = local::base_object(record);
    object.phase = ObservedPhase::kPending;
    object.host = host_;
    object.reason = kReasonInsufficientCapacity;
    object.message = record.daemon_id == daemon_id_ ? shortage(record, used)
                                                     : "waits for capacity, queued by daemon " + record.daemon_id;
    return object;
  }

  // ---- The queue ------------------------------------------------------------------------------
  // queue_ holds this daemon's waiting executors by launch order; their directories hold the
  // truth (local_files.h), so a new backend on the same work_dir rebuilds it in load_queue().

  // Records a launch that does not fit (or must wait behind earlier ones) and reports it pending.
  Status enqueue(const ExecutorRecord& record, LaunchRecord launch, const std::string& who) {
    const std::filesystem::path dir = config_.work_dir / record.backend_name;
    launch.sequence = next_sequence_++;
    // The launch record first: executor.json makes the executor exist, and it must exist queued.
    Status written = local::write_file_atomic(dir / local::kQueuedFile, local::encode_launch_record(launch), 0600);
    if (written.ok()) {
      written = local::write_file_atomic(dir / local::kExecutorFile, local::encode_executor_record(record));
    }
    if (!written.ok()) {
      std::error_code ec;
      std::filesystem::remove(dir / local::kQueuedFile, ec);
      return Status::Unavailable(written.message() + " for " + who);
    }
    const Resources used = used_by_running();
    queue_.emplace(launch.sequence, record);
    report(queued_object(record, used));
    return Status::Ok();
  }

  // Finds this daemon's waiting executors left by an earlier backend on the same work_dir. Runs
  // once, before the queue is first used.
  void load_queue() {
    if (queue_loaded_) return;
    queue_loaded_ = true;
    std::error_code ec;
    std::vector<std::pair<ExecutorRecord, Status>> unreadable;
    for (std::filesystem::directory_iterator it(config_.work_dir, ec), end; !ec && it != end;
         it.increment(ec)) {
      auto dir = local::read_executor_dir(it->path());
      if (!dir.ok() || dir->record.daemon_id != daemon_id_ || !local::waiting_for_capacity(*dir)) continue;
      auto launch = local::read_launch_record(it->path());
      if (!launch.ok()) {
        unreadable.emplace_back(dir->record, launch.status());
        continue;
      }
      queue_.emplace(launch->sequence, dir->record);
      next_sequence_ = std::max(next_sequence_, launch->sequence + 1);
    }
    for (const auto& [record, status] : unreadable) cannot_start(record, status);
  }

  // Reports every queued executor pending (at start, for a new backend's sink).
  void report_queued() {
    if (queue_.empty()) return;
    const Resources used = used_by_running();
    for (const auto& [sequence, record] : queue_) report(queued_object(record, used));
  }

  // Starts queued executors, oldest first, while the oldest fits: strict first in, first out, so
  // a large executor is never overtaken for ever by small ones (at the price of idle capacity
  // while it waits). An executor that can never fit is refused at launch, so the head of the
  // queue always fits once enough running executors end.
  void start_queued() {
    if (stopped_ || queue_.empty()) return;
    Resources used = used_by_running();
    while (!queue_.empty()) {
      auto head = queue_.begin();
      const ExecutorRecord record = head->second;
      if (!fits(Resources{record.cores, record.memory_mib}, used)) return;
      Status status = start_from_queue(record);
      if (status.code() == StatusCode::kUnavailable) return;  // retried by the next poll, in place
      queue_.erase(head);
      if (status.ok()) {
        used.cores += record.cores;
        used.memory_mib += record.memory_mib;
      }
    }
  }

  // Starts one queued executor. kUnavailable (it stays queued) when the shim cannot be started
  // for now; any other error ends the executor.
  Status start_from_queue(const ExecutorRecord& record) {
    const std::string& name = record.backend_name;
    const std::filesystem::path dir_path = config_.work_dir / name;
    auto dir = local::read_executor_dir(dir_path);
    if (!dir.ok()) {
      BackendObject gone = local::base_object(record);
      gone.phase = ObservedPhase::kGone;
      gone.deleted_externally = true;
      gone.reason = "removed";
      gone.message = "the directory of executor " + name + " was removed while it waited for capacity: " +
                     dir.status().message();
      gone.host = host_;
      report(gone);
      return Status::NotFound(gone.message);
    }
    if (!local::waiting_for_capacity(*dir)) return Status::FailedPrecondition("not waiting");
    auto launch = local::read_launch_record(dir_path);
    if (!launch.ok()) return cannot_start(record, launch.status());
    auto spawned = spawn_shim(*launch, dir_path);
    if (!spawned.ok()) {
      if (spawned.status().code() == StatusCode::kUnavailable) return spawned.status();
      return cannot_start(record, spawned.status());
    }
    started(record, *spawned);
    return Status::Ok();
  }

  // A queued executor that will never start: recorded as the shim records a command it cannot
  // run (exit code 125, the reason in executor.log), and reported ended.
  Status cannot_start(const ExecutorRecord& record, const Status& why) {
    const std::filesystem::path dir = config_.work_dir / record.backend_name;
    const std::string message = "cannot start " + ids(record.backend_name, pool_) + ": " + why.message();
    if (StatusOr<int> log = open_or_create((dir / local::kLogFile).string(), O_WRONLY | O_APPEND, 0600); log.ok()) {
      const std::string line = "berthd: " + message + "\n";
      (void)!::write(*log, line.data(), line.size());
      ::close(*log);
    }
    const ExitRecord exit{kExitCannotStart, 0};
    local::write_file_atomic(dir / local::kExitFile, local::encode_exit_record(exit));
    BackendObject object =
        local::exited_object(ExecutorDir{record, std::nullopt, exit, false, false, true}, exit);
    object.message = message;
    object.host = host_;
    report(object);
    return Status::FailedPrecondition(message);
  }

  // kill() of an executor without a live process: if it waits for capacity, it leaves the queue
  // and is reported ended (Berth's doing, so not deleted externally); the stop file records that
  // it must never start. OK either way.
  Status stop_if_queued(const std::string& name) {
    load_queue();
    auto it = std::find_if(queue_.begin(), queue_.end(),
                           [&](const auto& entry) { return entry.second.backend_name == name; });
    if (it == queue_.end()) return Status::Ok();
    Status marked = local::write_file_atomic(config_.work_dir / name / local::kStopFile, "");
    if (!marked.ok()) return Status::Unavailable(marked.message() + " for " + ids(name, pool_));
    BackendObject object = local::stopped_while_queued_object(it->second);
    object.host = host_;
    queue_.erase(it);
    report(object);
    start_queued();  // it may have held up the ones behind it
    return Status::Ok();
  }

  // Records a started shim, watches it and reports the executor running.
  void started(const ExecutorRecord& record, pid_t spawned) {
    const std::filesystem::path dir = config_.work_dir / record.backend_name;
    PidRecord pid{spawned, 0};
    if (auto stat = local::read_proc_stat(pid.pid)) pid.start_time = stat->start_time;
    // The shim writes the same record itself; a failure here loses nothing that it does not have.
    local::write_file_atomic(dir / local::kPidFile, local::encode_pid_record(pid));
    watched_[record.backend_name] = Watched{pid, record, nullptr};
    BackendObject object = local::base_object(record);
    object.phase = ObservedPhase::kRunning;
    object.host = host_;
    report(object);
  }

  // ---- Reporting and signals ------------------------------------------------------------------

  void report(BackendObject object) {
    post([object = std::move(object)](Impl& self) {
      if (self.sink_ != nullptr && !self.stopped_) self.sink_->on_observed(self.pool_, object);
    });
  }

  Watched& watch(const std::string& name, const ExecutorDir& dir) {
    auto it = watched_.find(name);
    if (it != watched_.end()) return it->second;
    return watched_[name] = Watched{*dir.pid, dir.record, nullptr};
  }

  // For kill and decommission: the executor's directory if its process runs, nullopt if it ended.
  StatusOr<std::optional<ExecutorDir>> live_target(const std::string& name, const char* verb) {
    if (!valid_backend_name(name)) {
      return Status::NotFound(std::string("cannot ") + verb + " " + ids(name, pool_) + ": no such executor");
    }
    auto dir = local::read_executor_dir(config_.work_dir / name);
    if (!dir.ok()) {
      if (dir.status().code() == StatusCode::kNotFound) {
        return Status::NotFound(std::string("cannot ") + verb + " " + ids(name, pool_) + ": no such executor");
      }
      return Status::FailedPrecondition(std::string("cannot ") + verb + " " + ids(name, pool_) + ": " +
                                        dir.status().message());
    }
    if (dir->record.daemon_id != daemon_id_) {
      return Status::FailedPrecondition(std::string("cannot ") + verb + " " + ids(name, pool_) +
                                        ": it belongs to daemon " + dir->record.daemon_id);
    }
    if (dir->exit || !dir->pid || !local::process_alive(*dir->pid)) return std::optional<ExecutorDir>();
    return std::optional<ExecutorDir>(std::move(dir).value());
  }

  Status signal_group(const std::string& name, const PidRecord& pid, int signal) {
    if (::killpg(pid.pid, signal) == 0 || errno == ESRCH) return Status::Ok();
    return Status::Internal("cannot send signal " + std::to_string(signal) + " to " + ids(name, pool_) +
                            " (process group " + std::to_string(pid.pid) + "): " + std::strerror(errno));
  }

  void force_kill(const std::string& name) {
    auto it = watched_.find(name);
    if (it == watched_.end()) return;  // ended and reported already
    auto stat = local::read_proc_stat(it->second.pid.pid);
    if (!stat || stat->start_time != it->second.pid.start_time) return;
    signal_group(name, it->second.pid, SIGKILL);
  }

  // The inherited variables, then Spark's and the spec's on top.
  std::map<std::string, std::string> executor_environment(const LaunchRequest& request) const {
    std::map<std::string, std::string> env;
    for (const auto& name : config_.inherit_env) {
      if (const char* value = std::getenv(name.c_str())) env[name] = value;
    }
    for (auto& [key, value] : spark_executor_environment(request)) env[key] = std::move(value);
    return env;
  }

  // Starts the shim in a process group of its own; returns its pid.
  // Who executors run as, refused (kFailedPrecondition naming the setting) when it is root
  // without allow_root, or another user berthd cannot switch to.
  StatusOr<std::optional<ExecutorUser>> resolve_executor_user() const {
    auto user = executor_user(config_, ::geteuid());
    if (!user.ok() || !user->has_value()) return user;
    if (!can_switch_users()) {
      return Status::FailedPrecondition("run_as: berthd (uid " + std::to_string(::geteuid()) +
                                        ") cannot run executors as " + (*user)->name +
                                        ": it must be root or hold CAP_SETUID, CAP_SETGID, "
                                        "CAP_CHOWN and CAP_KILL");
    }
    return user;
  }
  Status check_executor_user() const { return resolve_executor_user().status(); }

  StatusOr<pid_t> spawn_shim(const LaunchRecord& launch, const std::filesystem::path& dir) {
    auto user = resolve_executor_user();
    if (!user.ok()) return user.status();
    if (user->has_value()) {
      if (Status work = make_work_dir(dir, **user); !work.ok()) return work;
    }
    std::vector<std::string> env_strings;
    env_strings.reserve(launch.env.size());
    for (const auto& [key, value] : launch.env) env_strings.push_back(key + "=" + value);
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);

    std::vector<std::string> args;
    args.push_back(config_.shim_path.string());
    if (user->has_value()) {
      args.push_back("--run-as");
      args.push_back((*user)->name);
    }
    args.push_back(dir.string());
    for (const auto& a : launch.command) args.push_back(a);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    SpawnSetup setup;
    // Own process group; every signal at its default whatever the daemon set, and the signals
    // Berth sends to the group blocked: the shim passes early ones on to the executor.
    sigset_t all;
    sigset_t blocked;
    sigfillset(&all);
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGTERM);
    sigaddset(&blocked, SIGINT);
    sigaddset(&blocked, SIGPWR);
    ::posix_spawnattr_setflags(setup.attr(), POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
                                                 POSIX_SPAWN_SETSIGMASK);
    ::posix_spawnattr_setpgroup(setup.attr(), 0);
    ::posix_spawnattr_setsigdefault(setup.attr(), &all);
    ::posix_spawnattr_setsigmask(setup.attr(), &blocked);
    // The log is created here, 0600 whatever the umask; the child only opens it.
    const std::string log = (dir / local::kLogFile).string();
    StatusOr<int> log_fd = open_or_create(log, O_WRONLY | O_APPEND, 0600);
    if (!log_fd.ok()) return Status::Unavailable(log_fd.status().message());
    ::close(*log_fd);
    ::posix_spawn_file_actions_addopen(setup.actions(), 0, "/dev/null", O_RDONLY, 0);
    ::posix_spawn_file_actions_addopen(setup.actions(), 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    ::posix_spawn_file_actions_adddup2(setup.actions(), 1, 2);
    ::posix_spawn_file_actions_addclosefrom_np(setup.actions(), 3);  // the daemon's sockets stay home

    pid_t pid = 0;
    int rc = ::posix_spawn(&pid, argv[0], setup.actions(), setup.attr(), argv.data(), envp.data());
    if (rc != 0) {
      std::string message = "cannot start " + config_.shim_path.string() + ": " + std::strerror(rc);
      if (rc == EAGAIN || rc == ENOMEM) return Status::Unavailable(message);
      return Status::FailedPrecondition(message);
    }
    return pid;
  }

  // Watches the running executors of this daemon id left by an earlier daemon.
  void adopt_running() {
    std::error_code ec;
    for (std::filesystem::directory_iterator it(config_.work_dir, ec), end; !ec && it != end;
         it.increment(ec)) {
      auto dir = local::read_executor_dir(it->path());
      if (!dir.ok() || dir->record.daemon_id != daemon_id_ || dir->exit || !dir->pid) continue;
      if (!local::process_alive(*dir->pid)) continue;  // list() reports how it ended
      const std::string name = it->path().filename().string();
      if (watched_.count(name) != 0) continue;
      watch(name, *dir);
      BackendObject object = local::base_object(*dir);
      object.phase = ObservedPhase::kRunning;
      object.host = host_;
      report(object);
    }
  }

  // The pool is healthy when its work_dir exists; reported at start and on every change.
  void check_health() {
    Status health = Status::Ok();
    if (Status created = create_private_directories(config_.work_dir.string()); !created.ok()) {
      health = Status::Unavailable("work_dir of pool " + pool_ + ": " + created.message());
    }
    if (health_reported_ && health.ok() == healthy_) return;
    health_reported_ = true;
    healthy_ = health.ok();
    post([health](Impl& self) {
      if (self.sink_ != nullptr && !self.stopped_) self.sink_->on_health(self.pool_, health);
    });
  }

  void wait_for_children() {
    signals_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec, int) {
      if (ec) return;
      auto self = weak.lock();
      if (!self || self->stopped_) return;
      self->check_all();
      self->wait_for_children();
    });
  }

  void arm_poll() {
    poll_timer_.expires_after(config_.poll_interval);
    poll_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      if (ec) return;
      auto self = weak.lock();
      if (!self || self->stopped_) return;
      self->check_all();
      if (!self->healthy_) self->check_health();
      self->arm_poll();
    });
  }

  // Reports the watched executors that ended, then starts the queued ones that fit now (after a
  // poll, also those that fit because another daemon's executor ended).
  void check_all() {
    for (auto it = watched_.begin(); it != watched_.end();) {
      if (auto ended = check(it->first, it->second)) {
        report(std::move(*ended));
        it = watched_.erase(it);
      } else {
        ++it;
      }
    }
    start_queued();
  }

  // The executor's end, or nullopt while it runs.
  std::optional<BackendObject> check(const std::string& name, const Watched& watched) {
    const pid_t pid = watched.pid.pid;
    std::optional<int> wait_status;
    auto stat = local::read_proc_stat(pid);
    // Only a pid with the recorded start time is ours (alive or a zombie): waitpid on anything
    // else could reap a stranger that reused the pid.
    if (stat && stat->start_time == watched.pid.start_time) {
      int status = 0;
      pid_t reaped;
      do {
        reaped = ::waitpid(pid, &status, WNOHANG);
      } while (reaped < 0 && errno == EINTR);
      if (reaped == 0) return std::nullopt;  // our child, running
      if (reaped == pid) {
        wait_status = status;
      } else if (stat->state != 'Z' && stat->state != 'X') {
        return std::nullopt;  // adopted, running
      }
    }

    const std::filesystem::path dir_path = config_.work_dir / name;
    auto dir = local::read_executor_dir(dir_path);
    if (!dir.ok()) {
      BackendObject gone = local::base_object(watched.record);
      gone.phase = ObservedPhase::kGone;
      gone.deleted_externally = true;
      gone.reason = "removed";
      gone.message = "the directory of executor " + name + " was removed: " + dir.status().message();
      gone.host = host_;
      return gone;
    }
    ExitRecord exit;
    if (dir->exit) {
      exit = *dir->exit;
    } else {
      // The shim always records the executor's end unless it is killed itself, which only SIGKILL
      // does; record what is known so that later lists agree with this report.
      if (wait_status && WIFSIGNALED(*wait_status)) {
        exit = ExitRecord{128 + WTERMSIG(*wait_status), WTERMSIG(*wait_status)};
      } else if (wait_status && WIFEXITED(*wait_status)) {
        exit = ExitRecord{WEXITSTATUS(*wait_status), 0};
      } else {
        exit = ExitRecord{128 + SIGKILL, SIGKILL};
      }
      local::write_file_atomic(dir_path / local::kExitFile, local::encode_exit_record(exit));
    }
    BackendObject object = local::exited_object(*dir, exit);
    object.host = host_;
    return object;
  }

  boost::asio::any_io_executor executor_;
  const PoolName pool_;
  LocalPoolConfig config_;
  const std::string daemon_id_;
  const std::string host_;
  boost::asio::signal_set signals_;
  boost::asio::steady_timer poll_timer_;
  BackendSink* sink_ = nullptr;
  bool started_ = false;
  bool health_reported_ = false;
  bool healthy_ = false;
  bool stopped_ = false;
  std::map<std::string, Watched> watched_;
  std::map<std::uint64_t, ExecutorRecord> queue_;  // by launch sequence
  std::uint64_t next_sequence_ = 1;
  bool queue_loaded_ = false;
};

LocalBackend::LocalBackend(boost::asio::any_io_executor executor, PoolName pool, LocalPoolConfig config,
                           std::string daemon_id)
    : spark_home_(config.spark_home),
      impl_(std::make_shared<Impl>(std::move(executor), std::move(pool), std::move(config),
                                   std::move(daemon_id))) {}

LocalBackend::~LocalBackend() { impl_->stop(); }

Status LocalBackend::check_launch(const LaunchSpec& spec) const {
  if (!spec.command.empty()) return Status::Ok();
  const std::string spark_class = spark_home_ + "/bin/spark-class";
  if (::access(spark_class.c_str(), X_OK) == 0) return Status::Ok();
  return Status::InvalidArgument("launch.command: empty, and Spark's executor is not installed here (" + spark_class +
                                 " is not an executable file): give the executor's command (berthctl app register "
                                 "APP -- COMMAND ...), or set the pool's spark_home (or SPARK_HOME) to a Spark "
                                 "installation");
}

void LocalBackend::start(BackendSink* sink) { impl_->start(sink); }

void LocalBackend::stop() { impl_->stop(); }

// Each verb runs later on the executor, in call order, and completes as soon as it has run: core
// learns that a launch was accepted before it observes the executor pending or running (those
// reports are posted while the launch runs).
void LocalBackend::launch(const LaunchRequest& request, Callback<Status> done) {
  impl_->post([request, done = std::move(done)](Impl& impl) mutable { done(impl.launch(request)); });
}

void LocalBackend::kill(const KillRequest& request, Callback<Status> done) {
  impl_->post([request, done = std::move(done)](Impl& impl) mutable { done(impl.kill(request)); });
}

void LocalBackend::decommission(const std::string& backend_name, Callback<Status> done) {
  impl_->post([backend_name, done = std::move(done)](Impl& impl) mutable {
    done(impl.decommission(backend_name));
  });
}

void LocalBackend::list(Callback<StatusOr<std::vector<BackendObject>>> done) {
  impl_->post([done = std::move(done)](Impl& impl) mutable { done(impl.list()); });
}

std::unique_ptr<Backend> make_local_backend(boost::asio::any_io_executor executor, PoolName pool,
                                            LocalPoolConfig config, std::string daemon_id) {
  return std::make_unique<LocalBackend>(std::move(executor), std::move(pool), std::move(config),
                                        std::move(daemon_id));
}

}  // namespace berth
