// pod_to_object: one row per way a pod can look (DESIGN: one mapping function per adapter, with
// its own table test).

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include "adapters/kubernetes/pod_spec.h"
#include "adapters/kubernetes/pod_status.h"

namespace berth::kubernetes {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

const Timestamp kNow = *parse_time("2026-01-02T10:10:00Z");

// A Berth executor pod with `status` (JSON text) and optionally a spec fragment.
json::object pod(const std::string& status, const std::string& extra_spec = "") {
  const std::string text = R"({"metadata":{"name":"berth-app-exec-7","namespace":"spark",
      "creationTimestamp":"2026-01-02T10:00:00Z",
      "labels":{"berth.dev/daemon":"edge-1","berth.dev/app":"app","berth.dev/executor":"7",
                "berth.dev/profile":"2","berth.dev/pool":"k8s","spark-role":"executor"},
      "annotations":{"berth.dev/daemon":"edge-1","berth.dev/app":"app",
                     "berth.dev/backend-name":"berth-app-exec-7",
                     "berth.dev/executor-container":"spark-kubernetes-executor"}},
    "spec":{"containers":[{"name":"sidecar","image":"s:1"},{"name":"spark-kubernetes-executor","image":"spark:1"}])" +
                           (extra_spec.empty() ? "" : "," + extra_spec) + R"(},
    "status":)" + status + "}";
  return json::parse(text).as_object();
}

std::string containers(const std::string& executor_state, const std::string& sidecar_state = R"({"running":{}})") {
  return R"("containerStatuses":[{"name":"sidecar","state":)" + sidecar_state +
         R"(},{"name":"spark-kubernetes-executor","image":"spark:1","state":)" + executor_state + "}]";
}

struct Row {
  Row(std::string name, json::object pod, bool deleted, bool by_berth, ObservedPhase phase,
      std::optional<std::int32_t> exit_code = std::nullopt, std::string reason = "", bool oom = false,
      bool deleted_externally = false, std::string host = "", std::string message_contains = "")
      : name(std::move(name)), pod(std::move(pod)), deleted(deleted), by_berth(by_berth), phase(phase),
        exit_code(exit_code), reason(std::move(reason)), oom(oom), deleted_externally(deleted_externally),
        host(std::move(host)), message_contains(std::move(message_contains)) {}
  std::string name;
  json::object pod;
  bool deleted;
  bool by_berth;
  ObservedPhase phase;
  std::optional<std::int32_t> exit_code;
  std::string reason;
  bool oom;
  bool deleted_externally;
  std::string host;
  std::string message_contains;
};

