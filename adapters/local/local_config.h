#pragma once
// LocalPoolConfig: the settings of one pool of the local backend (executors as processes on the
// daemon's host), and the parser of its `local:` section.
//
// Plain values; parse_local_pool is not thread-safe (config is read at start-up and on SIGHUP).

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

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
};

// `berth-local-exec` in the directory of the running executable (/proc/self/exe): the shim is
// installed next to berthd.
std::filesystem::path default_local_exec_path();

// Reads a pool's `local:` section. Keys: work_dir (default <state_dir>/local/<pool>),
// poll_interval (default 1s, at least 10ms), inherit_env (a list of variable names),
// shim_path (default default_local_exec_path()), cores and memory_mib (default 0 = unlimited, at
// least 0), spark_home (default $SPARK_HOME, else /opt/spark). Unknown keys and bad values are
// kInvalidArgument naming file:line:col and the key.
Status parse_local_pool(config::Section& section, const std::string& state_dir,
                        const PoolName& pool, LocalPoolConfig* out);

}  // namespace berth
