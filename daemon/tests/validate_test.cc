#include <catch2/catch.hpp>

#include "daemon/convert.h"
#include "daemon/validate.h"

using namespace berth;

namespace {

v1::RegisterApplicationRequest good_request() {
  v1::RegisterApplicationRequest r;
  r.set_app_id("spark-application-1700000000000");
  r.set_tenant("team-a");
  r.add_pools("local");
  auto* p = r.add_profiles();
  p->set_id(0);
  p->set_cores(2);
  p->set_heap_mib(2048);
  auto* gpu = p->add_resources();
  gpu->set_name("gpu");
  gpu->set_vendor("nvidia.com");
  gpu->set_amount(1);
  r.mutable_launch()->add_command("/opt/spark/bin/executor");
  (*r.mutable_launch()->mutable_env())["SPARK_LOCAL_DIRS"] = "/tmp";
  (*r.mutable_launch()->mutable_labels())["team"] = "a";
  r.mutable_driver()->set_url("spark://CoarseGrainedScheduler@10.0.0.1:7078");
  r.set_lease_ttl_seconds(30);
  return r;
}

std::string error_of(const Status& s) { return s.ok() ? "OK" : s.message(); }

}  // namespace

TEST_CASE("a well-formed registration passes") { CHECK(validate(good_request()).ok()); }

TEST_CASE("each bad registration field is named in INVALID_ARGUMENT") {
  struct Case {
    const char* name;
    std::function<void(v1::RegisterApplicationRequest&)> mutate;
    const char* expected_prefix;
  };
  const Case cases[] = {
      {"missing app id", [](auto& r) { r.clear_app_id(); }, "app_id: is required"},
      {"upper-case app id", [](auto& r) { r.set_app_id("Spark-App"); }, "app_id: may contain only"},
      {"app id too long", [](auto& r) { r.set_app_id(std::string(49, 'a')); }, "app_id: is longer than 48"},
      {"app id ends with dash", [](auto& r) { r.set_app_id("app-"); }, "app_id: must start and end"},
      {"bad tenant", [](auto& r) { r.set_tenant("Team A"); }, "tenant:"},
      {"bad pool", [](auto& r) { r.set_pools(0, "Pool_1"); }, "pools[0]:"},
      {"duplicate pool", [](auto& r) { r.add_pools("local"); }, "pools[1]: duplicate pool"},
      {"zero cores", [](auto& r) { r.mutable_profiles(0)->set_cores(0); }, "profiles[0].cores: must be between 1 and 1024, got 0"},
      {"negative heap", [](auto& r) { r.mutable_profiles(0)->set_heap_mib(-1); }, "profiles[0].heap_mib:"},
      {"NaN overhead factor", [](auto& r) { r.mutable_profiles(0)->set_overhead_factor(std::nan("")); }, "profiles[0].overhead_factor:"},
      {"duplicate profile", [](auto& r) { *r.add_profiles() = r.profiles(0); }, "profiles[1].id: duplicate profile id 0"},
      {"resource without amount", [](auto& r) { r.mutable_profiles(0)->mutable_resources(0)->set_amount(0); }, "profiles[0].resources[0].amount:"},
      {"bad env name", [](auto& r) { (*r.mutable_launch()->mutable_env())["1BAD"] = "x"; }, "launch.env[\"1BAD\"]:"},
      {"bad label value", [](auto& r) { (*r.mutable_launch()->mutable_labels())["team"] = "has space"; }, "launch.labels[\"team\"]:"},
      {"NUL in command", [](auto& r) { r.mutable_launch()->set_command(0, std::string("a\0b", 3)); }, "launch.command[0]: contains a NUL byte"},
      {"lease too long", [](auto& r) { r.set_lease_ttl_seconds(100000); }, "lease_ttl_seconds:"},
      {"driver pod without name", [](auto& r) { r.mutable_driver()->mutable_pod()->set_namespace_("spark"); }, "driver.pod.name: is required"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    auto request = good_request();
    c.mutate(request);
    Status status = validate(request);
    CHECK(status.code() == StatusCode::kInvalidArgument);
    CHECK_THAT(error_of(status), Catch::StartsWith(c.expected_prefix));
  }
}

TEST_CASE("a launch spec larger than 256 KiB in all is refused, naming launch") {
  auto request = good_request();
  for (int i = 0; i < 12; ++i) (*request.mutable_launch()->mutable_env())["BIG_" + std::to_string(i)] = std::string(30 * 1024, 'x');
  CHECK_THAT(error_of(validate(request)), Catch::StartsWith("launch: ") && Catch::Contains("at most 256 KiB"));
}

TEST_CASE("bounded counts: too many env entries, executor ids, totals") {
  auto request = good_request();
  for (int i = 0; i < RequestLimits::kMaxEnv + 1; ++i) {
    (*request.mutable_launch()->mutable_env())["V" + std::to_string(i)] = "x";
  }
  CHECK_THAT(error_of(validate(request)), Catch::StartsWith("launch.env: at most"));

  v1::KillExecutorsRequest kill;
  kill.set_app_id("app");
  CHECK_THAT(error_of(validate(kill)), Catch::StartsWith("executor_ids: is required"));
  kill.add_executor_ids(0);
  CHECK_THAT(error_of(validate(kill)), Catch::StartsWith("executor_ids[0]: must be a positive"));
  kill.set_executor_ids(0, 3);
  CHECK(validate(kill).ok());
  for (int i = 0; i < RequestLimits::kMaxExecutorIdsPerCall; ++i) kill.add_executor_ids(i + 1);
  CHECK_THAT(error_of(validate(kill)), Catch::StartsWith("executor_ids: at most"));

  v1::RequestTotalExecutorsRequest totals;
  totals.set_app_id("app");
  CHECK_THAT(error_of(validate(totals)), Catch::StartsWith("totals: is required"));
  (*totals.mutable_totals())[0] = -1;
  CHECK_THAT(error_of(validate(totals)), Catch::StartsWith("totals[0]: must be between 0 and 100000"));
  (*totals.mutable_totals())[0] = 5;
  CHECK(validate(totals).ok());

  v1::ListExecutorsRequest list;
  list.set_app_id("app");
  list.add_states(static_cast<v1::ExecutorState>(42));
  CHECK_THAT(error_of(validate(list)), Catch::StartsWith("states[0]: unknown executor state 42"));
}

TEST_CASE("registration converts to the core spec field by field") {
  AppSpec spec = from_proto(good_request());
  CHECK(spec.id == "spark-application-1700000000000");
  CHECK(spec.pools == std::vector<PoolName>{"local"});
  REQUIRE(spec.profiles.size() == 1);
  CHECK(spec.profiles[0].cores == 2);
  CHECK(spec.profiles[0].resources[0] == CustomResource{"gpu", "nvidia.com", 1});
  CHECK(spec.launch->env.at("SPARK_LOCAL_DIRS") == "/tmp");
  CHECK(spec.lease_ttl == std::chrono::seconds(30));
  CHECK_FALSE(spec.driver.pod.has_value());
}

TEST_CASE("executor states map one to one between core and proto") {
  for (int i = 0; i < kExecutorStateCount; ++i) {
    auto state = static_cast<ExecutorState>(i);
    CHECK(from_proto(to_proto(state)) == state);
    CHECK(v1::ExecutorState_Name(to_proto(state)) == to_string(state));
  }
}
