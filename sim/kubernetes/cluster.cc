// The cluster half of the simulator: the pod store with its resourceVersion counter and event
// history, validation and admission (ResourceQuota), the scheduler, the kubelet that plays each
// pod's script, graceful deletion, node loss, eviction and the garbage collector.

#include <algorithm>
#include <cctype>
#include <cmath>
#include <ctime>
#include <regex>
#include <set>
#include <sstream>

#include "sim/kubernetes/internal.h"

namespace berth::sim::kubernetes {
namespace {

struct Cause {
  std::string reason;
  std::string field;
  std::string detail;  // "Required value", "Invalid value: \"x\": why", ...
};

std::string quoted(const std::string& text) { return json::serialize(json::value(text)); }

Cause required(const std::string& field, const std::string& why = {}) {
  return {"FieldValueRequired", field, why.empty() ? "Required value" : "Required value: " + why};
}
Cause invalid(const std::string& field, const std::string& value, const std::string& why) {
  return {"FieldValueInvalid", field, "Invalid value: " + quoted(value) + ": " + why};
}

const char* kDns1123Subdomain =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const char* kDns1123Label =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
    "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

bool is_subdomain(const std::string& name) {
  static const std::regex kPattern("[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*");
  return name.size() <= 253 && std::regex_match(name, kPattern);
}
bool is_label(const std::string& name) {
  static const std::regex kPattern("[a-z0-9]([-a-z0-9]*[a-z0-9])?");
  return name.size() <= 63 && std::regex_match(name, kPattern);
}
bool is_label_value(const std::string& value) {
  static const std::regex kPattern("(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?");
  return value.size() <= 63 && std::regex_match(value, kPattern);
}

// "2s", "500ms", "1m", "1h", "1.5" (seconds).
std::optional<double> parse_duration(const std::string& text) {
  static const std::regex kPattern("\\s*([0-9]+(\\.[0-9]+)?)\\s*(ms|s|m|h)?\\s*");
  std::smatch match;
  if (!std::regex_match(text, match, kPattern)) return std::nullopt;
  double value = std::stod(match[1].str());
  const std::string unit = match[3].str();
  if (unit == "ms") value /= 1000;
  if (unit == "m") value *= 60;
  if (unit == "h") value *= 3600;
  return value;
}

bool truthy(const std::string& text) { return text == "true" || text == "True" || text == "1" || text == "yes"; }

const json::object* object_at(const json::object& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || !it->value().is_object()) return nullptr;
  return &it->value().as_object();
}

bool memory_like(const std::string& resource) {
  return resource == "memory" || resource == "ephemeral-storage" || resource == "storage";
}

std::string hex(std::mt19937_64& rng, int digits) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < digits; ++i) out += kHex[rng() % 16];
  return out;
}

}  // namespace

// ---- time -------------------------------------------------------------------------------

double SimulatorImpl::now() const { return agenda_.now(); }

double SimulatorImpl::unix_time(double sim_seconds) const { return agenda_.clock().unix_seconds(sim_seconds); }

