// Allocations, jobs and evaluations read as observations with Spark's loss reasons.

#include <catch2/catch.hpp>

#include <boost/json/parse.hpp>

#include "adapters/nomad/alloc_status.h"
#include "adapters/nomad/api_errors.h"

namespace berth::nomad {
namespace {

namespace json = boost::json;

json::object parse(const std::string& text) { return json::parse(text).as_object(); }

std::string terminated(int code, int signal, bool oom) {
  return R"({"Type":"Terminated","ExitCode":)" + std::to_string(code) + R"(,"Signal":)" + std::to_string(signal) +
         R"(,"DisplayMessage":"Exit Code: )" + std::to_string(code) + R"(","Details":{"exit_code":")" +
         std::to_string(code) + R"(","signal":")" + std::to_string(signal) + R"(","oom_killed":")" +
         (oom ? "true" : "false") + R"("}})";
}

json::object alloc(const std::string& client_status, const std::string& events, const std::string& desired = "run") {
  return parse(R"({"ID":"a1","JobID":"berth-app-1-exec-7","NodeName":"node-3","CreateIndex":10,"ModifyIndex":12,
    "DesiredStatus":")" + desired + R"(","ClientStatus":")" + client_status + R"(","ClientDescription":"desc",
    "TaskStates":{"log-shipper":{"State":"running","Events":[]},
                  "executor":{"State":"dead","Events":[)" + events + R"(]}}})");
}

JobState job_with(std::optional<AllocState> state) {
  JobState job;
  job.identity = JobIdentity{"berth-app-1-exec-7", "edge-1", "app-1", 7, 0, "nomad"};
  job.alloc = std::move(state);
  return job;
}

TEST_CASE("identity_of reads Berth's Meta and refuses jobs without it") {
  auto identity = identity_of(parse(R"({"ID":"berth-app-1-exec-7","Meta":{"berth.dev/daemon":"edge-1",
      "berth.dev/app":"app-1","berth.dev/executor":"7","berth.dev/profile":"2","berth.dev/pool":"nomad"}})"));
  REQUIRE(identity);
  CHECK(identity->daemon_id == "edge-1");
  CHECK(identity->app == "app-1");
  CHECK(identity->executor == 7);
  CHECK(identity->profile == 2);
  CHECK(identity->pool == "nomad");
  CHECK_FALSE(identity_of(parse(R"({"ID":"web","Meta":{"owner":"x"}})")));
  CHECK_FALSE(identity_of(parse(R"({"ID":"web"})")));
  CHECK_FALSE(identity_of(parse(R"({"ID":"x","Meta":{"berth.dev/daemon":"d","berth.dev/app":"a","berth.dev/executor":"x"}})")));
}

TEST_CASE("pending, running and complete allocations; the executor task speaks, not the sidecar") {
  auto pending = alloc_state(alloc("pending", R"({"Type":"Received"},{"Type":"Driver","DriverMessage":"Downloading image"})"), "executor");
  CHECK(pending.phase == ObservedPhase::kPending);
  CHECK(pending.message == "Downloading image");
  auto running = alloc_state(alloc("running", R"({"Type":"Started"})"), "executor");
  CHECK(running.phase == ObservedPhase::kRunning);
  CHECK(running.host == "node-3");
  auto complete = alloc_state(alloc("complete", R"({"Type":"Started"},)" + terminated(0, 0, false)), "executor");
  CHECK(complete.phase == ObservedPhase::kExited);
  CHECK(complete.exit_code == 0);
  CHECK(complete.reason == "Completed");
}

TEST_CASE("a failed allocation reports the executor's exit code, its signal, or OOM") {
  auto failed = alloc_state(alloc("failed", R"({"Type":"Started"},)" + terminated(3, 0, false) +
                                                R"(,{"Type":"Not Restarting","FailsTask":true})"), "executor");
  CHECK(failed.phase == ObservedPhase::kExited);
  CHECK(failed.exit_code == 3);
  CHECK_FALSE(failed.oom_killed);
  CHECK_FALSE(failed.start_failed);
  CHECK(failed.reason == "Error");
  CHECK(failed.message == "Exit Code: 3");

  auto signalled = alloc_state(alloc("failed", R"({"Type":"Started"},)" + terminated(0, 9, false)), "executor");
  CHECK(signalled.exit_code == 137);

  auto oom = alloc_state(alloc("failed", R"({"Type":"Started"},)" + terminated(137, 0, true)), "executor");
  CHECK(oom.exit_code == 137);
  CHECK(oom.oom_killed);
  CHECK(oom.reason == "OOMKilled");
}

