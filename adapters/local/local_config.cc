#include "adapters/local/local_config.h"

#include <pwd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "config/section.h"

namespace berth {

Status parse_local_pool(config::Section& section, const std::string& state_dir, const PoolName& pool,
                        LocalPoolConfig* out) {
  LocalPoolConfig parsed;
  const std::string work_dir = section.get_string("work_dir");
  parsed.work_dir = work_dir.empty() ? std::filesystem::path(state_dir) / "local" / pool
                                     : std::filesystem::path(work_dir);
  parsed.poll_interval = section.get_duration("poll_interval", parsed.poll_interval);
  if (parsed.poll_interval < std::chrono::milliseconds(10)) {
    section.error("poll_interval", "must be at least 10ms, got " +
                                       std::to_string(parsed.poll_interval.count()) + "ms");
  }
  if (section.has("inherit_env")) {
    parsed.inherit_env = section.get_string_list("inherit_env");
    for (const auto& name : parsed.inherit_env) {
      if (name.empty() || name.find('=') != std::string::npos) {
        section.error("inherit_env", "\"" + name + "\" is not an environment variable name");
        break;
      }
    }
  }
  const std::string shim_path = section.get_string("shim_path");
  parsed.shim_path = shim_path.empty() ? default_local_exec_path() : std::filesystem::path(shim_path);
  parsed.spark_home = section.get_string("spark_home");
  if (parsed.spark_home.empty()) {
    const char* from_env = std::getenv("SPARK_HOME");
    parsed.spark_home = from_env != nullptr && *from_env != '\0' ? from_env : "/opt/spark";
  }
  parsed.cores = section.get_int("cores", 0, 0, 1'000'000);
  parsed.memory_mib = section.get_int("memory_mib", 0, 0, std::int64_t{1} << 40);
  parsed.run_as = section.get_string("run_as");
  if (!parsed.run_as.empty() && !lookup_user(parsed.run_as)) {
    section.error("run_as", "no user \"" + parsed.run_as + "\" on this host");
  }
  parsed.allow_root = section.get_bool("allow_root", false);
  Status status = section.finish();
  if (!status.ok()) return status;
  *out = std::move(parsed);
  return Status::Ok();
}

std::optional<ExecutorUser> lookup_user(const std::string& name) {
  std::vector<char> buffer(16384);
  passwd entry{};
  passwd* found = nullptr;
  if (::getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 || found == nullptr) {
    return std::nullopt;
  }
  return ExecutorUser{name, found->pw_uid, found->pw_gid};
}

StatusOr<std::optional<ExecutorUser>> executor_user(const LocalPoolConfig& config, uid_t daemon_uid,
                                                    const UserLookup& lookup) {
  if (config.run_as.empty()) {
    if (daemon_uid == 0 && !config.allow_root) {
      return Status::FailedPrecondition(
          "executors would run as root (berthd's user, and no run_as): set run_as: <an unprivileged "
          "user> in the pool's local section, or allow_root: true");
    }
    return std::optional<ExecutorUser>();
  }
  std::optional<ExecutorUser> user = lookup(config.run_as);
  if (!user) return Status::FailedPrecondition("run_as: no user \"" + config.run_as + "\" on this host");
  if (user->uid == 0 && !config.allow_root) {
    return Status::FailedPrecondition("run_as: " + config.run_as +
                                      " is root: executors run as root only with allow_root: true");
  }
  if (user->uid == daemon_uid) return std::optional<ExecutorUser>();
  return user;
}

}  // namespace berth
