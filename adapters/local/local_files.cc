#include "adapters/local/local_files.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <system_error>
#include <vector>

#include "adapters/local/local_config.h"
#include "base/files.h"

namespace berth {

std::filesystem::path default_local_exec_path() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "berth-local-exec";
  return self.parent_path() / "berth-local-exec";
}

}  // namespace berth

namespace berth::local {
namespace {

namespace json = boost::json;

template <typename T>
bool parse_number(std::string_view text, T* out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\n' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string encode_executor_record(const ExecutorRecord& record) {
  json::object o;
  o["version"] = 1;
  o["daemon_id"] = record.daemon_id;
  o["pool"] = record.pool;
  o["app"] = record.app;
  o["executor"] = record.executor;
  o["profile"] = record.profile;
  o["backend_name"] = record.backend_name;
  o["cores"] = record.cores;
  o["memory_mib"] = record.memory_mib;
  return json::serialize(o) + "\n";
}

StatusOr<ExecutorRecord> decode_executor_record(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return Status::InvalidArgument("executor record is not JSON: " + ec.message());
  const json::object* o = v.if_object();
  if (o == nullptr) return Status::InvalidArgument("executor record is not a JSON object");
  ExecutorRecord r;
  auto get_string = [&](const char* key, std::string* out) {
    const json::value* f = o->if_contains(key);
    if (f == nullptr || !f->is_string()) return false;
    *out = std::string(f->get_string());
    return true;
  };
  auto get_int = [&](const char* key, std::int64_t* out) {
    const json::value* f = o->if_contains(key);
    if (f == nullptr || !f->is_int64()) return false;
    *out = f->get_int64();
    return true;
  };
  std::int64_t profile = 0;
  if (!get_string("daemon_id", &r.daemon_id) || !get_string("pool", &r.pool) ||
      !get_string("app", &r.app) || !get_int("executor", &r.executor) ||
      !get_int("profile", &profile) || !get_string("backend_name", &r.backend_name)) {
    return Status::InvalidArgument("executor record lacks a field or has a field of the wrong type");
  }
  r.profile = static_cast<ProfileId>(profile);
  // Absent in records written before capacity was tracked: such executors count as needing nothing.
  if ((o->contains("cores") && !get_int("cores", &r.cores)) ||
      (o->contains("memory_mib") && !get_int("memory_mib", &r.memory_mib))) {
    return Status::InvalidArgument("executor record has a field of the wrong type");
  }
  return r;
}

std::string encode_launch_record(const LaunchRecord& record) {
  json::object o;
  o["version"] = 1;
  o["sequence"] = record.sequence;
  json::array command;
  for (const auto& arg : record.command) command.emplace_back(arg);
  o["command"] = std::move(command);
  json::object env;
  for (const auto& [key, value] : record.env) env[key] = value;
  o["env"] = std::move(env);
  return json::serialize(o) + "\n";
}

StatusOr<LaunchRecord> decode_launch_record(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return Status::InvalidArgument("launch record is not JSON: " + ec.message());
  const json::object* o = v.if_object();
  if (o == nullptr) return Status::InvalidArgument("launch record is not a JSON object");
  const json::value* sequence = o->if_contains("sequence");
  const json::value* command = o->if_contains("command");
  const json::value* env = o->if_contains("env");
  if (sequence == nullptr || !sequence->is_number() || command == nullptr || !command->is_array() ||
      env == nullptr || !env->is_object()) {
    return Status::InvalidArgument("launch record lacks a field or has a field of the wrong type");
  }
  LaunchRecord r;
  r.sequence = sequence->to_number<std::uint64_t>(ec);
  if (ec) return Status::InvalidArgument("launch record: sequence is not a non-negative integer");
  for (const json::value& arg : command->get_array()) {
    if (!arg.is_string()) return Status::InvalidArgument("launch record: command holds a non-string");
    r.command.emplace_back(arg.get_string());
  }
  for (const auto& [key, value] : env->get_object()) {
    if (!value.is_string()) return Status::InvalidArgument("launch record: env holds a non-string");
    r.env.emplace(std::string(key), std::string(value.get_string()));
  }
  return r;
}

std::string encode_pid_record(const PidRecord& record) {
  return std::to_string(record.pid) + " " + std::to_string(record.start_time) + "\n";
}

std::optional<PidRecord> decode_pid_record(std::string_view text) {
  text = trim(text);
  auto space = text.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  PidRecord r;
  if (!parse_number(text.substr(0, space), &r.pid) ||
      !parse_number(trim(text.substr(space + 1)), &r.start_time) || r.pid <= 0) {
    return std::nullopt;
  }
  return r;
}

std::string encode_exit_record(const ExitRecord& record) {
  return "exit_code=" + std::to_string(record.exit_code) + "\nsignal=" + std::to_string(record.signal) +
         "\n";
}

std::optional<ExitRecord> decode_exit_record(std::string_view text) {
  ExitRecord r;
  bool have_code = false;
  while (!text.empty()) {
    auto eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    auto eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = line.substr(0, eq);
    std::string_view value = trim(line.substr(eq + 1));
    if (key == "exit_code") {
      if (!parse_number(value, &r.exit_code)) return std::nullopt;
      have_code = true;
    } else if (key == "signal") {
      if (!parse_number(value, &r.signal)) return std::nullopt;
    }
  }
  if (!have_code) return std::nullopt;
  return r;
}

std::optional<ProcStat> parse_proc_stat(std::string_view text) {
  // "<pid> (<comm>) <state> <ppid> ...": comm may contain anything, so split after the last ')'.
  auto close = text.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  std::string_view rest = text.substr(close + 1);
  std::vector<std::string_view> fields;
  while (!rest.empty()) {
    while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\n')) rest.remove_prefix(1);
    if (rest.empty()) break;
    auto end = rest.find_first_of(" \n");
    fields.push_back(rest.substr(0, end));
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  }
  // fields[0] is field 3 (state), so field 22 (starttime) is fields[19].
  if (fields.size() < 20 || fields[0].size() != 1) return std::nullopt;
  ProcStat stat;
  stat.state = fields[0][0];
  if (!parse_number(fields[19], &stat.start_time)) return std::nullopt;
  return stat;
}

std::optional<ProcStat> read_proc_stat(pid_t pid) {
  auto text = read_small_file("/proc/" + std::to_string(pid) + "/stat");
  if (!text) return std::nullopt;
  return parse_proc_stat(*text);
}

bool process_alive(const PidRecord& record) {
  auto stat = read_proc_stat(record.pid);
  return stat && stat->start_time == record.start_time && stat->state != 'Z' && stat->state != 'X';
}

std::optional<std::string> read_small_file(const std::filesystem::path& path, std::size_t max_bytes) {
  StatusOr<std::string> content = read_regular_file(path.string(), max_bytes);
  if (!content.ok()) return std::nullopt;
  return std::move(*content);
}

Status write_file_atomic(const std::filesystem::path& path, std::string_view content, mode_t mode) {
  // The writer's pid in the temporary name: the shim and the daemon may both write the pid file.
  std::filesystem::path tmp = path;
  tmp += ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) {
    return Status::Unavailable("cannot create " + tmp.string() + ": " + std::strerror(errno));
  }
  if (::fchmod(fd, mode) != 0) {  // the umask may have taken bits away; a leftover may have others
    int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return Status::Unavailable("cannot set the mode of " + tmp.string() + ": " + std::strerror(err));
  }
  const char* data = content.data();
  std::size_t left = content.size();
  while (left > 0) {
    ssize_t n = ::write(fd, data, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return Status::Unavailable("cannot write " + tmp.string() + ": " + std::strerror(err));
    }
    data += n;
    left -= static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return Status::Unavailable("cannot rename " + tmp.string() + ": " + std::strerror(err));
  }
  return Status::Ok();
}

StatusOr<ExecutorDir> read_executor_dir(const std::filesystem::path& dir) {
  auto json_text = read_regular_file((dir / kExecutorFile).string(), kMaxRecordBytes);
  if (!json_text.ok()) {
    if (json_text.status().code() == StatusCode::kNotFound) {
      return Status::NotFound("no " + std::string(kExecutorFile) + " in " + dir.string());
    }
    return Status::InvalidArgument(json_text.status().message());
  }
  auto record = decode_executor_record(*json_text);
  if (!record.ok()) {
    return Status::InvalidArgument(dir.string() + "/" + kExecutorFile + ": " + record.status().message());
  }
  ExecutorDir result;
  result.record = std::move(record).value();
  if (auto pid = read_small_file(dir / kPidFile)) result.pid = decode_pid_record(*pid);
  if (auto exit = read_small_file(dir / kExitFile)) result.exit = decode_exit_record(*exit);
  std::error_code ec;
  result.stop_requested = std::filesystem::exists(dir / kStopFile, ec);
  result.decommission_requested = std::filesystem::exists(dir / kDecommissionFile, ec);
  result.queued = std::filesystem::exists(dir / kQueuedFile, ec);
  return result;
}

StatusOr<LaunchRecord> read_launch_record(const std::filesystem::path& dir) {
  auto text = read_regular_file((dir / kQueuedFile).string(), kMaxLaunchRecordBytes);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) {
      return Status::NotFound("no " + std::string(kQueuedFile) + " in " + dir.string());
    }
    return Status::InvalidArgument(text.status().message());
  }
  auto record = decode_launch_record(*text);
  if (!record.ok()) {
    return Status::InvalidArgument(dir.string() + "/" + kQueuedFile + ": " + record.status().message());
  }
  return record;
}

