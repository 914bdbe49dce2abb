// PodRecord: what the informer keeps of a pod reports its deletion exactly as pod_to_object does
// from the pod itself (a DELETED event's object) and from the slim pod (what the cache used to
// keep); only pods failing to pull their image keep JSON.

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include "adapters/kubernetes/pod_status.h"

namespace berth::kubernetes {
namespace {

namespace json = boost::json;

std::string describe(const BackendObject& o) {
  return "backend_name=" + o.backend_name + " daemon_id=" + o.daemon_id + " app=" + o.app +
         " executor=" + std::to_string(o.executor) + " profile=" + std::to_string(o.profile) +
         " phase=" + to_string(o.phase) + " exit_code=" + (o.exit_code ? std::to_string(*o.exit_code) : "none") +
         " oom_killed=" + std::to_string(o.oom_killed) + " deleted_externally=" + std::to_string(o.deleted_externally) +
         " host=" + o.host + " reason=" + o.reason + " message=" + o.message;
}

// A Berth executor pod named `name` with `status` (JSON text), the way the API server returns it:
// env, resources and managedFields included.
json::object pod(const std::string& name, const std::string& status, const std::string& node = "node-3",
                 bool backend_name_annotation = true) {
  const std::string text = R"({"metadata":{"name":")" + name + R"(","namespace":"spark",
      "creationTimestamp":"2026-01-02T10:00:00Z","resourceVersion":"4711",
      "managedFields":[{"manager":"kubelet","fieldsV1":{"f:status":{}}}],
      "labels":{"berth.dev/daemon":"edge-1","berth.dev/app":"app","berth.dev/executor":"7",
                "berth.dev/profile":"2","berth.dev/pool":"k8s","spark-role":"executor"},
      "annotations":{"berth.dev/daemon":"edge-1","berth.dev/app":"app",)" +
                           (backend_name_annotation ? R"("berth.dev/backend-name":")" + name + R"(",)" : "") +
                           R"("berth.dev/executor-container":"spark-kubernetes-executor"}},
    "spec":{)" + (node.empty() ? "" : R"("nodeName":")" + node + R"(",)") +
                           R"("restartPolicy":"Never",
      "containers":[{"name":"sidecar","image":"s:1"},
                    {"name":"spark-kubernetes-executor","image":"spark:1",
                     "env":[{"name":"SPARK_DRIVER_URL","value":"spark://driver:7078"}],
                     "resources":{"limits":{"memory":"1408Mi"},"requests":{"cpu":"1","memory":"1408Mi"}}}]},
    "status":)" + status + "}";
  return json::parse(text).as_object();
}

std::string containers(const std::string& executor_state) {
  return R"("containerStatuses":[{"name":"sidecar","state":{"running":{}}},)"
         R"({"name":"spark-kubernetes-executor","image":"spark:1","state":)" +
         executor_state + "}]";
}

PodContext context(bool deleted, bool by_berth) {
  PodContext context;
  context.now = *parse_time("2026-01-02T10:01:00Z");
  context.deleted = deleted;
  context.deleted_by_berth = by_berth;
  return context;
}

TEST_CASE("a PodRecord reports a deletion exactly as pod_to_object does from the pod") {
  const std::vector<json::object> pods = {
      pod("berth-app-exec-1", R"({"phase":"Pending"})", ""),
      pod("berth-app-exec-2", R"({"phase":"Pending","conditions":[{"type":"PodScheduled","status":"False",
          "reason":"Unschedulable","message":"0/4 nodes are available"}]})", ""),
      pod("berth-app-exec-3", R"({"phase":"Pending",)" + containers(R"({"waiting":{"reason":"ContainerCreating"}})") + "}"),
      pod("berth-app-exec-4", R"({"phase":"Running","hostIP":"10.0.0.3",)" + containers(R"({"running":{}})") + "}"),
      pod("berth-app-exec-5", R"({"phase":"Running",)" +
                                  containers(R"({"terminated":{"exitCode":52,"reason":"Error"}})") + "}"),
      pod("berth-app-exec-6", R"({"phase":"Failed",)" +
                                  containers(R"({"terminated":{"exitCode":137,"reason":"OOMKilled"}})") + "}"),
      pod("berth-app-exec-7", R"({"phase":"Succeeded"})"),
      pod("berth-app-exec-8", R"({"phase":"Failed","reason":"Evicted","message":"low on memory"})"),
      pod("berth-app-exec-9", R"({"phase":"Unknown"})"),
      pod("berth-app-exec-10", R"({"phase":"Running","conditions":[{"type":"DisruptionTarget","status":"True",
          "reason":"DeletionByTaintManager"}],)" + containers(R"({"running":{}})") + "}"),
      pod("berth-app-exec-11", R"({"phase":"Running","conditions":[{"type":"DisruptionTarget","status":"True",
          "reason":"PreemptionByScheduler"}],)" + containers(R"({"running":{}})") + "}"),
      pod("berth-app-exec-12", R"({"phase":"Pending","startTime":"2026-01-02T10:00:00Z",)" +
                                   containers(R"({"waiting":{"reason":"ImagePullBackOff","message":"not found"}})") + "}"),
      pod("berth-app-exec-13", R"({"phase":"Pending",)" +
                                   containers(R"({"waiting":{"reason":"InvalidImageName"}})") + "}"),
      pod("berth-app-exec-14-no-annotation", R"({"phase":"Running",)" + containers(R"({"running":{}})") + "}",
          "node-3", false),
  };
  for (const auto& full : pods) {
    const std::string name(full.at("metadata").at("name").as_string());
    const json::object slim = slim_pod(full);
    const PodRecord record(full, context(false, false));
    for (bool by_berth : {false, true}) {
      INFO(name << (by_berth ? " deleted by Berth" : " deleted by someone else"));
      const std::string kept = describe(record.deleted(name, by_berth));
      CHECK(kept == describe(pod_to_object(full, context(true, by_berth))));
      CHECK(kept == describe(pod_to_object(slim, context(true, by_berth))));
    }
    // The slim pod reads the same as the whole pod.
    INFO(name);
    CHECK(describe(pod_to_object(slim, context(false, false))) == describe(pod_to_object(full, context(false, false))));
    CHECK(image_pull_deadline(slim, context(false, false)) == image_pull_deadline(full, context(false, false)));
  }
}

TEST_CASE("a PodRecord keeps the slim pod only while its image cannot be pulled") {
  const json::object pulling = pod("berth-app-exec-1", R"({"phase":"Pending","startTime":"2026-01-02T10:00:00Z",)" +
                                                           containers(R"({"waiting":{"reason":"ErrImagePull"}})") + "}");
  const PodRecord failing(pulling, context(false, false));
  REQUIRE(failing.image_pull_pod() != nullptr);
  CHECK(*failing.image_pull_pod() == slim_pod(pulling));
  CHECK_FALSE(failing.image_pull_pod()->at("metadata").as_object().contains("managedFields"));

  const PodRecord running(pod("berth-app-exec-2", R"({"phase":"Running",)" + containers(R"({"running":{}})") + "}"),
                          context(false, false));
  CHECK(running.image_pull_pod() == nullptr);
}

}  // namespace
}  // namespace berth::kubernetes
