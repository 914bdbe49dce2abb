#pragma once
// The on-disk layout of one local executor and how to read it, without Asio. Each executor owns a
// directory <work_dir>/<backend_name>/ holding:
//
//   executor.json   who it is (daemon id, pool, app, executor id, profile id, backend name);
//                   written before the process is started
//   pid             "<pid> <start time>": the supervisor shim's pid and its start time (field 22
//                   of /proc/<pid>/stat), so that a recycled pid is never mistaken for it
//   exit            "exit_code=N\nsignal=S\n", written by the shim when the executor ended
//   executor.log    the executor's stdout and stderr
//   stop            present once Berth asked the executor to stop (SIGTERM, then SIGKILL)
//   decommission    present once Berth asked the executor to decommission (SIGPWR)
//
// Small files are replaced atomically (write a temporary file, then rename). They are not
// fsynced: local executors do not survive the loss of their host either.
//
// Free functions, safe to call from any thread.

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "core/backend.h"
#include "core/status.h"

namespace berth::local {

inline constexpr const char* kExecutorFile = "executor.json";
inline constexpr const char* kPidFile = "pid";
inline constexpr const char* kExitFile = "exit";
inline constexpr const char* kLogFile = "executor.log";
inline constexpr const char* kStopFile = "stop";
inline constexpr const char* kDecommissionFile = "decommission";

struct ExecutorRecord {
  std::string daemon_id;
  PoolName pool;
  AppId app;
  ExecutorId executor = 0;
  ProfileId profile = 0;
  std::string backend_name;
  bool operator==(const ExecutorRecord&) const = default;
};
std::string encode_executor_record(const ExecutorRecord& record);
// kInvalidArgument when `json` is not an executor record.
StatusOr<ExecutorRecord> decode_executor_record(std::string_view json);

struct PidRecord {
  pid_t pid = 0;
  std::uint64_t start_time = 0;  // clock ticks after boot, /proc/<pid>/stat field 22
  bool operator==(const PidRecord&) const = default;
};
std::string encode_pid_record(const PidRecord& record);
std::optional<PidRecord> decode_pid_record(std::string_view text);

struct ExitRecord {
  std::int32_t exit_code = 0;  // 128 + signal when killed by a signal, as a shell reports it
  std::int32_t signal = 0;     // 0 when the executor exited on its own
  bool operator==(const ExitRecord&) const = default;
};
std::string encode_exit_record(const ExitRecord& record);
std::optional<ExitRecord> decode_exit_record(std::string_view text);

struct ProcStat {
  char state = '?';  // R, S, D, Z (zombie), X (dead) ...
  std::uint64_t start_time = 0;
};
// Parses the content of /proc/<pid>/stat (the command name may hold spaces and parentheses).
std::optional<ProcStat> parse_proc_stat(std::string_view text);
std::optional<ProcStat> read_proc_stat(pid_t pid);

// The process of `record` still runs: /proc/<pid>/stat exists with the same start time and the
// process is not a zombie.
bool process_alive(const PidRecord& record);

std::optional<std::string> read_small_file(const std::filesystem::path& path);
// Writes `content` to a temporary file beside `path` and renames it over `path`.
Status write_file_atomic(const std::filesystem::path& path, std::string_view content);

// Everything known about one executor directory.
struct ExecutorDir {
  ExecutorRecord record;
  std::optional<PidRecord> pid;
  std::optional<ExitRecord> exit;
  bool stop_requested = false;
  bool decommission_requested = false;
};
// kNotFound when `dir` holds no executor.json (no executor, or a launch that never got as far as
// starting a process); kInvalidArgument when executor.json cannot be parsed.
StatusOr<ExecutorDir> read_executor_dir(const std::filesystem::path& dir);

// Whether Berth sent `signal` to the executor, judged by the markers in its directory.
bool signal_sent_by_berth(const ExecutorDir& dir, int signal);

// The object for an executor whose process ended, from its exit record: exit code, reason
// ("exited", "killed" for SIGKILL, else "signal N") and deleted_externally when the signal was not
// Berth's.
BackendObject exited_object(const ExecutorDir& dir, const ExitRecord& exit);
// The identity fields of a BackendObject, phase left pending.
BackendObject base_object(const ExecutorDir& dir);

}  // namespace berth::local