TEST_CASE("a driver failure before the task started is a start failure with the driver's message") {
  auto state = alloc_state(alloc("failed", R"({"Type":"Received"},{"Type":"Driver Failure",
      "DriverError":"Failed to pull `nope:1`: not found","DisplayMessage":"Failed to pull"})"), "executor");
  CHECK(state.phase == ObservedPhase::kExited);
  CHECK(state.start_failed);
  CHECK_FALSE(state.exit_code);
  CHECK(state.reason == "DriverFailure");
  CHECK_THAT(state.message, Catch::Contains("Failed to pull `nope:1`: not found"));
}

TEST_CASE("lost allocations are LOST with their node; unknown ones are not lost yet") {
  auto lost = alloc_state(alloc("lost", R"({"Type":"Started"})"), "executor");
  CHECK(lost.phase == ObservedPhase::kLost);
  CHECK(lost.host == "node-3");
  CHECK(lost.reason == "NodeLost");
  auto unknown = alloc_state(alloc("unknown", R"({"Type":"Started"})"), "executor");
  CHECK(unknown.phase == ObservedPhase::kRunning);
}

TEST_CASE("to_object: pending with the placement failure, stopped by others, deregistered by Berth") {
  JobState job = job_with(std::nullopt);
  job.placement_failure = "0 of 3 nodes fit: 3 exhausted (memory: 3)";
  auto pending = to_object(job, false);
  CHECK(pending.phase == ObservedPhase::kPending);
  CHECK(pending.reason == "Unschedulable");
  CHECK(pending.message == job.placement_failure);
  CHECK(pending.backend_name == "berth-app-1-exec-7");
  CHECK(pending.executor == 7);

  auto running = alloc_state(alloc("running", R"({"Type":"Started"})"), "executor");
  JobState stopped = job_with(running);
  stopped.stopped = true;
  auto external = to_object(stopped, false);
  CHECK(external.phase == ObservedPhase::kExited);
  CHECK(external.deleted_externally);
  CHECK(external.reason == "JobStopped");
  auto ours = to_object(stopped, true);
  CHECK(ours.phase == ObservedPhase::kRunning);  // still stopping
  CHECK_FALSE(ours.deleted_externally);

  JobState alloc_stopped = job_with(running);
  alloc_stopped.alloc_stopped_by_others = true;
  CHECK(to_object(alloc_stopped, false).deleted_externally);

  JobState never_placed = job_with(std::nullopt);
  never_placed.stopped = true;
  // Berth's own stop or purge ends as its kill (core keeps its reason), someone else's as a loss.
  CHECK(to_object(never_placed, true).phase == ObservedPhase::kExited);
  CHECK_FALSE(to_object(never_placed, true).deleted_externally);
  CHECK(gone_object(never_placed, false).phase == ObservedPhase::kGone);
  CHECK(gone_object(never_placed, false).deleted_externally);
  auto purged_running = gone_object(job_with(running), true);
  CHECK(purged_running.phase == ObservedPhase::kExited);
  CHECK_FALSE(purged_running.exit_code);  // its end was not seen
  CHECK_FALSE(purged_running.deleted_externally);
  CHECK(purged_running.reason == "Deregistered");
  auto ended = alloc_state(alloc("complete", R"({"Type":"Started"},{"Type":"Terminated","Details":{"exit_code":"143"}})"),
                           "executor");
  CHECK(gone_object(job_with(ended), true).exit_code == 143);
}

TEST_CASE("Nomad's replacement of a lost allocation is reported live after the executor's end, for core to stop") {
  auto lost = alloc_state(alloc("lost", R"({"Type":"Started"})"), "executor");
  JobState job = job_with(lost);
  CHECK_FALSE(replacement_object(job));  // no replacement yet
  AllocState replacement = alloc_state(alloc("running", R"({"Type":"Started"})"), "executor");
  replacement.id = "a2";
  replacement.create_index = 20;
  replacement.host = "node-5";
  job.replacement = replacement;
  CHECK(to_object(job, false).phase == ObservedPhase::kLost);  // the executor's own end
  auto live = replacement_object(job);
  REQUIRE(live);
  CHECK(live->phase == ObservedPhase::kRunning);
  CHECK(live->backend_name == "berth-app-1-exec-7");
  CHECK(live->host == "node-5");
  job.replacement->stop_desired = true;  // already being stopped
  CHECK_FALSE(replacement_object(job));
  JobState running = job_with(alloc_state(alloc("running", R"({"Type":"Started"})"), "executor"));
  running.replacement = replacement;
  CHECK_FALSE(replacement_object(running));  // the executor has not ended: nothing to stop yet
}

