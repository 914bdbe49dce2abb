#include "adapters/kubernetes/pod_spec.h"

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <set>

#include "core/app_key.h"

namespace berth::kubernetes {
namespace {

namespace json = boost::json;

std::string hash_suffix(std::string_view text) {
  std::uint64_t hash = 1469598103934665603ULL;  // FNV-1a
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  char buffer[17];
  std::snprintf(buffer, sizeof buffer, "%016llx", static_cast<unsigned long long>(hash));
  return std::string(buffer, 10);
}

bool alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

bool valid_label_value(std::string_view value) {
  if (value.empty()) return true;
  if (value.size() > 63 || !alnum(value.front()) || !alnum(value.back())) return false;
  for (char c : value) {
    if (!alnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

bool valid_subdomain(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
    if (!ok) return false;
  }
  auto lower_alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  return lower_alnum(name.front()) && lower_alnum(name.back());
}

// Keeps `keep(c)` characters, maps the others to '-', trims non-alphanumerics at both ends.
template <typename Keep>
std::string clean(std::string_view text, Keep keep, std::size_t max) {
  std::string out;
  for (char c : text) out.push_back(keep(c) ? c : '-');
  if (out.size() > max) out.resize(max);
  while (!out.empty() && !alnum(out.back())) out.pop_back();
  std::size_t first = 0;
  while (first < out.size() && !alnum(out[first])) ++first;
  return out.substr(first);
}

json::object* object_at(json::object& parent, const char* key) {
  json::value& value = parent[key];
  if (!value.is_object()) value = json::object();
  return &value.as_object();
}

json::array* array_at(json::object& parent, const char* key) {
  json::value& value = parent[key];
  if (!value.is_array()) value = json::array();
  return &value.as_array();
}

std::string mebibytes(std::int64_t mib) { return std::to_string(mib) + "Mi"; }

std::string millicores(std::int64_t milli) {
  if (milli % 1000 == 0) return std::to_string(milli / 1000);
  return std::to_string(milli) + "m";
}

// The executor container of `spec`: by name, else the first one, else a new one.
json::object& executor_container(json::object& spec, const std::string& name, std::string* chosen) {
  json::array& containers = *array_at(spec, "containers");
  for (auto& container : containers) {
    if (container.is_object()) {
      const auto* n = container.as_object().if_contains("name");
      if (n != nullptr && n->is_string() && n->as_string() == name) {
        *chosen = name;
        return container.as_object();
      }
    }
  }
  if (!containers.empty() && containers.front().is_object()) {
    json::object& first = containers.front().as_object();
    const auto* n = first.if_contains("name");
    if (n == nullptr || !n->is_string() || n->as_string().empty()) first["name"] = name;
    *chosen = std::string(first["name"].as_string());
    return first;
  }
  containers.push_back(json::object{{"name", name}});
  *chosen = name;
  return containers.back().as_object();
}

}  // namespace

std::string label_value(std::string_view value) {
  if (valid_label_value(value)) return std::string(value);
  auto keep = [](char c) { return alnum(c) || c == '-' || c == '_' || c == '.'; };
  std::string cleaned = clean(value, keep, 63 - 11);
  return cleaned.empty() ? "x" + hash_suffix(value) : cleaned + "-" + hash_suffix(value);
}

std::string pod_name(std::string_view backend_name) {
  if (valid_subdomain(backend_name)) return std::string(backend_name);
  std::string lowered;
  for (char c : backend_name) lowered.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  auto keep = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'; };
  std::string cleaned = clean(lowered, keep, 253 - 11);
  return cleaned.empty() ? "x" + hash_suffix(backend_name) : cleaned + "-" + hash_suffix(backend_name);
}

StatusOr<boost::json::object> build_pod(const LaunchRequest& request, const KubernetesPoolConfig& config) {
  const std::string who = "app " + request.app + " executor " + std::to_string(request.executor) + " (pod " +
                          pod_name(request.backend_name) + " in namespace " + config.name_space + ")";
  const std::string image = !request.spec.image.empty() ? request.spec.image : config.image;
  if (image.empty()) {
    return Status::InvalidArgument("no image for " + who + ": the launch spec names none and pool " + request.pool +
                                   " sets no image");
  }
  json::object pod = config.pod_template ? *config.pod_template : json::object();
  pod["apiVersion"] = "v1";
  pod["kind"] = "Pod";
  pod.erase("status");
  // References into a json::object stay valid only until its next insertion: create every key
  // first, then hold references.
  object_at(pod, "metadata");
  object_at(pod, "spec");
  json::object& metadata = pod.at("metadata").as_object();
  json::object& spec = pod.at("spec").as_object();

  // metadata: the template's labels and annotations, the pool's, the app's, then Spark's and Berth's.
  for (const char* server_set : {"generateName", "uid", "resourceVersion", "creationTimestamp", "deletionTimestamp",
                                 "deletionGracePeriodSeconds", "managedFields", "selfLink", "generation"}) {
    metadata.erase(server_set);
  }
  metadata["name"] = pod_name(request.backend_name);
  metadata["namespace"] = config.name_space;
  // The driver pod owns its executors (garbage collection when it goes). Kubernetes resolves an
  // owner in another namespace as absent and would delete the executor at once: skip it then.
  if (request.driver.pod && !request.driver.pod->name.empty() && !request.driver.pod->uid.empty() &&
      (request.driver.pod->name_space.empty() || request.driver.pod->name_space == config.name_space)) {
    metadata["ownerReferences"] = json::array{json::object{{"apiVersion", "v1"},
                                                           {"kind", "Pod"},
                                                           {"name", request.driver.pod->name},
                                                           {"uid", request.driver.pod->uid},
                                                           {"controller", true},
                                                           {"blockOwnerDeletion", false}}};
  }
  object_at(metadata, "labels");
  object_at(metadata, "annotations");
  json::object& labels = metadata.at("labels").as_object();
  json::object& annotations = metadata.at("annotations").as_object();
  for (const auto& [key, value] : config.labels) labels[key] = value;
  for (const auto& [key, value] : request.spec.labels) labels[key] = value;
  labels[kSparkAppSelector] = label_value(std::string(app_name(request.app)));
  labels[kSparkRole] = "executor";
  labels[kSparkExecId] = std::to_string(request.executor);
  labels[kSparkProfileId] = std::to_string(request.profile.id);
  labels[kLabelDaemon] = label_value(request.daemon_id);
  labels[kLabelApp] = label_value(request.app);
  labels[kLabelExecutor] = std::to_string(request.executor);
  labels[kLabelProfile] = std::to_string(request.profile.id);
  labels[kLabelPool] = label_value(request.pool);
  for (const auto& [key, value] : config.annotations) annotations[key] = value;
  for (const auto& [key, value] : request.spec.annotations) annotations[key] = value;
  // Exact values, whatever the labels had to become.
  annotations[kLabelDaemon] = request.daemon_id;
  annotations[kLabelApp] = request.app;
  annotations[kLabelPool] = request.pool;
  annotations[kAnnotationBackendName] = request.backend_name;

  spec["restartPolicy"] = "Never";
  if (!config.node_selector.empty()) {
    json::object& selector = *object_at(spec, "nodeSelector");
    for (const auto& [key, value] : config.node_selector) selector[key] = value;
  }
  if (!config.tolerations.empty()) {
    json::array& tolerations = *array_at(spec, "tolerations");
    for (const auto& toleration : config.tolerations) tolerations.push_back(toleration);
  }
  if (!config.priority_class_name.empty()) spec["priorityClassName"] = config.priority_class_name;
  if (!config.service_account_name.empty()) spec["serviceAccountName"] = config.service_account_name;
  if (!config.scheduler_name.empty()) spec["schedulerName"] = config.scheduler_name;
  if (config.termination_grace_period_seconds) {
    spec["terminationGracePeriodSeconds"] = *config.termination_grace_period_seconds;
  }
  if (!config.image_pull_secrets.empty()) {
    json::array& secrets = *array_at(spec, "imagePullSecrets");
    std::set<std::string> present;
    for (const auto& secret : secrets) {
      if (secret.is_object()) {
        if (const auto* name = secret.as_object().if_contains("name"); name != nullptr && name->is_string()) {
          present.insert(std::string(name->as_string()));
        }
      }
    }
    for (const auto& name : config.image_pull_secrets) {
      if (present.insert(name).second) secrets.push_back(json::object{{"name", name}});
    }
  }

  std::string container_name;
  json::object& container = executor_container(spec, config.executor_container, &container_name);
  annotations[kAnnotationExecutorContainer] = container_name;
  container["image"] = image;
  if (!config.image_pull_policy.empty()) container["imagePullPolicy"] = config.image_pull_policy;
  if (!request.spec.command.empty()) {
    json::array command;
    for (const auto& part : request.spec.command) command.emplace_back(part);
    container["command"] = std::move(command);
  }
  if (!request.spec.args.empty()) {
    json::array args;
    for (const auto& part : request.spec.args) args.emplace_back(part);
    container["args"] = std::move(args);
  } else if (request.spec.command.empty() && !container.contains("command") && !container.contains("args")) {
    container["args"] = json::array{"executor"};  // the entrypoint of Spark's images
  }

  // env: the template's entries that Berth does not set, then Spark's environment.
  auto environment = spark_executor_environment(request);
  environment.erase("SPARK_EXECUTOR_POD_IP");
  json::array env;
  if (const auto* existing = container.if_contains("env"); existing != nullptr && existing->is_array()) {
    for (const auto& entry : existing->as_array()) {
      if (!entry.is_object()) continue;
      const auto* name = entry.as_object().if_contains("name");
      if (name == nullptr || !name->is_string()) continue;
      const std::string key(name->as_string());
      if (environment.count(key) > 0 || key == "SPARK_EXECUTOR_POD_IP") continue;
      env.push_back(entry);
    }
  }
  for (const auto& [key, value] : environment) env.push_back(json::object{{"name", key}, {"value", value}});
  env.push_back(json::object{
      {"name", "SPARK_EXECUTOR_POD_IP"},
      {"valueFrom", json::object{{"fieldRef", json::object{{"apiVersion", "v1"}, {"fieldPath", "status.podIP"}}}}}});
  container["env"] = std::move(env);

  // resources: Spark's container memory as request and limit, cores as the cpu request. The
  // default profile keeps the template's other resources (ephemeral-storage ...); other profiles
  // drop them, as Spark does.
  json::object resources;
  if (request.profile.id == 0) {
    if (const auto* existing = container.if_contains("resources"); existing != nullptr && existing->is_object()) {
      resources = existing->as_object();
    }
  }
  object_at(resources, "requests");
  object_at(resources, "limits");
  json::object& requests = resources.at("requests").as_object();
  json::object& limits = resources.at("limits").as_object();
  const std::string memory = mebibytes(request.profile.container_memory_mib());
  requests["memory"] = memory;
  limits["memory"] = memory;
  requests["cpu"] = std::to_string(request.profile.cores);
  switch (config.cpu_limit) {
    case CpuLimitPolicy::kNone:
      limits.erase("cpu");
      break;
    case CpuLimitPolicy::kCores:
      limits["cpu"] = std::to_string(request.profile.cores);
      break;
    case CpuLimitPolicy::kFixed:
      limits["cpu"] = millicores(config.cpu_limit_millicores);
      break;
  }
  for (const auto& resource : request.profile.resources) {
    if (resource.vendor.empty()) {
      return Status::InvalidArgument("resource " + resource.name + " of profile " + std::to_string(request.profile.id) +
                                     " has no vendor; Kubernetes needs one (e.g. nvidia.com) for " + who);
    }
    // Extended resources cannot be overcommitted: a limit alone implies the same request.
    limits[resource.vendor + "/" + resource.name] = std::to_string(resource.amount);
    requests.erase(resource.vendor + "/" + resource.name);
  }
  if (requests.empty()) resources.erase("requests");
  container["resources"] = std::move(resources);
  return pod;
}

}  // namespace berth::kubernetes