TEST_CASE("pod_to_object maps every pod state") {
  const std::string node = R"("nodeName":"node-3")";
  const std::vector<Row> rows = {
      {"just created, not scheduled yet", pod(R"({"phase":"Pending"})"), false, false, ObservedPhase::kPending},
      {"unschedulable: pending with the scheduler's message",
       pod(R"({"phase":"Pending","conditions":[{"type":"PodScheduled","status":"False","reason":"Unschedulable",
              "message":"0/4 nodes are available: 4 Insufficient nvidia.com/gpu."}]})"),
       false, false, ObservedPhase::kPending, std::nullopt, "Unschedulable", false, false, "",
       "Insufficient nvidia.com/gpu"},
      {"scheduled, container creating", pod(R"({"phase":"Pending","hostIP":"10.0.0.3",)" +
                                            containers(R"({"waiting":{"reason":"ContainerCreating"}})") + "}", node),
       false, false, ObservedPhase::kPending, std::nullopt, "ContainerCreating", false, false, "node-3"},
      {"image pull failing, within the timeout: still pending",
       pod(R"({"phase":"Pending","startTime":"2026-01-02T10:09:00Z",)" +
               containers(R"({"waiting":{"reason":"ImagePullBackOff","message":"Back-off pulling image"}})") + "}",
           node),
       false, false, ObservedPhase::kPending, std::nullopt, "ImagePullBackOff", false, false, "node-3"},
      {"image pull failing past the timeout: exited, no exit code",
       pod(R"({"phase":"Pending","startTime":"2026-01-02T10:00:00Z",)" +
               containers(R"({"waiting":{"reason":"ErrImagePull","message":"manifest unknown"}})") + "}",
           node),
       false, false, ObservedPhase::kExited, std::nullopt, "ErrImagePull", false, false, "node-3",
       "could not be pulled for 300s: manifest unknown"},
      {"invalid image name: exited at once",
       pod(R"({"phase":"Pending","startTime":"2026-01-02T10:09:59Z",)" +
               containers(R"({"waiting":{"reason":"InvalidImageName"}})") + "}", node),
       false, false, ObservedPhase::kExited, std::nullopt, "InvalidImageName", false, false, "node-3"},
      {"running", pod(R"({"phase":"Running",)" + containers(R"({"running":{"startedAt":"2026-01-02T10:01:00Z"}})") + "}", node),
       false, false, ObservedPhase::kRunning, std::nullopt, "", false, false, "node-3"},
      {"phase Running but the executor still waiting (sidecar up): pending",
       pod(R"({"phase":"Running",)" + containers(R"({"waiting":{"reason":"ContainerCreating"}})") + "}", node),
       false, false, ObservedPhase::kPending, std::nullopt, "ContainerCreating", false, false, "node-3"},
      {"the executor exited while a sidecar runs: ITS exit code",
       pod(R"({"phase":"Running",)" +
               containers(R"({"terminated":{"exitCode":52,"reason":"Error"}})") + "}", node),
       false, false, ObservedPhase::kExited, 52, "Error", false, false, "node-3", "exited with code 52"},
      {"failed: the executor's code, not the sidecar's 0",
       pod(R"({"phase":"Failed",)" +
               containers(R"({"terminated":{"exitCode":1,"reason":"Error"}})",
                          R"({"terminated":{"exitCode":0,"reason":"Completed"}})") + "}", node),
       false, false, ObservedPhase::kExited, 1, "Error", false, false, "node-3"},
      {"succeeded", pod(R"({"phase":"Succeeded",)" +
                        containers(R"({"terminated":{"exitCode":0,"reason":"Completed"}})") + "}", node),
       false, false, ObservedPhase::kExited, 0, "Completed", false, false, "node-3"},
      {"OOMKilled: oom with 137",
       pod(R"({"phase":"Failed",)" + containers(R"({"terminated":{"exitCode":137,"reason":"OOMKilled"}})") + "}", node),
       false, false, ObservedPhase::kExited, 137, "OOMKilled", true, false, "node-3"},
      {"OOMKilled without a code still 137",
       pod(R"({"phase":"Failed",)" + containers(R"({"terminated":{"reason":"OOMKilled"}})") + "}", node),
       false, false, ObservedPhase::kExited, 137, "OOMKilled", true},
      {"failed without container states (deadline): exited, code unknown",
       pod(R"({"phase":"Failed","reason":"DeadlineExceeded","message":"Pod was active too long"})", node),
       false, false, ObservedPhase::kExited, std::nullopt, "DeadlineExceeded", false, false, "node-3",
       "active too long"},
      {"evicted: lost with the host",
       pod(R"({"phase":"Failed","reason":"Evicted","message":"The node was low on resource: memory.",)" +
               containers(R"({"terminated":{"exitCode":137,"reason":"Error"}})") + "}", node),
       false, false, ObservedPhase::kLost, std::nullopt, "Evicted", false, false, "node-3", "low on resource"},
      {"node unreachable (phase Unknown): lost",
       pod(R"({"phase":"Unknown","reason":"NodeLost"})", node), false, false, ObservedPhase::kLost,
       std::nullopt, "NodeLost", false, false, "node-3"},
      {"host from hostIP when there is no nodeName",
       pod(R"({"phase":"Failed","reason":"Evicted","hostIP":"10.0.0.9"})"), false, false, ObservedPhase::kLost,
       std::nullopt, "Evicted", false, false, "10.0.0.9"},
      {"deleted by the taint manager (node gone): lost",
       pod(R"({"phase":"Running","conditions":[{"type":"DisruptionTarget","status":"True","reason":"DeletionByTaintManager"}],)" +
               containers(R"({"running":{}})") + "}", node),
       true, false, ObservedPhase::kLost, std::nullopt, "DeletionByTaintManager", false, false, "node-3"},
      {"removed by the pod garbage collector (node object gone): lost",
       pod(R"({"phase":"Running","conditions":[{"type":"DisruptionTarget","status":"True","reason":"DeletionByPodGC"}],)" +
               containers(R"({"running":{}})") + "}", node),
       true, false, ObservedPhase::kLost, std::nullopt, "DeletionByPodGC", false, false, "node-3"},
      {"deleted by someone else while running: exited, deleted externally",
       pod(R"({"phase":"Running",)" + containers(R"({"running":{}})") + "}", node), true, false,
       ObservedPhase::kExited, std::nullopt, "Deleted", false, true, "node-3", "deleted outside Berth"},
      {"deleted by someone else, executor already terminated by the grace period: its code, externally",
       pod(R"({"phase":"Running",)" + containers(R"({"terminated":{"exitCode":143,"reason":"Error"}})") + "}", node),
       true, false, ObservedPhase::kExited, 143, "Error", false, true, "node-3"},
      {"preempted: deleted externally with the disruption reason",
       pod(R"({"phase":"Pending","conditions":[{"type":"DisruptionTarget","status":"True","reason":"PreemptionByScheduler"}]})"),
       true, false, ObservedPhase::kExited, std::nullopt, "PreemptionByScheduler", false, true},
      {"deleted after it had ended: the end it reached, not an external deletion",
       pod(R"({"phase":"Failed",)" + containers(R"({"terminated":{"exitCode":3,"reason":"Error"}})") + "}", node),
       true, false, ObservedPhase::kExited, 3, "Error", false, false, "node-3"},
      {"deleted by Berth: gone",
       pod(R"({"phase":"Running",)" + containers(R"({"running":{}})") + "}", node), true, true,
       ObservedPhase::kGone, std::nullopt, "Deleted", false, false, "node-3"},
  };
  for (const Row& row : rows) {
    SECTION(row.name) {
      PodContext context;
      context.now = kNow;
      context.image_pull_failure_timeout = 300s;
      context.deleted = row.deleted;
      context.deleted_by_berth = row.by_berth;
      const BackendObject object = pod_to_object(row.pod, context);
      CHECK(object.backend_name == "berth-app-exec-7");
      CHECK(object.daemon_id == "edge-1");
      CHECK(object.app == "app");
      CHECK(object.executor == 7);
      CHECK(object.profile == 2);
      CHECK(to_string(object.phase) == std::string(to_string(row.phase)));
      CHECK(object.exit_code == row.exit_code);
      CHECK(object.reason == row.reason);
      CHECK(object.oom_killed == row.oom);
      CHECK(object.deleted_externally == row.deleted_externally);
      if (!row.host.empty()) CHECK(object.host == row.host);
      if (!row.message_contains.empty()) CHECK_THAT(object.message, Catch::Contains(row.message_contains));
    }
  }
}

