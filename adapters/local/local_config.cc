#include "adapters/local/local_config.h"

#include <cstdlib>
#include <string>

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
  Status status = section.finish();
  if (!status.ok()) return status;
  *out = std::move(parsed);
  return Status::Ok();
}

}  // namespace berth
