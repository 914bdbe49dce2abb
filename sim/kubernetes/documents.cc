// What kubectl reads besides pods: Status errors, discovery, the OpenAPI v3 documents that
// announce server-side field validation, and the Table form of pods (kubectl's printer columns).

#include <cmath>

#include "sim/kubernetes/internal.h"

namespace berth::sim::kubernetes {

std::string string_at(const json::object& object, std::initializer_list<const char*> path) {
  const json::object* current = &object;
  const json::value* value = nullptr;
  for (const char* key : path) {
    if (!current) return {};
    auto it = current->find(key);
    if (it == current->end()) return {};
    value = &it->value();
    current = value->is_object() ? &value->as_object() : nullptr;
  }
  if (!value) return {};
  if (value->is_string()) return std::string(value->as_string());
  if (value->is_bool()) return value->as_bool() ? "true" : "false";
  if (value->is_number()) return json::serialize(*value);
  return {};
}

Labels labels_of(const json::object& pod) {
  Labels labels;
  auto meta = pod.find("metadata");
  if (meta == pod.end() || !meta->value().is_object()) return labels;
  auto it = meta->value().as_object().find("labels");
  if (it == meta->value().as_object().end() || !it->value().is_object()) return labels;
  for (const auto& [k, v] : it->value().as_object()) {
    if (v.is_string()) labels[std::string(k)] = std::string(v.as_string());
  }
  return labels;
}

std::map<std::string, std::string> fields_of(const json::object& pod) {
  std::map<std::string, std::string> fields;
  fields["metadata.name"] = string_at(pod, {"metadata", "name"});
  fields["metadata.namespace"] = string_at(pod, {"metadata", "namespace"});
  fields["spec.nodeName"] = string_at(pod, {"spec", "nodeName"});
  fields["spec.restartPolicy"] = string_at(pod, {"spec", "restartPolicy"});
  fields["spec.schedulerName"] = string_at(pod, {"spec", "schedulerName"});
  fields["spec.serviceAccountName"] = string_at(pod, {"spec", "serviceAccountName"});
  const std::string host_network = string_at(pod, {"spec", "hostNetwork"});
  fields["spec.hostNetwork"] = host_network.empty() ? "false" : host_network;
  fields["status.phase"] = string_at(pod, {"status", "phase"});
  fields["status.podIP"] = string_at(pod, {"status", "podIP"});
  fields["status.podIPs"] = string_at(pod, {"status", "podIP"});
  fields["status.nominatedNodeName"] = string_at(pod, {"status", "nominatedNodeName"});
  return fields;
}

json::object with_kind(const json::object& pod) {
  json::object out;
  out["kind"] = "Pod";
  out["apiVersion"] = "v1";
  for (const auto& [k, v] : pod) out[k] = v;
  return out;
}

json::object status_object(const ApiError& error) {
  json::object status{{"kind", "Status"},   {"apiVersion", "v1"},        {"metadata", json::object()},
                      {"status", "Failure"}, {"message", error.message}, {"reason", error.reason}};
  if (!error.details.empty()) status["details"] = error.details;
  status["code"] = error.code;
  return status;
}

json::value version_document() {
  return json::object{{"major", "1"},
                      {"minor", "31"},
                      {"gitVersion", "v1.31.0-berth-sim"},
                      {"gitCommit", "0000000000000000000000000000000000000000"},
                      {"gitTreeState", "clean"},
                      {"buildDate", "2024-08-13T07:28:49Z"},
                      {"goVersion", "go1.22.5"},
                      {"compiler", "gc"},
                      {"platform", "linux/amd64"}};
}

json::value api_versions_document(const std::string& server_address) {
  return json::object{
      {"kind", "APIVersions"},
      {"versions", json::array{"v1"}},
      {"serverAddressByClientCIDRs",
       json::array{json::object{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", server_address}}}}};
}

json::value api_group_list_document() {
  return json::object{{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", json::array()}};
}

json::value api_resource_list_document() {
  json::array resources;
  resources.push_back(json::object{
      {"name", "pods"},
      {"singularName", "pod"},
      {"namespaced", true},
      {"kind", "Pod"},
      {"verbs", json::array{"create", "delete", "deletecollection", "get", "list", "watch"}},
      {"shortNames", json::array{"po"}},
      {"categories", json::array{"all"}}});
  resources.push_back(json::object{{"name", "pods/status"}, {"singularName", ""}, {"namespaced", true},
                                   {"kind", "Pod"}, {"verbs", json::array{"get"}}});
  resources.push_back(json::object{{"name", "pods/log"}, {"singularName", ""}, {"namespaced", true},
                                   {"kind", "Pod"}, {"verbs", json::array{"get"}}});
  resources.push_back(json::object{{"name", "pods/eviction"}, {"singularName", ""}, {"namespaced", true},
                                   {"group", "policy"}, {"version", "v1"}, {"kind", "Eviction"},
                                   {"verbs", json::array{"create"}}});
  resources.push_back(json::object{{"name", "namespaces"},
                                   {"singularName", "namespace"},
                                   {"namespaced", false},
                                   {"kind", "Namespace"},
                                   {"verbs", json::array{"get", "list"}},
                                   {"shortNames", json::array{"ns"}}});
  return json::object{{"kind", "APIResourceList"}, {"groupVersion", "v1"}, {"resources", std::move(resources)}};
}

json::value openapi_v3_root() {
  return json::object{
      {"paths", json::object{{"api/v1", json::object{{"serverRelativeURL", "/openapi/v3/api/v1?hash=BERTHSIM1"}}}}}};
}

json::value openapi_v3_core() {
  const json::object gvk{{"group", ""}, {"version", "v1"}, {"kind", "Pod"}};
  const json::array parameters{
      json::object{{"name", "fieldValidation"}, {"in", "query"}, {"schema", json::object{{"type", "string"}}}},
      json::object{{"name", "fieldManager"}, {"in", "query"}, {"schema", json::object{{"type", "string"}}}},
      json::object{{"name", "dryRun"}, {"in", "query"}, {"schema", json::object{{"type", "string"}}}}};
  const json::object ok{{"200", json::object{{"description", "OK"}}}};
  const json::object created{{"201", json::object{{"description", "Created"}}}};
  auto operation = [&](const char* id, const json::object& responses) {
    return json::object{{"operationId", id}, {"x-kubernetes-group-version-kind", gvk},
                        {"parameters", parameters}, {"responses", responses}};
  };
  json::object schemas;
  schemas["io.k8s.api.core.v1.Pod"] = json::object{
      {"type", "object"},
      {"description", "Pod is a collection of containers that can run on a host."},
      {"properties", json::object{{"apiVersion", json::object{{"type", "string"}}},
                                  {"kind", json::object{{"type", "string"}}},
                                  {"metadata", json::object{{"type", "object"}}},
                                  {"spec", json::object{{"type", "object"}}},
                                  {"status", json::object{{"type", "object"}}}}},
      {"x-kubernetes-group-version-kind", json::array{gvk}}};
  json::object paths;
  paths["/api/v1/namespaces/{namespace}/pods"] =
      json::object{{"post", operation("createCoreV1NamespacedPod", created)},
                   {"get", operation("listCoreV1NamespacedPod", ok)}};
  paths["/api/v1/namespaces/{namespace}/pods/{name}"] =
      json::object{{"patch", operation("patchCoreV1NamespacedPod", ok)},
                   {"get", operation("readCoreV1NamespacedPod", ok)},
                   {"delete", operation("deleteCoreV1NamespacedPod", ok)}};
  return json::object{{"openapi", "3.0.0"},
                      {"info", json::object{{"title", "Kubernetes (berth-sim)"}, {"version", "v1.31.0"}}},
                      {"paths", std::move(paths)},
                      {"components", json::object{{"schemas", std::move(schemas)}}}};
}

json::value namespace_object(const std::string& name, const std::string& created) {
  return json::object{{"kind", "Namespace"},
                      {"apiVersion", "v1"},
                      {"metadata", json::object{{"name", name},
                                                {"creationTimestamp", created},
                                                {"labels", json::object{{"kubernetes.io/metadata.name", name}}}}},
                      {"spec", json::object{{"finalizers", json::array{"kubernetes"}}}},
                      {"status", json::object{{"phase", "Active"}}}};
}

std::string format_age(double seconds) {
  if (seconds < 0) seconds = 0;
  const auto s = static_cast<long long>(seconds);
  if (s < 120) return std::to_string(s) + "s";
  const long long m = s / 60;
  if (m < 10) return std::to_string(m) + "m" + (s % 60 ? std::to_string(s % 60) + "s" : "");
  if (m < 180) return std::to_string(m) + "m";
  const long long h = m / 60;
  if (h < 48) return std::to_string(h) + "h";
  return std::to_string(h / 24) + "d";
}

std::string pod_status_cell(const json::object& pod) {
  if (!string_at(pod, {"metadata", "deletionTimestamp"}).empty()) return "Terminating";
  const std::string reason = string_at(pod, {"status", "reason"});
  if (!reason.empty()) return reason;
  std::string phase = string_at(pod, {"status", "phase"});
  auto status = pod.find("status");
  if (status != pod.end() && status->value().is_object()) {
    auto statuses = status->value().as_object().find("containerStatuses");
    if (statuses != status->value().as_object().end() && statuses->value().is_array()) {
      std::string cell;
      for (const auto& cs : statuses->value().as_array()) {
        if (!cs.is_object()) continue;
        const std::string waiting = string_at(cs.as_object(), {"state", "waiting", "reason"});
        const std::string terminated = string_at(cs.as_object(), {"state", "terminated", "reason"});
        if (!waiting.empty() && waiting != "ContainerCreating") return waiting;
        if (!terminated.empty() && cell.empty()) cell = terminated;
        if (!waiting.empty() && cell.empty()) cell = waiting;
      }
      if (!cell.empty() && (phase != "Running" || cell == "ContainerCreating")) return cell;
    }
  }
  return phase;
}

json::object pod_table(const std::vector<const json::object*>& pods, const std::string& resource_version,
                       bool full_object, double now_unix) {
  json::array columns;
  auto column = [&](const char* name, const char* format, int priority, const char* description) {
    columns.push_back(json::object{{"name", name}, {"type", "string"}, {"format", format},
                                   {"description", description}, {"priority", priority}});
  };
  column("Name", "name", 0, "Name must be unique within a namespace.");
  column("Ready", "", 0, "The aggregate readiness state of this pod for accepting traffic.");
  column("Status", "", 0, "The aggregate status of the containers in this pod.");
  column("Restarts", "", 0, "The number of times the containers in this pod have been restarted.");
  column("Age", "", 0, "CreationTimestamp is a timestamp representing the server time when this object was created.");
  column("IP", "", 1, "IP address allocated to the pod. Routable at least within the cluster.");
  column("Node", "", 1, "NodeName is a request to schedule this pod onto a specific node.");
  column("Nominated Node", "", 1, "nominatedNodeName is set when this pod preempts other pods on the node.");
  column("Readiness Gates", "", 1, "If specified, all readiness gates will be evaluated for pod readiness.");
  json::array rows;
  for (const json::object* pod : pods) {
    int total = 0;
    int ready = 0;
    long long restarts = 0;
    auto spec = pod->find("spec");
    if (spec != pod->end() && spec->value().is_object()) {
      auto containers = spec->value().as_object().find("containers");
      if (containers != spec->value().as_object().end() && containers->value().is_array()) {
        total = static_cast<int>(containers->value().as_array().size());
      }
    }
    auto status = pod->find("status");
    if (status != pod->end() && status->value().is_object()) {
      auto statuses = status->value().as_object().find("containerStatuses");
      if (statuses != status->value().as_object().end() && statuses->value().is_array()) {
        for (const auto& cs : statuses->value().as_array()) {
          if (!cs.is_object()) continue;
          if (string_at(cs.as_object(), {"ready"}) == "true") ++ready;
          auto count = cs.as_object().find("restartCount");
          if (count != cs.as_object().end() && count->value().is_int64()) restarts += count->value().as_int64();
        }
      }
    }
    double age = 0;
    const std::string created = string_at(*pod, {"metadata", "creationTimestamp"});
    if (!created.empty()) {
      std::tm tm{};
      if (strptime(created.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm)) age = now_unix - static_cast<double>(timegm(&tm));
    }
    auto or_none = [](const std::string& value) { return value.empty() ? std::string("<none>") : value; };
    json::array cells{string_at(*pod, {"metadata", "name"}),
                      std::to_string(ready) + "/" + std::to_string(total),
                      pod_status_cell(*pod),
                      std::to_string(restarts),
                      format_age(age),
                      or_none(string_at(*pod, {"status", "podIP"})),
                      or_none(string_at(*pod, {"spec", "nodeName"})),
                      or_none(string_at(*pod, {"status", "nominatedNodeName"})),
                      "<none>"};
    json::object object;
    if (full_object) {
      object = with_kind(*pod);
    } else {
      json::object metadata;
      auto meta = pod->find("metadata");
      if (meta != pod->end() && meta->value().is_object()) metadata = meta->value().as_object();
      object = json::object{{"kind", "PartialObjectMetadata"}, {"apiVersion", "meta.k8s.io/v1"},
                            {"metadata", std::move(metadata)}};
    }
    rows.push_back(json::object{{"cells", std::move(cells)}, {"object", std::move(object)}});
  }
  return json::object{{"kind", "Table"},
                      {"apiVersion", "meta.k8s.io/v1"},
                      {"metadata", json::object{{"resourceVersion", resource_version}}},
                      {"columnDefinitions", std::move(columns)},
                      {"rows", std::move(rows)}};
}

}  // namespace berth::sim::kubernetes