bool waiting_for_capacity(const ExecutorDir& dir) {
  return dir.queued && !dir.pid && !dir.exit && !dir.stop_requested;
}

bool stopped_while_queued(const ExecutorDir& dir) {
  return dir.queued && !dir.pid && !dir.exit && dir.stop_requested;
}

bool signal_sent_by_berth(const ExecutorDir& dir, int signal) {
  if (signal == SIGTERM || signal == SIGKILL) return dir.stop_requested;
  if (signal == SIGPWR) return dir.decommission_requested;
  return false;
}

BackendObject base_object(const ExecutorRecord& record) {
  BackendObject o;
  o.backend_name = record.backend_name;
  o.daemon_id = record.daemon_id;
  o.app = record.app;
  o.executor = record.executor;
  o.profile = record.profile;
  return o;
}

BackendObject base_object(const ExecutorDir& dir) { return base_object(dir.record); }

BackendObject stopped_while_queued_object(const ExecutorRecord& record) {
  BackendObject o = base_object(record);
  o.phase = ObservedPhase::kExited;
  o.reason = "cancelled";
  o.message = "executor " + record.backend_name + " was stopped while it waited for capacity; it never started";
  return o;
}

BackendObject exited_object(const ExecutorDir& dir, const ExitRecord& exit) {
  BackendObject o = base_object(dir);
  o.phase = ObservedPhase::kExited;
  o.exit_code = exit.exit_code;
  if (exit.signal == SIGKILL) {
    o.reason = "killed";
    o.message = "executor " + dir.record.backend_name + " was killed (SIGKILL)";
    o.deleted_externally = !signal_sent_by_berth(dir, exit.signal);
  } else if (exit.signal != 0) {
    o.reason = "signal " + std::to_string(exit.signal);
    o.message = "executor " + dir.record.backend_name + " was killed by signal " +
                std::to_string(exit.signal) + " (" + ::strsignal(exit.signal) + ")";
    o.deleted_externally = !signal_sent_by_berth(dir, exit.signal);
  } else {
    o.reason = "exited";
    o.message = "executor " + dir.record.backend_name + " exited with code " + std::to_string(exit.exit_code);
  }
  return o;
}

}  // namespace berth::local
