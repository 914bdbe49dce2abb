#pragma once
// The on-disk layout of one local executor and how to read it, without Asio. Each executor owns a
// directory <work_dir>/<backend_name>/ holding:
//
//   executor.json   who it is (daemon id, pool, app, executor id, profile id, backend name) and
//                   what it needs (cores, container memory); written before the process is started
//   queued          present while the executor waits for host capacity (LocalPoolConfig cores,
//                   memory_mib): what to start once it fits (command, environment) and its place
//                   in the queue; written before executor.json, mode 0600 (the environment may
//                   hold secrets). An executor is waiting while it has this file and no pid file
//                   and no stop file; with a stop file and no pid file, it was stopped before it
//                   ever started.
//   pid             "<pid> <start time>": the supervisor shim's pid and its start time (field 22
//                   of /proc/<pid>/stat), so that a recycled pid is never mistaken for it
//   exit            "exit_code=N\nsignal=S\n", written by the shim when the executor ended
//   executor.log    the executor's stdout and stderr
//   stop            present once Berth asked the executor to stop (SIGTERM, then SIGKILL)
//   decommission    present once Berth asked the executor to decommission (SIGPWR)
//
// The directory is 0700 and every file in it 0600, whatever berthd's umask: the records name the
// executor and its command, the log may hold anything the executor prints.
//
// Small files are replaced atomically (write a temporary file, then rename). They are not
// fsynced: local executors do not survive the loss of their host either. They are read back only
// if they are regular files within a cap (kMaxRecordBytes, kMaxLaunchRecordBytes): anything else
// in their place is an error naming the file, never an endless read.
//
// Free functions, safe to call from any thread.

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/backend.h"
#include "base/status.h"

namespace berth::local {

inline constexpr const char* kExecutorFile = "executor.json";
inline constexpr const char* kPidFile = "pid";
inline constexpr const char* kExitFile = "exit";
inline constexpr const char* kLogFile = "executor.log";
inline constexpr const char* kStopFile = "stop";
inline constexpr const char* kDecommissionFile = "decommission";
inline constexpr const char* kQueuedFile = "queued";

struct ExecutorRecord {
  std::string daemon_id;
  PoolName pool;
  AppId app;
  ExecutorId executor = 0;
  ProfileId profile = 0;
  std::string backend_name;
  std::int64_t cores = 0;       // what it takes of the host's capacity; 0 in records written
  std::int64_t memory_mib = 0;  // before capacity was tracked
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

// What a queued executor is started with once it fits.
struct LaunchRecord {
  std::uint64_t sequence = 0;        // launch order among the daemon's queued executors
  std::vector<std::string> command;  // the executor's command line (spec command, then args)
  std::map<std::string, std::string> env;
  bool operator==(const LaunchRecord&) const = default;
};
std::string encode_launch_record(const LaunchRecord& record);
// kInvalidArgument when `json` is not a launch record.
StatusOr<LaunchRecord> decode_launch_record(std::string_view json);

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

// Caps of the files read back: executor.json, pid, exit (and /proc/<pid>/stat); queued, which holds
// a command line and environment of up to 256 x 8 KiB arguments and 256 x 32 KiB values, JSON-escaped.
inline constexpr std::size_t kMaxRecordBytes = 64 * 1024;
inline constexpr std::size_t kMaxLaunchRecordBytes = 64 * 1024 * 1024;

// The content of the regular file `path`, at most `max_bytes`; nullopt when it cannot be read,
// is not a regular file or is larger.
std::optional<std::string> read_small_file(const std::filesystem::path& path, std::size_t max_bytes = kMaxRecordBytes);
// Writes `content` to a temporary file beside `path` (created with exactly `mode`, whatever the
// umask) and renames it over `path`.
Status write_file_atomic(const std::filesystem::path& path, std::string_view content, mode_t mode = 0600);

// Everything known about one executor directory.
struct ExecutorDir {
  ExecutorRecord record;
  std::optional<PidRecord> pid;
  std::optional<ExitRecord> exit;
  bool stop_requested = false;
  bool decommission_requested = false;
  bool queued = false;  // the queued file exists (its content is read by read_launch_record)
};
// kNotFound when `dir` holds no executor.json (no executor, or a launch that never got as far as
// starting a process); kInvalidArgument when executor.json is not a regular file, is larger than
// kMaxRecordBytes or cannot be parsed.
StatusOr<ExecutorDir> read_executor_dir(const std::filesystem::path& dir);

// The launch record of a queued executor. kNotFound when there is none; kInvalidArgument when it is
// not a regular file, is larger than kMaxLaunchRecordBytes or cannot be parsed.
StatusOr<LaunchRecord> read_launch_record(const std::filesystem::path& dir);

// Queued and not started (no pid file), ended (exit file) or stopped (stop file) yet.
bool waiting_for_capacity(const ExecutorDir& dir);
// Queued and stopped by Berth before it ever started.
bool stopped_while_queued(const ExecutorDir& dir);

// Whether Berth sent `signal` to the executor, judged by the markers in its directory.
bool signal_sent_by_berth(const ExecutorDir& dir, int signal);

// The object for an executor whose process ended, from its exit record: exit code, reason
// ("exited", "killed" for SIGKILL, else "signal N") and deleted_externally when the signal was not
// Berth's.
BackendObject exited_object(const ExecutorDir& dir, const ExitRecord& exit);
// The object for an executor stopped while it was queued: ended, no exit code, reason
// "cancelled", not deleted externally (Berth stopped it).
BackendObject stopped_while_queued_object(const ExecutorRecord& record);
// The identity fields of a BackendObject, phase left pending.
BackendObject base_object(const ExecutorRecord& record);
BackendObject base_object(const ExecutorDir& dir);

}  // namespace berth::local