std::string SimulatorImpl::timestamp(double sim_seconds) const {
  const auto seconds = static_cast<std::time_t>(std::floor(unix_time(sim_seconds)));
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

void SimulatorImpl::after(double sim_delay, std::function<void()> action) { agenda_.after(sim_delay, std::move(action)); }

void SimulatorImpl::advance(double sim_seconds) { agenda_.advance(sim_seconds); }

// ---- store ------------------------------------------------------------------------------

std::string SimulatorImpl::new_uid() {
  std::string uid = hex(rng_, 8) + "-" + hex(rng_, 4) + "-4" + hex(rng_, 3) + "-";
  uid += "89ab"[rng_() % 4];
  uid += hex(rng_, 3) + "-" + hex(rng_, 12);
  return uid;
}

Pod* SimulatorImpl::find_pod(const std::string& namespace_name, const std::string& name) {
  auto it = pods_.find(namespace_name + "/" + name);
  return it == pods_.end() ? nullptr : &it->second;
}

void SimulatorImpl::record(HistoryEvent event) {
  history_.push_back(event);
  while (history_.size() > std::max<std::size_t>(1, options_.history_limit)) {
    compacted_ = history_.front().resource_version;
    history_.pop_front();
  }
  publish(event);
}

void SimulatorImpl::commit(Pod& pod, const char* type, std::shared_ptr<const json::object> previous) {
  ++resource_version_;
  pod.object["metadata"].as_object()["resourceVersion"] = std::to_string(resource_version_);
  record(HistoryEvent{type, resource_version_, pod.namespace_name, std::make_shared<json::object>(pod.object),
                      std::move(previous)});
}

void SimulatorImpl::change(Pod& pod) {
  auto previous = std::make_shared<json::object>(pod.object);
  render(pod);
  commit(pod, "MODIFIED", std::move(previous));
}

void SimulatorImpl::remove_pod(const std::string& key) {
  auto it = pods_.find(key);
  if (it == pods_.end()) return;
  Pod pod = std::move(it->second);
  pods_.erase(it);
  ++resource_version_;
  auto& metadata = pod.object["metadata"].as_object();
  metadata["resourceVersion"] = std::to_string(resource_version_);
  if (!metadata.contains("deletionTimestamp")) {
    metadata["deletionTimestamp"] = timestamp(now());
    metadata["deletionGracePeriodSeconds"] = 0;
  }
  record(HistoryEvent{"DELETED", resource_version_, pod.namespace_name, std::make_shared<json::object>(pod.object),
                      nullptr});
  if (pod.propagation != "Orphan") collect_garbage(pod.uid, pod.namespace_name);
  schedule_scheduler();
}

// ---- status rendering ---------------------------------------------------------------------

namespace {

json::object container_state_json(const ContainerState& state, const std::string& container_id) {
  json::object inner;
  json::object out;
  switch (state.kind) {
    case ContainerState::Kind::kWaiting:
      inner["reason"] = state.reason;
      if (!state.message.empty()) inner["message"] = state.message;
      out["waiting"] = std::move(inner);
      break;
    case ContainerState::Kind::kRunning:
      inner["startedAt"] = state.started_at;
      out["running"] = std::move(inner);
      break;
    case ContainerState::Kind::kTerminated:
      inner["exitCode"] = state.exit_code;
      inner["reason"] = state.reason;
      if (!state.message.empty()) inner["message"] = state.message;
      inner["startedAt"] = state.started_at.empty() ? json::value(nullptr) : json::value(state.started_at);
      inner["finishedAt"] = state.finished_at;
      if (!container_id.empty()) inner["containerID"] = container_id;
      out["terminated"] = std::move(inner);
      break;
  }
  return out;
}

}  // namespace

void SimulatorImpl::render(Pod& pod) {
  json::object status;
  status["phase"] = pod.phase;
  static const char* kOrder[] = {"PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                                 "PodScheduled", "DisruptionTarget"};
  json::array conditions;
  for (const char* type : kOrder) {
    auto it = pod.conditions.find(type);
    if (it == pod.conditions.end()) continue;
    json::object condition;
    condition["type"] = type;
    condition["status"] = it->second.status;
    condition["lastProbeTime"] = nullptr;
    condition["lastTransitionTime"] = it->second.since;
    if (!it->second.reason.empty()) condition["reason"] = it->second.reason;
    if (!it->second.message.empty()) condition["message"] = it->second.message;
    conditions.push_back(std::move(condition));
  }
  if (!conditions.empty()) status["conditions"] = std::move(conditions);
  if (!pod.reason.empty()) status["reason"] = pod.reason;
  if (!pod.message.empty()) status["message"] = pod.message;
  if (!pod.host_ip.empty()) {
    status["hostIP"] = pod.host_ip;
    status["hostIPs"] = json::array{json::object{{"ip", pod.host_ip}}};
  }
  if (!pod.pod_ip.empty()) {
    status["podIP"] = pod.pod_ip;
    status["podIPs"] = json::array{json::object{{"ip", pod.pod_ip}}};
  }
  if (!pod.start_time.empty()) status["startTime"] = pod.start_time;
  if (pod.bound()) {
    json::array statuses;
    for (const auto& container : pod.containers) {
      json::object item;
      item["name"] = container.name;
      item["state"] = container_state_json(container.state, container.container_id);
      item["lastState"] = container.last_state ? container_state_json(*container.last_state, container.container_id)
                                               : json::object();
      item["ready"] = container.ready;
      item["restartCount"] = container.restarts;
      item["image"] = container.image;
      item["imageID"] = container.started ? json::value("sim.berth.dev/" + container.image) : json::value("");
      if (!container.container_id.empty()) item["containerID"] = container.container_id;
      item["started"] = container.started;
      statuses.push_back(std::move(item));
    }
    status["containerStatuses"] = std::move(statuses);
  }
  auto old = pod.object.find("status");
  if (old != pod.object.end() && old->value().is_object()) {
    if (auto qos = old->value().as_object().find("qosClass"); qos != old->value().as_object().end()) {
      status["qosClass"] = qos->value();
    }
  }
  pod.object["status"] = std::move(status);
}

namespace {

void set_condition(Pod& pod, const std::string& type, const std::string& status, const std::string& reason,
                   const std::string& message, const std::string& now) {
  auto& condition = pod.conditions[type];
  if (condition.status != status) condition.since = now;
  condition.status = status;
  condition.reason = reason;
  condition.message = message;
}

std::string unready_list(const Pod& pod) {
  std::string names;
  for (const auto& container : pod.containers) {
    if (container.ready) continue;
    if (!names.empty()) names += " ";
    names += container.name;
  }
  return "containers with unready status: [" + names + "]";
}

void set_readiness(Pod& pod, const std::string& now) {
  const bool all_ready = std::all_of(pod.containers.begin(), pod.containers.end(),
                                     [](const ContainerRuntime& c) { return c.ready; });
  if (pod.terminal()) {
    const std::string reason = "PodCompleted";
    set_condition(pod, "Ready", "False", reason, "", now);
    set_condition(pod, "ContainersReady", "False", reason, "", now);
    set_condition(pod, "PodReadyToStartContainers", "False", "", "", now);
  } else if (all_ready) {
    set_condition(pod, "Ready", "True", "", "", now);
    set_condition(pod, "ContainersReady", "True", "", "", now);
  } else {
    set_condition(pod, "Ready", "False", "ContainersNotReady", unready_list(pod), now);
    set_condition(pod, "ContainersReady", "False", "ContainersNotReady", unready_list(pod), now);
  }
}

}  // namespace

// ---- create -----------------------------------------------------------------------------

Behaviour SimulatorImpl::behaviour_for(const json::object& metadata) const {
  std::map<std::string, std::string> values;
  Labels labels;
  if (const auto* l = object_at(metadata, "labels")) {
    for (const auto& [k, v] : *l) {
      if (v.is_string()) labels[std::string(k)] = std::string(v.as_string());
    }
  }
  for (const auto& [selector, annotations] : behaviours_) {
    if (!selector.matches(labels)) continue;
    for (const auto& [k, v] : annotations) values[k] = v;
  }
  if (const auto* a = object_at(metadata, "annotations")) {
    for (const auto& [k, v] : *a) {
      if (v.is_string()) values[std::string(k)] = std::string(v.as_string());
    }
  }
  Behaviour b;
  auto get = [&](const char* name) -> std::optional<std::string> {
    auto it = values.find(std::string(kAnnotationPrefix) + name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
  if (auto v = get("start-delay")) b.start_delay = parse_duration(*v).value_or(b.start_delay);
  if (auto v = get("run-for")) b.run_for = parse_duration(*v);
  if (auto v = get("exit-code")) {
    try {
      b.exit_code = std::stoi(*v);
    } catch (const std::exception&) {
    }
  }
  if (auto v = get("oom")) b.oom = truthy(*v);
  if (auto v = get("image-pull-error")) b.image_pull_error = truthy(*v);
  if (auto v = get("crash-on-start")) {
    if (truthy(*v)) {
      b.crash_on_start = 1;
    } else {
      try {
        b.crash_on_start = std::stoi(*v);
      } catch (const std::exception&) {
      }
    }
  }
  if (auto v = get("shutdown-delay")) b.shutdown_delay = parse_duration(*v).value_or(b.shutdown_delay);
  if (auto v = get("container")) b.container = *v;
  return b;
}

ApiResult SimulatorImpl::create_pod(const std::string& namespace_name, json::object body, bool dry_run,
                                     const std::string& field_manager) {
  auto bad_request = [](const std::string& message) {
    return ApiResult::fail(ApiError{400, "BadRequest", message, {}});
  };
  if (auto it = body.find("kind"); it != body.end() && !(it->value().is_string() && it->value().as_string() == "Pod")) {
    return bad_request("the kind of the provided object must be Pod");
  }
  if (auto it = body.find("apiVersion");
      it != body.end() && !(it->value().is_string() && it->value().as_string() == "v1")) {
    return bad_request("the API version in the data (" + json::serialize(it->value()) +
                       ") does not match the expected API version (v1)");
  }
  body.erase("kind");
  body.erase("apiVersion");
  if (!body["metadata"].is_object()) body["metadata"] = json::object();
  auto& metadata = body["metadata"].as_object();
  if (auto it = metadata.find("namespace"); it != metadata.end()) {
    if (!it->value().is_string() || (!it->value().as_string().empty() && it->value().as_string() != namespace_name)) {
      return bad_request("the namespace of the provided object does not match the namespace sent on the request");
    }
  }
  metadata["namespace"] = namespace_name;
  std::string name = metadata.contains("name") && metadata["name"].is_string()
                         ? std::string(metadata["name"].as_string()) : std::string();
  const std::string generate_name = metadata.contains("generateName") && metadata["generateName"].is_string()
                                        ? std::string(metadata["generateName"].as_string()) : std::string();
  const std::string display_name = name;

  // ---- validation ----
  std::vector<Cause> causes;
  if (name.empty() && generate_name.empty()) {
    causes.push_back(required("metadata.name", "name or generateName is required"));
  } else if (!name.empty() && !is_subdomain(name)) {
    causes.push_back(invalid("metadata.name", name, kDns1123Subdomain));
  } else if (name.empty() && !is_subdomain(generate_name + "abcde")) {
    causes.push_back(invalid("metadata.generateName", generate_name, kDns1123Subdomain));
  }
  for (const char* map_name : {"labels", "annotations"}) {
    auto it = metadata.find(map_name);
    if (it == metadata.end() || it->value().is_null()) continue;
    if (!it->value().is_object()) {
      causes.push_back({"FieldValueTypeInvalid", std::string("metadata.") + map_name, "Invalid value: must be a map"});
      continue;
    }
    for (const auto& [k, v] : it->value().as_object()) {
      const std::string key(k);
      const auto slash = key.find('/');
      const std::string short_key = slash == std::string::npos ? key : key.substr(slash + 1);
      if (key.empty() || !is_label_value(short_key) || short_key.empty()) {
        causes.push_back(invalid(std::string("metadata.") + map_name, key,
                                 "name part must consist of alphanumeric characters, '-', '_' or '.', and must "
                                 "start and end with an alphanumeric character"));
      }
      if (!v.is_string()) {
        causes.push_back({"FieldValueTypeInvalid", std::string("metadata.") + map_name + "[" + key + "]",
                          "Invalid value: must be a string"});
      } else if (std::string(map_name) == "labels" && !is_label_value(std::string(v.as_string()))) {
        const std::string value(v.as_string());
        causes.push_back(invalid("metadata.labels", value,
                                 value.size() > 63 ? "must be no more than 63 characters"
                                                   : "a valid label must be an empty string or consist of "
                                                     "alphanumeric characters, '-', '_' or '.', and must start "
                                                     "and end with an alphanumeric character"));
      }
    }
  }
  if (auto it = metadata.find("ownerReferences"); it != metadata.end() && !it->value().is_null()) {
    if (!it->value().is_array()) {
      causes.push_back({"FieldValueTypeInvalid", "metadata.ownerReferences", "Invalid value: must be a list"});
    } else {
      for (const auto& ref : it->value().as_array()) {
        const json::object empty;
        const json::object& r = ref.is_object() ? ref.as_object() : empty;
        for (const char* field : {"apiVersion", "kind", "name", "uid"}) {
          if (string_at(r, {field}).empty()) {
            causes.push_back(invalid(std::string("metadata.ownerReferences.") + field, "",
                                     std::string(field) + " must not be empty"));
          }
        }
      }
    }
  }
  if (!body["spec"].is_object()) body["spec"] = json::object();
  auto& spec = body["spec"].as_object();
  const std::string restart_policy = spec.contains("restartPolicy") && spec["restartPolicy"].is_string()
                                         ? std::string(spec["restartPolicy"].as_string()) : "Always";
  if (restart_policy != "Always" && restart_policy != "OnFailure" && restart_policy != "Never") {
    causes.push_back({"FieldValueNotSupported", "spec.restartPolicy",
                      "Unsupported value: " + quoted(restart_policy) +
                          ": supported values: \"Always\", \"OnFailure\", \"Never\""});
  }
  std::int64_t grace = 30;
  if (auto it = spec.find("terminationGracePeriodSeconds"); it != spec.end() && !it->value().is_null()) {
    if (!it->value().is_int64() || it->value().as_int64() < 0) {
      causes.push_back(invalid("spec.terminationGracePeriodSeconds", json::serialize(it->value()),
                               "must be greater than or equal to 0"));
    } else {
      grace = it->value().as_int64();
    }
  }
  ResourceMap requests;
  ResourceMap limits;
  std::vector<ContainerRuntime> runtimes;
  bool any_resources = false;
  bool guaranteed = true;
  auto containers_it = spec.find("containers");
  if (containers_it == spec.end() || !containers_it->value().is_array() || containers_it->value().as_array().empty()) {
    causes.push_back(required("spec.containers"));
  } else {
    std::set<std::string> names;
    auto& containers = containers_it->value().as_array();
    for (std::size_t i = 0; i < containers.size(); ++i) {
      const std::string path = "spec.containers[" + std::to_string(i) + "]";
      if (!containers[i].is_object()) {
        causes.push_back({"FieldValueTypeInvalid", path, "Invalid value: must be an object"});
        continue;
      }
      auto& container = containers[i].as_object();
      const std::string cname = string_at(container, {"name"});
      const std::string image = string_at(container, {"image"});
      if (cname.empty()) {
        causes.push_back(required(path + ".name"));
      } else if (!is_label(cname)) {
        causes.push_back(invalid(path + ".name", cname, kDns1123Label));
      } else if (!names.insert(cname).second) {
        causes.push_back({"FieldValueDuplicate", path + ".name", "Duplicate value: " + quoted(cname)});
      }
      if (image.empty()) causes.push_back(required(path + ".image"));
      // Defaults, as the API server fills them.
      if (!container.contains("imagePullPolicy")) {
        const bool latest = image.find(':') == std::string::npos ||
                            (image.size() >= 7 && image.compare(image.size() - 7, 7, ":latest") == 0);
        container["imagePullPolicy"] = latest ? "Always" : "IfNotPresent";
      }
      if (!container.contains("terminationMessagePath")) container["terminationMessagePath"] = "/dev/termination-log";
      if (!container.contains("terminationMessagePolicy")) container["terminationMessagePolicy"] = "File";
      if (!container["resources"].is_object()) container["resources"] = json::object();
      auto& resources = container["resources"].as_object();
      std::map<std::string, Quantity> parsed[2];
      const char* kinds[2] = {"requests", "limits"};
      for (int k = 0; k < 2; ++k) {
        auto it = resources.find(kinds[k]);
        if (it == resources.end() || it->value().is_null()) continue;
        if (!it->value().is_object()) {
          causes.push_back({"FieldValueTypeInvalid", path + ".resources." + kinds[k], "Invalid value: must be a map"});
          continue;
        }
        for (auto& [rk, rv] : it->value().as_object()) {
          const std::string resource(rk);
          const std::string field = path + ".resources." + kinds[k] + "[" + resource + "]";
          std::string text = rv.is_string() ? std::string(rv.as_string())
                             : rv.is_number() ? json::serialize(rv) : std::string();
          auto q = parse_quantity(text);
          if (!q) {
            causes.push_back(invalid(field, text, "quantities must match the regular expression "
                                                  "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"));
            continue;
          }
          if (q->milli < 0) {
            causes.push_back(invalid(field, text, "must be greater than or equal to 0"));
            continue;
          }
          if (resource == kGpuResource && !q->is_integer()) {
            causes.push_back(invalid(field, text, "must be an integer"));
            continue;
          }
          rv = canonical(*q);
          parsed[k][resource] = *q;
          any_resources = true;
        }
      }
      auto& req = parsed[0];
      auto& lim = parsed[1];
      for (const auto& [resource, q] : req) {
        auto l = lim.find(resource);
        if (resource == kGpuResource) {
          if (l == lim.end()) {
            causes.push_back(required(path + ".resources.limits",
                                      "Limit must be set for non overcommitable resources"));
          } else if (l->second.milli != q.milli) {
            causes.push_back(invalid(path + ".resources.requests[" + resource + "]", canonical(q),
                                     "must be equal to " + resource + " limit of " + canonical(l->second)));
          }
        } else if (l != lim.end() && q.milli > l->second.milli) {
          causes.push_back(invalid(path + ".resources.requests", canonical(q),
                                   "must be less than or equal to " + resource + " limit of " + canonical(l->second)));
        }
      }
      // Limits alone imply equal requests.
      for (const auto& [resource, q] : lim) {
        if (!req.count(resource)) {
          req[resource] = q;
          if (!resources["requests"].is_object()) resources["requests"] = json::object();
          resources["requests"].as_object()[resource] = canonical(q);
        }
      }
      for (const char* r : {"cpu", "memory"}) {
        auto rq = req.find(r);
        auto lm = lim.find(r);
        if (rq == req.end() || lm == lim.end() || rq->second.milli != lm->second.milli) guaranteed = false;
      }
      for (const auto& [resource, q] : req) requests[resource] += q.milli;
      for (const auto& [resource, q] : lim) limits[resource] += q.milli;
      ContainerRuntime runtime;
      runtime.name = cname;
      runtime.image = image;
      runtimes.push_back(std::move(runtime));
    }
  }
  if (!causes.empty()) {
    const std::string shown = name.empty() ? generate_name : name;
    std::string message = "Pod " + quoted(shown) + " is invalid: ";
    json::array cause_list;
    if (causes.size() > 1) message += "[";
    for (std::size_t i = 0; i < causes.size(); ++i) {
      if (i > 0) message += ", ";
      message += causes[i].field + ": " + causes[i].detail;
      cause_list.push_back(json::object{{"reason", causes[i].reason}, {"message", causes[i].detail},
                                        {"field", causes[i].field}});
    }
    if (causes.size() > 1) message += "]";
    json::object details{{"name", shown}, {"kind", "Pod"}, {"causes", std::move(cause_list)}};
    return ApiResult::fail(ApiError{422, "Invalid", message, std::move(details)});
  }

  // ---- admission ----
  if (name.empty()) {
    static const char* kAlphabet = "bcdfghjklmnpqrstvwxz2456789";
    do {
      name = generate_name;
      for (int i = 0; i < 5; ++i) name += kAlphabet[rng_() % 27];
    } while (pods_.count(namespace_name + "/" + name));
    metadata["name"] = name;
  }
  Pod pod;
  pod.key = namespace_name + "/" + name;
  pod.namespace_name = namespace_name;
  pod.name = name;
  pod.requests = std::move(requests);
  pod.limits = std::move(limits);
  pod.object = std::move(body);
  if (auto error = admit_quota(pod, display_name)) return ApiResult::fail(*error);
  if (pods_.count(pod.key)) {
    return ApiResult::fail(ApiError{409, "AlreadyExists", "pods " + quoted(name) + " already exists",
                                    json::object{{"name", name}, {"kind", "pods"}}});
  }

  // ---- defaults and storage ----
  auto& meta = pod.object["metadata"].as_object();
  pod.uid = new_uid();
  meta["uid"] = pod.uid;
  meta["creationTimestamp"] = timestamp(now());
  // Field ownership, shallow: the creator's manager and the top-level spec fields and metadata
  // labels and annotations it set (a real server lists every field, to any depth).
  json::object owned_metadata;
  for (const char* map_name : {"labels", "annotations"}) {
    if (!meta.contains(map_name) || !meta.at(map_name).is_object()) continue;
    json::object keys;
    for (const auto& entry : meta.at(map_name).as_object()) keys["f:" + std::string(entry.key())] = json::object();
    owned_metadata["f:" + std::string(map_name)] = std::move(keys);
  }
  json::object owned_spec;
  if (pod.object.contains("spec") && pod.object.at("spec").is_object()) {
    for (const auto& entry : pod.object.at("spec").as_object()) owned_spec["f:" + std::string(entry.key())] = json::object();
  }
  meta["managedFields"] = json::array{json::object{
      {"manager", field_manager},
      {"operation", "Update"},
      {"apiVersion", "v1"},
      {"time", timestamp(now())},
      {"fieldsType", "FieldsV1"},
      {"fieldsV1", json::object{{"f:metadata", std::move(owned_metadata)}, {"f:spec", std::move(owned_spec)}}}}};
  auto& pod_spec = pod.object["spec"].as_object();
  pod_spec["restartPolicy"] = restart_policy;
  pod_spec["terminationGracePeriodSeconds"] = grace;
  if (!pod_spec.contains("dnsPolicy")) pod_spec["dnsPolicy"] = "ClusterFirst";
  if (!pod_spec.contains("schedulerName")) pod_spec["schedulerName"] = "default-scheduler";
  if (!pod_spec.contains("serviceAccountName")) pod_spec["serviceAccountName"] = "default";
  if (!pod_spec.contains("serviceAccount")) pod_spec["serviceAccount"] = pod_spec["serviceAccountName"];
  if (!pod_spec.contains("securityContext")) pod_spec["securityContext"] = json::object();
  if (!pod_spec.contains("enableServiceLinks")) pod_spec["enableServiceLinks"] = true;
  if (!pod_spec.contains("priority")) pod_spec["priority"] = 0;
  if (!pod_spec.contains("preemptionPolicy")) pod_spec["preemptionPolicy"] = "PreemptLowerPriority";
  if (!pod_spec["tolerations"].is_array()) pod_spec["tolerations"] = json::array();
  for (const char* taint : {"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"}) {
    auto& tolerations = pod_spec["tolerations"].as_array();
    const bool present = std::any_of(tolerations.begin(), tolerations.end(), [&](const json::value& t) {
      return t.is_object() && string_at(t.as_object(), {"key"}) == taint;
    });
    if (!present) {
      tolerations.push_back(json::object{{"key", taint}, {"operator", "Exists"}, {"effect", "NoExecute"},
                                         {"tolerationSeconds", 300}});
    }
  }
  pod.object["status"] = json::object{
      {"phase", "Pending"}, {"qosClass", !any_resources ? "BestEffort" : guaranteed ? "Guaranteed" : "Burstable"}};
  pod.restart_policy = restart_policy;
  pod.grace_seconds = grace;
  pod.behaviour = behaviour_for(meta);
  pod.containers = std::move(runtimes);
  if (!pod.behaviour.container.empty()) {
    // The scripted container goes first in the runtime list; statuses keep spec order.
    auto it = std::find_if(pod.containers.begin(), pod.containers.end(),
                           [&](const ContainerRuntime& c) { return c.name == pod.behaviour.container; });
    if (it == pod.containers.end()) pod.behaviour.container.clear();
  }
  if (pod.behaviour.container.empty()) pod.behaviour.container = pod.containers.front().name;

  if (dry_run) {
    render(pod);
    meta["resourceVersion"] = std::to_string(resource_version_);
    return ApiResult::ok(201, with_kind(pod.object));
  }
  render(pod);
  pod.created_rv = resource_version_ + 1;
  const std::string key = pod.key;
  auto [it, inserted] = pods_.emplace(key, std::move(pod));
  commit(it->second, "ADDED");
  json::value result = with_kind(it->second.object);
  check_missing_owners(key);
  schedule_scheduler();
  return ApiResult::ok(201, std::move(result));
}

std::optional<ApiError> SimulatorImpl::admit_quota(const Pod& pod, const std::string& display_name) const {
  const std::string prefix = display_name.empty() ? "pods is forbidden: " : "pods " + quoted(display_name) + " is forbidden: ";
  const json::object* spec = object_at(pod.object, "spec");
  const json::array* containers = nullptr;
  if (spec) {
    if (auto it = spec->find("containers"); it != spec->end() && it->value().is_array()) containers = &it->value().as_array();
  }
  for (const auto& [quota_key, quota] : quotas_) {
    if (quota.spec.namespace_name != pod.namespace_name) continue;
    std::vector<std::string> missing;
    std::vector<std::string> requested;
    std::vector<std::string> used_text;
    std::vector<std::string> limited;
    for (const auto& [key, hard] : quota.hard) {
      std::int64_t wanted = 0;
      std::int64_t used = 0;
      bool binary = false;
      if (key == "pods" || key == "count/pods") {
        wanted = 1000;
        for (const auto& [k, other] : pods_) {
          if (other.namespace_name == pod.namespace_name && !other.terminal()) used += 1000;
        }
      } else {
        bool limits_kind = false;
        std::string resource = key;
        if (key.rfind("requests.", 0) == 0) {
          resource = key.substr(9);
        } else if (key.rfind("limits.", 0) == 0) {
          resource = key.substr(7);
          limits_kind = true;
        } else if (key != "cpu" && key != "memory" && key != "ephemeral-storage") {
          continue;  // object counts and other kinds are not simulated
        }
        binary = memory_like(resource);
        // Compute resources the quota tracks must be declared by every container.
        if ((resource == "cpu" || resource == "memory") && containers) {
          for (const auto& c : *containers) {
            if (!c.is_object()) continue;
            const json::object* resources = object_at(c.as_object(), "resources");
            auto declares = [&](const char* kind) {
              const json::object* m = resources ? object_at(*resources, kind) : nullptr;
              return m && m->contains(resource);
            };
            if (limits_kind ? !declares("limits") : !(declares("requests") || declares("limits"))) {
              missing.push_back(key);
              break;
            }
          }
        }
        const ResourceMap& source = limits_kind ? pod.limits : pod.requests;
        auto it = source.find(resource);
        wanted = it == source.end() ? 0 : it->second;
        for (const auto& [k, other] : pods_) {
          if (other.namespace_name != pod.namespace_name || other.terminal()) continue;
          const ResourceMap& m = limits_kind ? other.limits : other.requests;
          auto o = m.find(resource);
          if (o != m.end()) used += o->second;
        }
      }
      if (wanted > 0 && used + wanted > hard.milli) {
        requested.push_back(key + "=" + format_milli(wanted, binary));
        used_text.push_back(key + "=" + format_milli(used, binary));
        limited.push_back(key + "=" + canonical(hard));
      }
    }
    auto join = [](const std::vector<std::string>& parts) {
      std::string out;
      for (const auto& p : parts) out += (out.empty() ? "" : ",") + p;
      return out;
    };
    json::object details{{"name", display_name}, {"kind", "pods"}};
    if (display_name.empty()) details.erase("name");
    if (!missing.empty()) {
      std::sort(missing.begin(), missing.end());
      return ApiError{403, "Forbidden", prefix + "failed quota: " + quota.spec.name + ": must specify " + join(missing),
                      details};
    }
    if (!requested.empty()) {
      return ApiError{403, "Forbidden",
                      prefix + "exceeded quota: " + quota.spec.name + ", requested: " + join(requested) +
                          ", used: " + join(used_text) + ", limited: " + join(limited),
                      details};
    }
  }
  return std::nullopt;
}

json::object SimulatorImpl::quota_usage(const std::string& namespace_name) const {
  json::object out;
  for (const auto& [key, quota] : quotas_) {
    if (quota.spec.namespace_name != namespace_name) continue;
    json::object hard;
    json::object used;
    for (const auto& [resource, q] : quota.hard) {
      hard[resource] = canonical(q);
      std::int64_t total = 0;
      std::string name = resource;
      bool limits_kind = false;
      if (name.rfind("requests.", 0) == 0) name = name.substr(9);
      if (name.rfind("limits.", 0) == 0) {
        name = name.substr(7);
        limits_kind = true;
      }
      for (const auto& [k, pod] : pods_) {
        if (pod.namespace_name != namespace_name || pod.terminal()) continue;
        if (resource == "pods" || resource == "count/pods") {
          total += 1000;
          continue;
        }
        const ResourceMap& m = limits_kind ? pod.limits : pod.requests;
        if (auto it = m.find(name); it != m.end()) total += it->second;
      }
      used[resource] = format_milli(total, memory_like(name));
    }
    out[quota.spec.name] = json::object{{"hard", std::move(hard)}, {"used", std::move(used)}};
  }
  return out;
}

// ---- scheduler --------------------------------------------------------------------------

void SimulatorImpl::schedule_scheduler() {
  if (scheduler_pending_ || stopped_) return;
  scheduler_pending_ = true;
  boost::asio::post(strand_, [self = shared_from_this()] { self->run_scheduler(); });
}

bool SimulatorImpl::fits(const Node& node, const NodeUsage& usage, const Pod& pod, std::vector<std::string>& reasons) const {
  if (!node.ready) {
    reasons.push_back("node(s) had untolerated taint {node.kubernetes.io/unreachable: }");
    return false;
  }
  if (const json::object* spec = object_at(pod.object, "spec")) {
    if (const json::object* selector = object_at(*spec, "nodeSelector")) {
      for (const auto& [k, v] : *selector) {
        auto it = node.spec.labels.find(std::string(k));
        if (it == node.spec.labels.end() || !v.is_string() || it->second != std::string(v.as_string())) {
          reasons.push_back("node(s) didn't match Pod's node affinity/selector");
          return false;
        }
      }
    }
  }
  bool ok = true;
  if (usage.pods + 1 > node.spec.max_pods) {
    reasons.push_back("Too many pods");
    ok = false;
  }
  for (const auto& [resource, wanted] : pod.requests) {
    if (wanted <= 0) continue;
    auto a = node.allocatable.find(resource);
    const std::int64_t allocatable = a == node.allocatable.end() ? 0 : a->second;
    auto in_use = usage.requests.find(resource);
    if ((in_use == usage.requests.end() ? 0 : in_use->second) + wanted > allocatable) {
      reasons.push_back("Insufficient " + resource);
      ok = false;
    }
  }
  return ok;
}

void SimulatorImpl::run_scheduler() {
  scheduler_pending_ = false;
  if (stopped_) return;
  std::vector<Pod*> queue;
  for (auto& [key, pod] : pods_) {
    if (!pod.bound() && !pod.terminating && !pod.terminal()) queue.push_back(&pod);
  }
  if (queue.empty()) return;
  std::sort(queue.begin(), queue.end(), [](const Pod* a, const Pod* b) { return a->created_rv < b->created_rv; });
  const std::string now_text = timestamp(now());
  // What each node's pods request, taken once and kept as pods are bound below.
  std::map<std::string, NodeUsage> usage;
  for (const auto& [key, pod] : pods_) {
    if (!pod.bound() || pod.terminal()) continue;
    NodeUsage& on_node = usage[pod.node];
    ++on_node.pods;
    for (const auto& [r, v] : pod.requests) on_node.requests[r] += v;
  }
  for (Pod* pod : queue) {
    std::map<std::string, int> reason_counts;
    Node* best = nullptr;
    double best_score = -1;
    for (auto& [name, node] : nodes_) {
      std::vector<std::string> reasons;
      const NodeUsage& on_node = usage[name];
      if (!fits(node, on_node, *pod, reasons)) {
        for (const auto& r : reasons) ++reason_counts[r];
        continue;
      }
      // Least allocated cpu first, as the default scheduler's scoring tends to spread pods.
      auto c = on_node.requests.find("cpu");
      const std::int64_t used_cpu = c == on_node.requests.end() ? 0 : c->second;
      auto a = node.allocatable.find("cpu");
      const double capacity = a == node.allocatable.end() ? 1.0 : std::max<double>(1.0, a->second);
      const double score = 1.0 - used_cpu / capacity;
      if (score > best_score) {
        best_score = score;
        best = &node;
      }
    }
    if (best) {
      NodeUsage& on_node = usage[best->spec.name];
      ++on_node.pods;
      for (const auto& [r, v] : pod->requests) on_node.requests[r] += v;
      bind(*pod, *best);
      continue;
    }
    const std::string total = std::to_string(nodes_.size());
    std::string message;
    if (nodes_.empty()) {
      message = "no nodes available to schedule pods";
    } else {
      message = "0/" + total + " nodes are available: ";
      bool first = true;
      for (const auto& [reason, count] : reason_counts) {
        message += (first ? "" : ", ") + std::to_string(count) + " " + reason;
        first = false;
      }
      message += ". preemption: 0/" + total + " nodes are available: " + total +
                 " No preemption victims found for incoming pod.";
    }
    auto it = pod->conditions.find("PodScheduled");
    if (it != pod->conditions.end() && it->second.status == "False" && it->second.message == message) continue;
    set_condition(*pod, "PodScheduled", "False", "Unschedulable", message, now_text);
    change(*pod);
  }
}

void SimulatorImpl::bind(Pod& pod, Node& node) {
  const std::string now_text = timestamp(now());
  pod.node = node.spec.name;
  pod.host_ip = "10.0.0." + std::to_string(10 + node.index);
  pod.start_time = now_text;
  pod.object["spec"].as_object()["nodeName"] = node.spec.name;
  for (auto& container : pod.containers) {
    container.state = ContainerState{};
    container.ready = false;
  }
  set_condition(pod, "PodScheduled", "True", "", "", now_text);
  set_condition(pod, "PodReadyToStartContainers", "False", "", "", now_text);
  set_condition(pod, "Initialized", "True", "", "", now_text);
  set_readiness(pod, now_text);
  ++pod.epoch;
  change(pod);
  after(pod.behaviour.start_delay, [self = shared_from_this(), key = pod.key, epoch = pod.epoch] {
    self->kubelet_start(key, epoch);
  });
}

// ---- kubelet ----------------------------------------------------------------------------

void SimulatorImpl::kubelet_start(const std::string& key, std::uint64_t epoch) {
  auto it = pods_.find(key);
  if (it == pods_.end() || it->second.epoch != epoch || it->second.terminating) return;
  Pod& pod = it->second;
  const std::string now_text = timestamp(now());
  if (pod.pod_ip.empty()) {
    auto node = nodes_.find(pod.node);
    if (node != nodes_.end()) {
      const int n = node->second.next_ip++;
      pod.pod_ip = "10.244." + std::to_string(node->second.index) + "." + std::to_string(2 + n % 250);
    }
  }
  set_condition(pod, "PodReadyToStartContainers", "True", "", "", now_text);
  const Behaviour& b = pod.behaviour;
  if (b.image_pull_error) {
    pod.image_pull_attempts = 0;
    image_pull_cycle(key, epoch);
    return;
  }
  for (auto& container : pod.containers) {
    container.state = ContainerState{ContainerState::Kind::kRunning, "", "", 0, now_text, ""};
    container.started = true;
    container.ready = true;
    container.container_id = "containerd://" + hex(rng_, 64);
  }
  pod.phase = "Running";
  set_readiness(pod, now_text);
  if (b.crash_on_start) {
    container_exit(pod, *b.crash_on_start, "Error");
    return;
  }
  change(pod);
  if (b.run_for || b.oom) {
    after(b.run_for.value_or(1.0), [self = shared_from_this(), key, epoch = pod.epoch] {
      auto it = self->pods_.find(key);
      if (it == self->pods_.end() || it->second.epoch != epoch || it->second.terminating) return;
      const Behaviour& behaviour = it->second.behaviour;
      if (behaviour.oom) {
        self->container_exit(it->second, 137, "OOMKilled");
      } else {
        self->container_exit(it->second, behaviour.exit_code, behaviour.exit_code == 0 ? "Completed" : "Error");
      }
    });
  }
}

void SimulatorImpl::image_pull_cycle(const std::string& key, std::uint64_t epoch) {
  auto it = pods_.find(key);
  if (it == pods_.end() || it->second.epoch != epoch || it->second.terminating) return;
  Pod& pod = it->second;
  const bool backoff = pod.image_pull_attempts % 2 == 1;
  ++pod.image_pull_attempts;
  for (auto& container : pod.containers) {
    if (container.name != pod.behaviour.container) continue;
    container.state.kind = ContainerState::Kind::kWaiting;
    if (backoff) {
      container.state.reason = "ImagePullBackOff";
      container.state.message = "Back-off pulling image " + quoted(container.image);
    } else {
      container.state.reason = "ErrImagePull";
      container.state.message = "failed to pull and unpack image " + quoted(container.image) +
                                ": failed to resolve reference " + quoted(container.image) + ": not found";
    }
  }
  set_readiness(pod, timestamp(now()));
  change(pod);
  after(backoff ? 10.0 : 5.0, [self = shared_from_this(), key, epoch] { self->image_pull_cycle(key, epoch); });
}

void SimulatorImpl::container_exit(Pod& pod, int code, const std::string& reason) {
  const std::string now_text = timestamp(now());
  ++pod.epoch;
  ContainerRuntime* scripted = nullptr;
  for (auto& container : pod.containers) {
    if (container.name == pod.behaviour.container) scripted = &container;
  }
  if (!scripted) return;
  ContainerState terminated{ContainerState::Kind::kTerminated, reason, "", code, scripted->state.started_at, now_text};
  const bool restart = pod.restart_policy == "Always" || (pod.restart_policy == "OnFailure" && code != 0);
  if (restart) {
    scripted->last_state = terminated;
    ++scripted->restarts;
    scripted->ready = false;
    const double backoff = std::min(300.0, 10.0 * std::pow(2.0, scripted->restarts - 1));
    scripted->state = ContainerState{ContainerState::Kind::kWaiting, "CrashLoopBackOff",
                                     "back-off " + std::to_string(static_cast<int>(backoff)) +
                                         "s restarting failed container=" + scripted->name + " pod=" + pod.name +
                                         "_" + pod.namespace_name + "(" + pod.uid + ")",
                                     0, "", ""};
    pod.phase = "Running";
    set_readiness(pod, now_text);
    change(pod);
    after(backoff, [self = shared_from_this(), key = pod.key, epoch = pod.epoch] { self->restart_container(key, epoch); });
    return;
  }
  scripted->state = terminated;
  scripted->ready = false;
  bool all_zero = code == 0;
  for (auto& container : pod.containers) {
    if (&container == scripted) continue;
    if (container.state.kind != ContainerState::Kind::kTerminated) {
      // Sidecars stop with the scripted container.
      container.state = ContainerState{ContainerState::Kind::kTerminated, "Completed", "", 0,
                                       container.state.started_at, now_text};
    }
    container.ready = false;
    if (container.state.exit_code != 0) all_zero = false;
  }
  pod.phase = all_zero ? "Succeeded" : "Failed";
  set_readiness(pod, now_text);
  change(pod);
  schedule_scheduler();
}

void SimulatorImpl::restart_container(const std::string& key, std::uint64_t epoch) {
  auto it = pods_.find(key);
  if (it == pods_.end() || it->second.epoch != epoch || it->second.terminating) return;
  Pod& pod = it->second;
  const std::string now_text = timestamp(now());
  for (auto& container : pod.containers) {
    if (container.name != pod.behaviour.container) continue;
    container.state = ContainerState{ContainerState::Kind::kRunning, "", "", 0, now_text, ""};
    container.ready = true;
    container.container_id = "containerd://" + hex(rng_, 64);
  }
  set_readiness(pod, now_text);
  if (pod.behaviour.crash_on_start) {
    container_exit(pod, *pod.behaviour.crash_on_start, "Error");
    return;
  }
  ++pod.epoch;
  change(pod);
  const Behaviour& b = pod.behaviour;
  if (b.run_for || b.oom) {
    after(b.run_for.value_or(1.0), [self = shared_from_this(), key, epoch = pod.epoch] {
      auto found = self->pods_.find(key);
      if (found == self->pods_.end() || found->second.epoch != epoch || found->second.terminating) return;
      const Behaviour& behaviour = found->second.behaviour;
      if (behaviour.oom) {
        self->container_exit(found->second, 137, "OOMKilled");
      } else {
        self->container_exit(found->second, behaviour.exit_code, behaviour.exit_code == 0 ? "Completed" : "Error");
      }
    });
  }
}

void SimulatorImpl::terminate_containers(Pod& pod, int code, const std::string& reason, const std::string& message) {
  const std::string now_text = timestamp(now());
  for (auto& container : pod.containers) {
    if (container.state.kind == ContainerState::Kind::kTerminated) continue;
    container.state = ContainerState{ContainerState::Kind::kTerminated, reason, message, code,
                                     container.state.started_at, now_text};
    container.ready = false;
  }
}

// ---- deletion ---------------------------------------------------------------------------

ApiResult SimulatorImpl::delete_pod(const std::string& namespace_name, const std::string& name,
                                    const DeleteOptions& options) {
  Pod* pod = find_pod(namespace_name, name);
  if (!pod) {
    return ApiResult::fail(ApiError{404, "NotFound", "pods " + quoted(name) + " not found",
                                    json::object{{"name", name}, {"kind", "pods"}}});
  }
  if (options.precondition_uid && *options.precondition_uid != pod->uid) {
    return ApiResult::fail(ApiError{409, "Conflict",
                                    "Operation cannot be fulfilled on Pod " + quoted(name) +
                                        ": Precondition failed: UID in precondition: " + *options.precondition_uid +
                                        ", UID in object meta: " + pod->uid,
                                    json::object{{"name", name}, {"kind", "Pod"}}});
  }
  if (options.precondition_resource_version &&
      *options.precondition_resource_version != string_at(pod->object, {"metadata", "resourceVersion"})) {
    return ApiResult::fail(ApiError{409, "Conflict",
                                    "Operation cannot be fulfilled on Pod " + quoted(name) +
                                        ": Precondition failed: ResourceVersion in precondition: " +
                                        *options.precondition_resource_version + ", ResourceVersion in object meta: " +
                                        string_at(pod->object, {"metadata", "resourceVersion"}),
                                    json::object{{"name", name}, {"kind", "Pod"}}});
  }
  std::int64_t grace = options.grace_seconds.value_or(pod->grace_seconds);
  if (grace < 0) grace = 1;
  if (options.dry_run) return ApiResult::ok(200, with_kind(pod->object));
  pod->propagation = options.propagation;
  if (options.propagation == "Orphan") {
    const std::string uid = pod->uid;
    for (auto& [key, other] : pods_) {
      auto& meta = other.object["metadata"].as_object();
      auto refs = meta.find("ownerReferences");
      if (refs == meta.end() || !refs->value().is_array()) continue;
      auto& array = refs->value().as_array();
      const auto before = array.size();
      array.erase(std::remove_if(array.begin(), array.end(),
                                 [&](const json::value& r) { return r.is_object() && string_at(r.as_object(), {"uid"}) == uid; }),
                  array.end());
      if (array.size() != before) {
        if (array.empty()) meta.erase("ownerReferences");
        change(other);
      }
    }
    pod = find_pod(namespace_name, name);
  }
  const std::string key = pod->key;
  if (grace == 0 || !pod->bound() || pod->terminal()) {
    auto& meta = pod->object["metadata"].as_object();
    if (!meta.contains("deletionTimestamp")) {
      meta["deletionTimestamp"] = timestamp(now());
      meta["deletionGracePeriodSeconds"] = 0;
    }
    json::object last = pod->object;
    remove_pod(key);
    last["metadata"].as_object()["resourceVersion"] = std::to_string(resource_version_);
    return ApiResult::ok(200, with_kind(last));
  }
  const double deadline = now() + static_cast<double>(grace);
  auto& meta = pod->object["metadata"].as_object();
  if (pod->terminating) {
    // A second delete may only shorten the grace period.
    const std::int64_t current = meta["deletionGracePeriodSeconds"].is_int64() ? meta["deletionGracePeriodSeconds"].as_int64() : grace;
    if (grace >= current) return ApiResult::ok(200, with_kind(pod->object));
  }
  pod->terminating = true;
  ++pod->epoch;
  meta["deletionTimestamp"] = timestamp(deadline);
  meta["deletionGracePeriodSeconds"] = grace;
  change(*pod);
  const bool started = pod->phase == "Running";
  const double shutdown = started ? pod->behaviour.shutdown_delay : 0.0;
  const bool killed = started && shutdown >= static_cast<double>(grace);
  after(std::min(shutdown, static_cast<double>(grace)),
        [self = shared_from_this(), key, epoch = pod->epoch, killed] { self->finish_deletion(key, epoch, killed); });
  return ApiResult::ok(200, with_kind(pod->object));
}

void SimulatorImpl::finish_deletion(const std::string& key, std::uint64_t epoch, bool killed) {
  auto it = pods_.find(key);
  if (it == pods_.end() || it->second.epoch != epoch) return;
  Pod& pod = it->second;
  if (!pod.terminal()) {
    const bool was_running = pod.phase == "Running";
    terminate_containers(pod, was_running ? (killed ? 137 : 143) : 137, was_running ? "Error" : "ContainerStatusUnknown",
                         was_running ? "" : "The container could not be located when the pod was terminated");
    pod.phase = "Failed";
    set_readiness(pod, timestamp(now()));
    change(pod);
  }
  remove_pod(key);
}

ApiResult SimulatorImpl::evict_pod_api(const std::string& namespace_name, const std::string& name) {
  Pod* pod = find_pod(namespace_name, name);
  if (!pod) {
    return ApiResult::fail(ApiError{404, "NotFound", "pods " + quoted(name) + " not found",
                                    json::object{{"name", name}, {"kind", "pods"}}});
  }
  set_condition(*pod, "DisruptionTarget", "True", "EvictionByEvictionAPI", "Eviction API: evicting", timestamp(now()));
  change(*pod);
  DeleteOptions options;
  auto result = delete_pod(namespace_name, name, options);
  if (result.error) return result;
  return ApiResult::ok(201, json::object{{"kind", "Status"}, {"apiVersion", "v1"}, {"metadata", json::object()},
                                         {"status", "Success"}, {"code", 201}});
}

void SimulatorImpl::collect_garbage(const std::string& owner_uid, const std::string& namespace_name) {
  std::vector<std::string> dependents;
  for (const auto& [key, pod] : pods_) {
    if (pod.namespace_name != namespace_name || pod.terminating) continue;
    const json::object* meta = object_at(pod.object, "metadata");
    auto refs = meta ? meta->find("ownerReferences") : nullptr;
    if (!refs || refs == meta->end() || !refs->value().is_array()) continue;
    for (const auto& ref : refs->value().as_array()) {
      if (ref.is_object() && string_at(ref.as_object(), {"uid"}) == owner_uid) {
        dependents.push_back(pod.name);
        break;
      }
    }
  }
  for (const auto& name : dependents) delete_pod(namespace_name, name, DeleteOptions{});
}

void SimulatorImpl::check_missing_owners(const std::string& key) {
  // The garbage collector deletes dependents whose Pod owner does not exist (it checks the uid).
  after(1.0, [self = shared_from_this(), key] {
    auto it = self->pods_.find(key);
    if (it == self->pods_.end() || it->second.terminating) return;
    const json::object* meta = object_at(it->second.object, "metadata");
    auto refs = meta->find("ownerReferences");
    if (refs == meta->end() || !refs->value().is_array()) return;
    for (const auto& ref : refs->value().as_array()) {
      if (!ref.is_object()) continue;
      const auto& r = ref.as_object();
      if (string_at(r, {"kind"}) != "Pod" || string_at(r, {"apiVersion"}) != "v1") continue;
      const std::string uid = string_at(r, {"uid"});
      const bool alive = std::any_of(self->pods_.begin(), self->pods_.end(), [&](const auto& entry) {
        return entry.second.uid == uid && entry.second.namespace_name == it->second.namespace_name;
      });
      if (!alive) {
        self->delete_pod(it->second.namespace_name, it->second.name, DeleteOptions{});
        return;
      }
    }
  });
}

// ---- nodes, quotas, admin actions ---------------------------------------------------------

Status SimulatorImpl::add_node(const NodeSpec& spec) {
  if (!is_subdomain(spec.name)) return Status::InvalidArgument("node name is not a DNS subdomain: " + spec.name);
  Node node;
  node.spec = spec;
  node.spec.labels["kubernetes.io/hostname"] = spec.name;
  for (const auto& [resource, text] : {std::pair<std::string, std::string>{"cpu", spec.cpu},
                                       {"memory", spec.memory}, {kGpuResource, spec.gpu}}) {
    auto q = parse_quantity(text);
    if (!q || q->milli < 0) return Status::InvalidArgument("node " + spec.name + ": bad " + resource + " " + quoted(text));
    node.allocatable[resource] = q->milli;
  }
  node.allocatable["pods"] = static_cast<std::int64_t>(spec.max_pods) * 1000;
  auto existing = nodes_.find(spec.name);
  node.index = existing != nodes_.end() ? existing->second.index : ++next_node_index_;
  nodes_[spec.name] = std::move(node);
  schedule_scheduler();
  return Status::Ok();
}

Status SimulatorImpl::kill_node(const std::string& name, const std::string& mode) {
  auto node = nodes_.find(name);
  if (node == nodes_.end()) return Status::NotFound("node " + name + " not found");
  if (mode != "fail" && mode != "vanish") return Status::InvalidArgument("mode must be fail or vanish, not " + mode);
  std::vector<std::string> keys;
  for (auto& [key, pod] : pods_) {
    if (pod.node == name) keys.push_back(key);
  }
  const std::string now_text = timestamp(now());
  for (const auto& key : keys) {
    auto it = pods_.find(key);
    if (it == pods_.end()) continue;
    Pod& pod = it->second;
    if (mode == "vanish") {
      remove_pod(key);  // the pod garbage collector force-deletes pods of a node that is gone
      continue;
    }
    if (pod.terminal()) continue;
    ++pod.epoch;
    terminate_containers(pod, 137, "ContainerStatusUnknown",
                         "The container could not be located when the pod was terminated");
    pod.phase = "Failed";
    pod.reason = "NodeLost";
    pod.message = "Node " + name + " which was running pod " + pod.name + " is unresponsive";
    set_condition(pod, "DisruptionTarget", "True", "DeletionByTaintManager", "Taint manager: deleting due to NoExecute taint", now_text);
    set_readiness(pod, now_text);
    change(pod);
  }
  if (mode == "vanish") {
    nodes_.erase(name);
  } else {
    node->second.ready = false;
  }
  schedule_scheduler();
  return Status::Ok();
}

Status SimulatorImpl::restore_node(const std::string& name) {
  auto node = nodes_.find(name);
  if (node == nodes_.end()) return Status::NotFound("node " + name + " not found");
  node->second.ready = true;
  schedule_scheduler();
  return Status::Ok();
}

Status SimulatorImpl::add_quota(const QuotaSpec& spec) {
  if (spec.namespace_name.empty() || spec.name.empty()) return Status::InvalidArgument("quota needs namespace and name");
  Quota quota;
  quota.spec = spec;
  for (const auto& [resource, text] : spec.hard) {
    auto q = parse_quantity(text);
    if (!q) return Status::InvalidArgument("quota " + spec.name + ": bad quantity for " + resource + ": " + quoted(text));
    quota.hard[resource] = *q;
  }
  quotas_[spec.namespace_name + "/" + spec.name] = std::move(quota);
  return Status::Ok();
}

Status SimulatorImpl::remove_quota(const std::string& namespace_name, const std::string& name) {
  if (quotas_.erase(namespace_name + "/" + name) == 0) return Status::NotFound("quota " + namespace_name + "/" + name + " not found");
  return Status::Ok();
}

Status SimulatorImpl::evict_pod_kubelet(const std::string& namespace_name, const std::string& name) {
  Pod* pod = find_pod(namespace_name, name);
  if (!pod) return Status::NotFound("pod " + namespace_name + "/" + name + " not found");
  if (!pod->bound() || pod->terminal()) return Status::FailedPrecondition("pod " + name + " is not running on a node");
  const std::string now_text = timestamp(now());
  ++pod->epoch;
  terminate_containers(*pod, 137, "Error", "");
  pod->phase = "Failed";
  pod->reason = "Evicted";
  pod->message = "The node was low on resource: memory. Threshold quantity: 100Mi, available: 42Mi. ";
  set_condition(*pod, "DisruptionTarget", "True", "TerminationByKubelet", "The node was low on resource: memory. ", now_text);
  set_readiness(*pod, now_text);
  change(*pod);
  schedule_scheduler();
  return Status::Ok();
}

Status SimulatorImpl::exit_pod(const std::string& namespace_name, const std::string& name, int code, bool oom) {
  Pod* pod = find_pod(namespace_name, name);
  if (!pod) return Status::NotFound("pod " + namespace_name + "/" + name + " not found");
  if (pod->phase != "Running" || pod->terminating) return Status::FailedPrecondition("pod " + name + " is not running");
  if (oom) {
    container_exit(*pod, 137, "OOMKilled");
  } else {
    container_exit(*pod, code, code == 0 ? "Completed" : "Error");
  }
  return Status::Ok();
}

json::object SimulatorImpl::state_document() const {
  json::array nodes;
  for (const auto& [name, node] : nodes_) {
    ResourceMap used;
    int pods = 0;
    for (const auto& [k, pod] : pods_) {
      if (pod.node != name || pod.terminal()) continue;
      ++pods;
      for (const auto& [r, v] : pod.requests) used[r] += v;
    }
    json::object allocatable;
    json::object requested;
    for (const auto& [r, v] : node.allocatable) {
      if (r == "pods") continue;
      allocatable[r] = format_milli(v, memory_like(r));
      requested[r] = format_milli(used[r], memory_like(r));
    }
    json::object labels;
    for (const auto& [k, v] : node.spec.labels) labels[k] = v;
    nodes.push_back(json::object{{"name", name}, {"ready", node.ready}, {"allocatable", std::move(allocatable)},
                                 {"requested", std::move(requested)}, {"pods", pods}, {"labels", std::move(labels)}});
  }
  std::map<std::string, int> phases;
  std::set<std::string> namespaces;
  for (const auto& [k, pod] : pods_) {
    ++phases[pod.phase];
    namespaces.insert(pod.namespace_name);
  }
  for (const auto& [k, quota] : quotas_) namespaces.insert(quota.spec.namespace_name);
  json::object phase_counts;
  for (const auto& [phase, count] : phases) phase_counts[phase] = count;
  json::object quotas;
  for (const auto& ns : namespaces) {
    auto usage = quota_usage(ns);
    if (!usage.empty()) quotas[ns] = std::move(usage);
  }
  return json::object{{"resourceVersion", std::to_string(resource_version_)},
                      {"compactedResourceVersion", std::to_string(compacted_)},
                      {"simTime", now()},
                      {"pods", static_cast<std::int64_t>(pods_.size())},
                      {"phases", std::move(phase_counts)},
                      {"watches", static_cast<std::int64_t>(watchers_.size())},
                      {"nodes", std::move(nodes)},
                      {"quotas", std::move(quotas)}};
}

void SimulatorImpl::init_cluster() {
  std::vector<NodeSpec> nodes = options_.nodes;
  if (nodes.empty()) {
    for (int i = 1; i <= 3; ++i) {
      NodeSpec node;
      node.name = "sim-node-" + std::to_string(i);
      node.cpu = "16";
      node.memory = "64Gi";
      nodes.push_back(node);
    }
    NodeSpec gpu;
    gpu.name = "sim-gpu-node-1";
    gpu.cpu = "32";
    gpu.memory = "128Gi";
    gpu.gpu = "4";
    gpu.labels["nvidia.com/gpu.present"] = "true";
    nodes.push_back(gpu);
  }
  for (const auto& node : nodes) {
    if (Status s = add_node(node); !s.ok()) throw std::invalid_argument(s.message());
  }
  for (const auto& quota : options_.quotas) {
    if (Status s = add_quota(quota); !s.ok()) throw std::invalid_argument(s.message());
  }
  for (const auto& rule : options_.behaviours) {
    std::string error;
    auto selector = LabelSelector::parse(rule.selector, error);
    if (!selector) throw std::invalid_argument("behaviour selector " + quoted(rule.selector) + ": " + error);
    behaviours_.emplace_back(std::move(*selector), rule.annotations);
  }
}

}  // namespace berth::sim::kubernetes