TEST_CASE("a job is settled once dead, or stopped with nothing left running; only then can it be forgotten") {
  JobState exited = job_with(alloc_state(alloc("failed", terminated(3, 0, false)), "executor"));
  CHECK(reported_ended(exited, false));
  CHECK_FALSE(settled(exited));  // Status not dead yet
  exited.dead = true;
  CHECK(settled(exited));
  CHECK(last_index(exited) == 12);

  JobState stopping = job_with(alloc_state(alloc("running", R"({"Type":"Started"})", "stop"), "executor"));
  stopping.stopped = true;
  CHECK_FALSE(reported_ended(stopping, true));  // Berth's kill: the allocation still runs
  CHECK_FALSE(settled(stopping));
  stopping.alloc = alloc_state(alloc("complete", terminated(143, 15, false), "stop"), "executor");
  CHECK(reported_ended(stopping, true));
  CHECK(settled(stopping));

  JobState never_placed;
  never_placed.stopped = true;
  CHECK(reported_ended(never_placed, true));
  CHECK(settled(never_placed));

  // A lost executor whose replacement runs: not ended for Berth (core must stop it), nor for Nomad.
  JobState lost = job_with(alloc_state(alloc("lost", R"({"Type":"Started"})"), "executor"));
  AllocState replacement = alloc_state(alloc("running", R"({"Type":"Started"})"), "executor");
  replacement.id = "a2";
  replacement.create_index = 20;
  replacement.modify_index = 21;
  lost.replacement = replacement;
  CHECK_FALSE(reported_ended(lost, false));
  CHECK_FALSE(settled(lost));
  CHECK(last_index(lost) == 21);
}

TEST_CASE("placement failures read as one sentence") {
  auto text = placement_failure_text(parse(R"({"NodesEvaluated":4,"NodesFiltered":1,"NodesExhausted":3,
      "DimensionExhausted":{"memory":3},"ConstraintFiltered":{"${attr.kernel.name} = linux":1},"CoalescedFailures":2})"));
  CHECK(text == "0 of 4 nodes fit: 3 exhausted (memory: 3), 1 filtered (${attr.kernel.name} = linux: 1) "
                "(and 2 more placements failed the same way)");
  CHECK_THAT(placement_failure_text(parse(R"({"NodesEvaluated":0})")), Catch::Contains("no node is eligible"));
}

TEST_CASE("Nomad's plain-text errors map to statuses; only transient ones are retryable") {
  auto status = [](int code, const std::string& body) { return status_of(net::HttpResponse{code, {}, body}, "register job j"); };
  CHECK(status(200, "{}").ok());
  auto validation = status(500, "1 error occurred:\n\t* Task group executor validation failed: minimum CPU value is 1; got 0\n\n");
  CHECK(validation.code() == StatusCode::kInvalidArgument);
  CHECK(validation.message() ==
        "register job j: Nomad answered 500: 1 error occurred: * Task group executor validation failed: minimum CPU "
        "value is 1; got 0");
  CHECK(status(500, "Enforcing job modify index 0: job already exists").code() == StatusCode::kAlreadyExists);
  CHECK(status(500, "No cluster leader").retryable());
  CHECK(status(500, "rpc error: EOF").retryable());
  CHECK(status(429, "Your IP is issuing too many concurrent connections, please rate limit your calls").retryable());
  CHECK(status(503, "").retryable());
  CHECK(status(403, "Permission denied").code() == StatusCode::kPermissionDenied);
  CHECK_FALSE(status(403, "ACL token not found").retryable());
  CHECK(status(400, "Job ID does not match name").code() == StatusCode::kInvalidArgument);
  CHECK(status(404, "job not found").code() == StatusCode::kNotFound);
}

}  // namespace
}  // namespace berth::nomad
