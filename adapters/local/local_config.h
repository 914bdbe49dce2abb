#pragma once
// LocalPoolConfig: the settings of one pool of the local backend (executors as processes on the
// daemon's host), and the parser of its `local:` section.
//
// Plain values; parse_local_pool is not thread-safe (config is read at start-up and on SIGHUP).

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

#include "base/status.h"
#include "core/types.h"

namespace berth::config {
class Section;
}

namespace berth {

struct LocalPoolConfig {
  // Executors live in <work_dir>/<backend_name>/. The pool owns this directory.
  std::filesystem::path work_dir;
  // How often processes that are not the daemon's children (adopted after a restart) are checked.
  Duration poll_interval{std::chrono::seconds(1)};
  // Variables of the daemon's environment that executors inherit; everything else is dropped.
  std::vector<std::string> inherit_env{"PATH", "HOME", "LANG", "JAVA_HOME", "SPARK_HOME"};
  // The supervisor shim; empty = default_local_exec_path().
  std::filesystem::path shim_path;
  // What the executors of this host may use together; 0 = unlimited. An executor needs its
  // profile's cores and container memory (heap + overhead + off-heap + pyspark); one that does
  // not fit beside the running executors (of every daemon id) waits, PENDING, until it does.
  std::int64_t cores = 0;
  std::int64_t memory_mib = 0;
  // Where Spark is installed: an application that names no command runs Spark's executor
  // (spark_executor_command) from <spark_home>/bin/spark-class.
  std::string spark_home = "/opt/spark";  // parse_local_pool: the key, else $SPARK_HOME
  // The user executors run as: "" = berthd's own. Another user needs berthd to be root (or to
  // hold CAP_SETUID, CAP_SETGID, CAP_CHOWN and CAP_KILL); the shim takes that user's uid, gid
  // and groups before it runs the executor, in <executor dir>/work owned by that user.
  std::string run_as;
  // Executors never run as root (uid 0: run_as root, or berthd running as root with no run_as)
  // unless this is set: a launch is refused, naming the setting.
  bool allow_root = false;
};

// A user of the host, as the local backend switches to it.
struct ExecutorUser {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  bool operator==(const ExecutorUser&) const = default;
};
using UserLookup = std::function<std::optional<ExecutorUser>(const std::string& name)>;
// getpwnam(3).
std::optional<ExecutorUser> lookup_user(const std::string& name);

// Who executors of a pool with `config` run as, when berthd runs as `daemon_uid`: nullopt = as
// berthd itself (no switch), else the user the shim switches to (run_as, when it is not berthd's
// own uid). Errors: kFailedPrecondition naming the setting when run_as names no user, or when the
// executors would run as root without allow_root: true.
StatusOr<std::optional<ExecutorUser>> executor_user(const LocalPoolConfig& config, uid_t daemon_uid,
                                                    const UserLookup& lookup = lookup_user);

// `berth-local-exec` in the directory of the running executable (/proc/self/exe): the shim is
// installed next to berthd.
std::filesystem::path default_local_exec_path();

// Reads a pool's `local:` section. Keys: work_dir (default <state_dir>/local/<pool>),
// poll_interval (default 1s, at least 10ms), inherit_env (a list of variable names),
// shim_path (default default_local_exec_path()), cores and memory_mib (default 0 = unlimited, at
// least 0), spark_home (default $SPARK_HOME, else /opt/spark), run_as (default "": berthd's user;
// a user of this host) and allow_root (default false). Unknown keys and bad values are
// kInvalidArgument naming file:line:col and the key.
Status parse_local_pool(config::Section& section, const std::string& state_dir,
                        const PoolName& pool, LocalPoolConfig* out);

}  // namespace berth