TEST_CASE("a pod without Berth's daemon label has no daemon id; sanitized labels read back exactly") {
  auto plain = json::parse(R"({"metadata":{"name":"someone-elses","labels":{"app":"x"}},"status":{"phase":"Running"}})");
  CHECK(pod_to_object(plain.as_object(), {}).daemon_id.empty());

  auto odd = json::parse(R"({"metadata":{"name":"berth-spark-app-1-exec-3-0123456789",
      "labels":{"berth.dev/daemon":"Edge-Node-abc","berth.dev/app":"Spark-App-1-def","berth.dev/executor":"3"},
      "annotations":{"berth.dev/daemon":"Edge Node","berth.dev/app":"Spark App #1",
                     "berth.dev/backend-name":"berth-Spark App #1-exec-3"}},
      "status":{"phase":"Pending"}})");
  BackendObject object = pod_to_object(odd.as_object(), {});
  CHECK(object.daemon_id == "Edge Node");
  CHECK(object.app == "Spark App #1");
  CHECK(object.backend_name == "berth-Spark App #1-exec-3");
  CHECK(object.executor == 3);
}

TEST_CASE("the image pull deadline counts from the pod's start") {
  PodContext context;
  context.now = kNow;
  context.image_pull_failure_timeout = 120s;
  auto failing = pod(R"({"phase":"Pending","startTime":"2026-01-02T10:09:00Z",)" +
                     containers(R"({"waiting":{"reason":"ImagePullBackOff"}})") + "}");
  auto deadline = image_pull_deadline(failing, context);
  REQUIRE(deadline);
  CHECK(*deadline == *parse_time("2026-01-02T10:11:00Z"));
  CHECK_FALSE(image_pull_deadline(pod(R"({"phase":"Pending"})"), context));
}

TEST_CASE("RFC 3339 times") {
  CHECK(parse_time("2026-01-02T10:00:00Z"));
  CHECK(*parse_time("2026-01-02T10:00:00.250Z") - *parse_time("2026-01-02T10:00:00Z") == 250ms);
  CHECK(*parse_time("2026-01-02T12:00:00+02:00") == *parse_time("2026-01-02T10:00:00Z"));
  CHECK_FALSE(parse_time("yesterday"));
  CHECK_FALSE(parse_time("2026-13-02T10:00:00Z"));
}

}  // namespace
}  // namespace berth::kubernetes
