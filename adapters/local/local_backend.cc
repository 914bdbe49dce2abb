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
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <system_error>
#include <utility>

#include "adapters/local/local_files.h"

extern char** environ;

namespace berth {
namespace {

using local::ExecutorDir;
using local::ExecutorRecord;
using local::ExitRecord;
using local::PidRecord;

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

  template <typename T>
  void complete(Callback<T> done, T result) {
    post([done = std::move(done), result = std::move(result)](Impl&) mutable {
      done(std::move(result));
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
    if (request.spec.command.empty()) {
      return Status::InvalidArgument("launch.command is empty for " + who);
    }
    std::error_code ec;
    std::filesystem::create_directories(config_.work_dir, ec);
    if (ec) {
      return Status::Unavailable("cannot create work_dir " + config_.work_dir.string() + " for " + who +
                                 ": " + ec.message());
    }
    const std::filesystem::path dir = config_.work_dir / name;
    if (::mkdir(dir.c_str(), 0755) != 0) {
      if (errno != EEXIST) {
        return Status::Unavailable("cannot create " + dir.string() + " for " + who + ": " + std::strerror(errno));
      }
      auto existing = local::read_executor_dir(dir);
      if (existing.ok()) {
        return Status::AlreadyExists(who + " exists already (daemon " + existing->record.daemon_id + ", " +
                                     (existing->exit ? "ended" : "started before") + ")");
      }
      if (existing.status().code() != StatusCode::kNotFound) {
        return Status::AlreadyExists(who + " exists already: " + existing.status().message());
      }
      // No executor.json: an earlier launch stopped before starting anything; take the directory.
    }

    ExecutorRecord record{daemon_id_, pool_, request.app, request.executor, request.profile.id, name};
    Status written = local::write_file_atomic(dir / local::kExecutorFile, local::encode_executor_record(record));
    if (!written.ok()) return Status::Unavailable(written.message() + " for " + who);

    auto spawned = spawn_shim(request, dir);
    if (!spawned.ok()) {
      // Nothing runs: forget the executor so that the launch can be tried again.
      std::filesystem::remove(dir / local::kExecutorFile, ec);
      return Status(spawned.status().code(), spawned.status().message() + " for " + who);
    }
    PidRecord pid{*spawned, 0};
    if (auto stat = local::read_proc_stat(pid.pid)) pid.start_time = stat->start_time;
    // The shim writes the same record itself; a failure here loses nothing that it does not have.
    local::write_file_atomic(dir / local::kPidFile, local::encode_pid_record(pid));

    watched_[name] = Watched{pid, record, nullptr};
    ExecutorDir view{record, pid, std::nullopt, false, false};
    BackendObject object = local::base_object(view);
    object.host = host_;
    report(object);
    object.phase = ObservedPhase::kRunning;
    report(object);
    return Status::Ok();
  }

  Status kill(const KillRequest& request) {
    auto target = live_target(request.backend_name, "kill");
    if (!target.ok()) return target.status();
    if (!target->has_value()) return Status::Ok();  // ended already; its end is observed normally
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
    check_all();
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

  // Starts the shim in a process group of its own; returns its pid.
  StatusOr<pid_t> spawn_shim(const LaunchRequest& request, const std::filesystem::path& dir) {
    std::map<std::string, std::string> env;
    for (const auto& name : config_.inherit_env) {
      if (const char* value = std::getenv(name.c_str())) env[name] = value;
    }
    for (auto& [key, value] : spark_executor_environment(request)) env[key] = std::move(value);
    std::vector<std::string> env_strings;
    env_strings.reserve(env.size());
    for (const auto& [key, value] : env) env_strings.push_back(key + "=" + value);
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);

    std::vector<std::string> args;
    args.push_back(config_.shim_path.string());
    args.push_back(dir.string());
    for (const auto& a : request.spec.command) args.push_back(a);
    for (const auto& a : request.spec.args) args.push_back(a);
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
    const std::string log = (dir / local::kLogFile).string();
    ::posix_spawn_file_actions_addopen(setup.actions(), 0, "/dev/null", O_RDONLY, 0);
    ::posix_spawn_file_actions_addopen(setup.actions(), 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
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
    std::error_code ec;
    std::filesystem::create_directories(config_.work_dir, ec);
    Status health = Status::Ok();
    if (ec) {
      health = Status::Unavailable("cannot create work_dir " + config_.work_dir.string() +
                                   " of pool " + pool_ + ": " + ec.message());
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

  void check_all() {
    for (auto it = watched_.begin(); it != watched_.end();) {
      if (auto ended = check(it->first, it->second)) {
        report(std::move(*ended));
        it = watched_.erase(it);
      } else {
        ++it;
      }
    }
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
      BackendObject gone = local::base_object(ExecutorDir{watched.record, watched.pid, std::nullopt, false, false});
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
};

LocalBackend::LocalBackend(boost::asio::any_io_executor executor, PoolName pool, LocalPoolConfig config,
                           std::string daemon_id)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(pool), std::move(config),
                                   std::move(daemon_id))) {}

LocalBackend::~LocalBackend() { impl_->stop(); }

void LocalBackend::start(BackendSink* sink) { impl_->start(sink); }

void LocalBackend::stop() { impl_->stop(); }

void LocalBackend::launch(const LaunchRequest& request, Callback<Status> done) {
  impl_->complete(std::move(done), impl_->launch(request));
}

void LocalBackend::kill(const KillRequest& request, Callback<Status> done) {
  impl_->complete(std::move(done), impl_->kill(request));
}

void LocalBackend::decommission(const std::string& backend_name, Callback<Status> done) {
  impl_->complete(std::move(done), impl_->decommission(backend_name));
}

void LocalBackend::list(Callback<StatusOr<std::vector<BackendObject>>> done) {
  impl_->complete(std::move(done), impl_->list());
}

std::unique_ptr<Backend> make_local_backend(boost::asio::any_io_executor executor, PoolName pool,
                                            LocalPoolConfig config, std::string daemon_id) {
  return std::make_unique<LocalBackend>(std::move(executor), std::move(pool), std::move(config),
                                        std::move(daemon_id));
}

}  // namespace berth
