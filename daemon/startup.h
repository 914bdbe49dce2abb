#pragma once
// Start-up policy of berthd, apart from its wiring in main.cc: one daemon per state directory
// (StateDirLock), which daemon id a start uses and making it durable (choose_daemon_id,
// save_daemon_id), and what a SIGHUP applies to the running config (apply_reload).

#include <sys/types.h>

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "config/config.h"
#include "base/status.h"
#include "core/store.h"

namespace berth {

// StateDirLock: the exclusive lock that makes a berthd the only writer of its state directory.
// It is a flock(2) on <state_dir>/berthd.lock, taken before the store is opened and held until
// the object is destroyed (for the daemon, the life of the process). The holder's pid is written
// into the file for the message a second daemon prints; it is only informative. The kernel
// releases the lock when the holder exits, however it exits, so a file left behind by a daemon
// killed with SIGKILL does not block the next start. The file is never removed (removing it
// would let two daemons lock two different files of the same name).
//
// The descriptor is close-on-exec: processes the daemon starts (local executors, which outlive
// it) never inherit the lock.
//
// Not thread-safe; move-only.
class StateDirLock {
 public:
  static constexpr const char* kFileName = "berthd.lock";

  // Creates `state_dir` when missing (0700, and its missing parents), then locks its lock file
  // without waiting, creating it 0600 (whatever the umask) when missing.
  // Errors: kFailedPrecondition when another process holds the lock, naming the directory and
  // the holder's pid (as written in the file); kUnavailable when the directory or the file cannot
  // be created, opened or locked.
  static StatusOr<StateDirLock> acquire(const std::string& state_dir);

  StateDirLock(StateDirLock&& other) noexcept;
  StateDirLock& operator=(StateDirLock&& other) noexcept;
  StateDirLock(const StateDirLock&) = delete;
  StateDirLock& operator=(const StateDirLock&) = delete;
  ~StateDirLock();  // releases the lock

  // The lock file's path.
  const std::string& path() const { return path_; }

 private:
  StateDirLock(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}

  std::string path_;
  int fd_ = -1;
};

// The pid written in the lock file at `path`, if it holds one.
std::optional<pid_t> read_lock_holder(const std::string& path);

// A new daemon id: "d" and 12 random hex digits, a valid label value on every backend.
std::string new_daemon_id();

struct DaemonIdChoice {
  std::string id;
  bool stored = false;  // already in the store; when false, save it before serving
};

// The daemon id this start uses: the store's (meta kMetaDaemonId), else the configured one,
// else `generate()`. `store_path` names the store in errors.
// Errors: kFailedPrecondition when the config names a daemon id that differs from the store's
// (this daemon would otherwise adopt, or delete as orphans, another daemon's executors).
StatusOr<DaemonIdChoice> choose_daemon_id(const std::string& configured,
                                          const std::map<std::string, std::string>& stored_meta,
                                          const std::string& store_path,
                                          const std::function<std::string()>& generate);

// Commits the daemon id to the store and waits until it is durable.
// Errors: the store's, when the commit fails.
Status save_daemon_id(Store& store, const std::string& daemon_id);

// What a SIGHUP does to the running config. Plans the reload (config::plan_reload) and, when
// something may change, copies into `running` what may change at run time: the log level, the
// tokens, and the limits of the tenants that exist in both. Everything else stays as started and
// is listed in the plan's needs_restart. The caller applies `running` to the logger, the
// authenticator and the engine when the plan's changes are not empty.
config::ReloadPlan apply_reload(config::Config& running, const config::Config& reloaded);

// Whether a listen address can be bound now: checked before the backends start, so a daemon
// whose address is taken exits before it touches any backend. kUnavailable names `what` (e.g.
// "listen") and the address.
// - "host:port", "[v6]:port": the port must be free; port 0 always passes.
// - "unix:/path": nothing there passes. A socket file that a process answers on (a live berthd)
//   fails the start; one nobody answers on, left by a daemon that died, is removed. Any other file
//   there fails the start (it is never removed).
// - "unix-abstract:name" always passes.
Status check_port_free(const std::string& what, const std::string& address);

// Unix socket listeners. berthd binds `path` with umask 0117 around the bind (so that the socket
// is never more open than 0660, even for a moment), then fixes its mode to 0660 with
// restrict_unix_socket: berthd's user and group may connect, nobody else. Its group is berthd's
// (or the directory's, when that directory is set-group-ID).
class SocketUmask {
 public:
  SocketUmask();  // umask(0117)
  ~SocketUmask();  // the previous umask
  SocketUmask(const SocketUmask&) = delete;
  SocketUmask& operator=(const SocketUmask&) = delete;

 private:
  mode_t previous_;
};
// chmod 0660 of the socket at `path`. kUnavailable when it is not a socket or cannot be changed.
Status restrict_unix_socket(const std::string& path);
// At a clean exit: removes the socket at `path` (only a socket, never another file).
void remove_unix_socket(const std::string& path);

}  // namespace berth
