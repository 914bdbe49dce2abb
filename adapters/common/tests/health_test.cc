#include "adapters/common/health.h"

#include <catch2/catch.hpp>
#include <vector>

namespace berth::adapters {
namespace {

class HealthSink final : public BackendSink {
 public:
  void on_observed(const PoolName&, const BackendObject&) override {}
  void on_health(const PoolName& pool, const Status& status) override {
    pools.push_back(pool);
    reports.push_back(status);
  }
  std::vector<PoolName> pools;
  std::vector<Status> reports;
};

TEST_CASE("health is reported once per change, with the first error of an outage") {
  HealthSink sink;
  HealthReporter health("k8s");
  health.attach(&sink);
  CHECK_FALSE(health.healthy());
  health.report(Status::Unavailable("list pods: connection refused"));
  health.report(Status::Unavailable("list pods: timed out"));
  CHECK_FALSE(health.healthy());
  health.report(Status::Ok());
  health.report(Status::Ok());
  CHECK(health.healthy());
  health.report(Status::PermissionDenied("watch pods: 403"));
  REQUIRE(sink.reports.size() == 3);
  CHECK(sink.reports[0].message() == "list pods: connection refused");
  CHECK(sink.reports[1].ok());
  CHECK(sink.reports[2].code() == StatusCode::kPermissionDenied);
  CHECK(sink.pools == std::vector<PoolName>{"k8s", "k8s", "k8s"});
}

TEST_CASE("the first report is made whatever it says") {
  HealthSink sink;
  HealthReporter health("nomad");
  health.attach(&sink);
  health.report(Status::Ok());
  REQUIRE(sink.reports.size() == 1);
  CHECK(sink.reports[0].ok());
}

TEST_CASE("nothing is reported before a sink is attached") {
  HealthSink sink;
  HealthReporter health("mesos");
  health.report(Status::Unavailable("no master"));
  health.attach(&sink);
  health.report(Status::Unavailable("no master"));
  REQUIRE(sink.reports.size() == 1);
  CHECK(sink.reports[0].code() == StatusCode::kUnavailable);
}

}  // namespace
}  // namespace berth::adapters
