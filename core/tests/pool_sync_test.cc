#include <catch2/catch.hpp>

#include "core/pool_sync.h"

using namespace berth;
using namespace std::chrono_literals;

namespace {
const Timestamp t0 = Timestamp(Duration(1'700'000'000'000));
const PoolSyncPolicy kPolicy{10s, 1s, 8s};
}  // namespace

TEST_CASE("a pool is frozen until a full list succeeds, and lists again on its interval") {
  PoolSync pool(kPolicy);
  CHECK(pool.frozen());
  CHECK_FALSE(pool.launchable(t0));
  CHECK(pool.list_due(t0));
  REQUIRE(pool.begin_list());
  CHECK_FALSE(pool.begin_list());  // one list at a time
  CHECK_FALSE(pool.list_due(t0));
  pool.list_succeeded(t0);
  CHECK(pool.answered());
  CHECK(pool.synced());
  CHECK(pool.launchable(t0));
  CHECK(pool.lists() == 1);
  CHECK_FALSE(pool.list_due(t0 + 9s));
  CHECK(pool.list_due(t0 + 10s));
}

TEST_CASE("a failed list answers (start-up goes on) but freezes, and is retried within backoff_max") {
  PoolSync pool(kPolicy);
  REQUIRE(pool.begin_list());
  pool.list_failed(Status::Unavailable("connection refused"), t0);
  CHECK(pool.answered());
  CHECK(pool.frozen());
  CHECK(pool.list_errors() == 1);
  CHECK(pool.last_error() == "UNAVAILABLE: connection refused");
  CHECK_FALSE(pool.list_due(t0 + 7s));
  CHECK(pool.list_due(t0 + 8s));
}

TEST_CASE("an outage freezes a synced pool; its end makes the next list due at once") {
  PoolSync pool(kPolicy);
  REQUIRE(pool.begin_list());
  pool.list_succeeded(t0);
  pool.health(Status::Unavailable("watch dropped"));
  CHECK(pool.frozen());
  CHECK_FALSE(pool.launchable(t0 + 1s));
  pool.health(Status::Ok());
  CHECK_FALSE(pool.frozen());
  CHECK(pool.list_due(t0 + 1s));
}

TEST_CASE("retryable launch failures back off, doubling to the cap; an accepted launch ends it") {
  PoolSync pool(kPolicy);
  REQUIRE(pool.begin_list());
  pool.list_succeeded(t0);
  pool.launch_failed(Status::Unavailable("429"), t0);
  CHECK_FALSE(pool.launchable(t0 + 999ms));
  CHECK(pool.launchable(t0 + 1s));
  for (Duration expected : {2s, 4s, 8s, 8s}) {
    pool.launch_failed(Status::Unavailable("429"), t0);
    CHECK(pool.backoff_until() == t0 + expected);
  }
  pool.launch_failed(Status::InvalidArgument("bad spec"), t0 + 1min);  // not retryable: no backoff change
  CHECK(pool.backoff_until() == t0 + 8s);
  CHECK(pool.launch_errors() == 6);
  pool.launch_accepted();
  CHECK(pool.launchable(t0));
}

TEST_CASE("a pool's last error is cleared when it recovers") {
  PoolSync pool(kPolicy);
  REQUIRE(pool.begin_list());
  pool.list_failed(Status::Unavailable("connection refused"), t0);
  CHECK(pool.last_error() == "UNAVAILABLE: connection refused");
  REQUIRE(pool.begin_list());
  pool.list_succeeded(t0 + 8s);
  CHECK(pool.last_error().empty());

  pool.health(Status::Unavailable("watch dropped"));
  CHECK(pool.last_error() == "UNAVAILABLE: watch dropped");
  pool.health(Status::Ok());
  CHECK(pool.last_error().empty());

  pool.launch_failed(Status::Unavailable("429"), t0 + 9s);
  CHECK_FALSE(pool.last_error().empty());
  pool.launch_accepted();
  CHECK(pool.last_error().empty());
}
