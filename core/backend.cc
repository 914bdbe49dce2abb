#include "core/backend.h"

#include <string>

#include "core/app_key.h"

namespace berth {

std::map<std::string, std::string> spark_executor_environment(const LaunchRequest& request) {
  std::map<std::string, std::string> env;
  env["SPARK_DRIVER_URL"] = request.driver.url;
  env["SPARK_EXECUTOR_ID"] = std::to_string(request.executor);
  env["SPARK_EXECUTOR_CORES"] = std::to_string(request.profile.cores);
  env["SPARK_EXECUTOR_MEMORY"] = std::to_string(request.profile.heap_mib) + "m";
  env["SPARK_APPLICATION_ID"] = std::string(app_name(request.app));
  env["SPARK_RESOURCE_PROFILE_ID"] = std::to_string(request.profile.id);
  env["SPARK_EXECUTOR_POD_NAME"] = request.backend_name;
  env["BERTH_POOL"] = request.pool;
  env["BERTH_BACKEND_NAME"] = request.backend_name;
  for (const auto& [key, value] : request.spec.env) env[key] = value;
  return env;
}

std::map<std::string, std::string> spark_executor_labels(const LaunchRequest& request) {
  return {{kSparkLabelAppSelector, std::string(app_name(request.app))},
          {kSparkLabelRole, "executor"},
          {kSparkLabelExecId, std::to_string(request.executor)},
          {kSparkLabelProfileId, std::to_string(request.profile.id)}};
}

const char* to_string(ObservedPhase phase) {
  switch (phase) {
    case ObservedPhase::kPending: return "pending";
    case ObservedPhase::kRunning: return "running";
    case ObservedPhase::kExited: return "exited";
    case ObservedPhase::kLost: return "lost";
    case ObservedPhase::kGone: return "gone";
  }
  return "unknown";
}

std::vector<std::string> spark_executor_command(const LaunchRequest& request, const std::string& spark_home,
                                                const std::string& hostname) {
  std::vector<std::string> argv{spark_home + "/bin/spark-class",
                                "org.apache.spark.executor.CoarseGrainedExecutorBackend",
                                "--driver-url",
                                request.driver.url,
                                "--executor-id",
                                std::to_string(request.executor),
                                "--hostname",
                                hostname,
                                "--cores",
                                std::to_string(request.profile.cores),
                                "--app-id",
                                std::string(app_name(request.app)),
                                "--resourceProfileId",
                                std::to_string(request.profile.id)};
  argv.insert(argv.end(), request.spec.args.begin(), request.spec.args.end());
  return argv;
}

}  // namespace berth
