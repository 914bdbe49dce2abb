#include <catch2/catch.hpp>

#include "core/kill_tracker.h"

using namespace berth;
using namespace std::chrono_literals;

namespace {
const Timestamp t0 = Timestamp(Duration(1'700'000'000'000));
}

TEST_CASE("a kill is sent once while it is in flight or within its grace plus margin") {
  KillTracker kills(KillRetryPolicy{30s, 5min, 1s, std::nullopt});
  CHECK(kills.request("a", 5s, t0));
  CHECK_FALSE(kills.request("a", 5s, t0));
  CHECK_FALSE(kills.observed_alive("a", t0 + 1min));  // in flight
  kills.completed("a", Status::Ok(), t0 + 1s);
  CHECK_FALSE(kills.observed_alive("a", t0 + 35s));  // 1 s + 5 s + 30 s not reached
  CHECK(kills.observed_alive("a", t0 + 36s));
  CHECK(kills.attempts("a") == 2);
  kills.completed("a", Status::Ok(), t0 + 36s);
  CHECK_FALSE(kills.observed_alive("a", t0 + 36s + 64s));  // doubled margin: 5 s + 60 s
  CHECK(kills.observed_alive("a", t0 + 36s + 65s));
}

TEST_CASE("a shorter grace (a forced kill after a graceful one) is sent at once") {
  KillTracker kills;
  CHECK(kills.request("a", 30s, t0));
  kills.completed("a", Status::Ok(), t0);
  CHECK(kills.request("a", 0s, t0 + 1s));
  CHECK(kills.grace("a") == 0s);
}

TEST_CASE("not found ends a kill; a refused kill waits for its backoff") {
  KillTracker kills(KillRetryPolicy{30s, 5min, 1s, std::nullopt});
  CHECK(kills.request("gone", 5s, t0));
  kills.completed("gone", Status::NotFound("gone"), t0);
  CHECK_FALSE(kills.tracked("gone"));

  CHECK(kills.request("busy", 5s, t0));
  kills.completed("busy", Status::Unavailable("busy"), t0);
  CHECK_FALSE(kills.observed_alive("busy", t0 + 10s));  // refused kills are retried by due_retries only
  CHECK(kills.due_retries(t0 + 999ms).empty());
  CHECK(kills.due_retries(t0 + 1s) == std::vector<std::string>{"busy"});
  CHECK(kills.due_retries(t0 + 1s).empty());  // in flight again
  kills.completed("busy", Status::Unavailable("busy"), t0 + 1s);
  CHECK(kills.due_retries(t0 + 2s).empty());  // backoff doubled to 2 s
  CHECK(kills.due_retries(t0 + 3s).size() == 1);
}

TEST_CASE("a bulk kill covers its objects; only a failed one turns into per-object kills") {
  KillTracker kills(KillRetryPolicy{30s, 5min, 1s, std::nullopt});
  kills.bulk_sent({"a", "b"}, 5s, t0);
  CHECK_FALSE(kills.request("a", 5s, t0));
  CHECK_FALSE(kills.observed_alive("b", t0 + 10s));
  kills.bulk_completed({"a", "b"}, t0);
  CHECK_FALSE(kills.observed_alive("b", t0 + 34s));
  CHECK(kills.observed_alive("b", t0 + 35s));

  kills.bulk_sent({"c", "d"}, 5s, t0);
  kills.forget("d");
  CHECK(kills.bulk_failed({"c", "d"}, t0) == std::vector<std::string>{"c"});
  CHECK(kills.attempts("c") == 1);
}

TEST_CASE("a full list ends the kills of objects it no longer holds, not those sent after it started") {
  KillTracker kills;
  kills.request("a", 5s, t0);
  kills.completed("a", Status::Ok(), t0);
  kills.request("b", 5s, t0 + 2s);
  kills.completed("b", Status::Ok(), t0 + 2s);
  kills.request("c", 5s, t0);
  kills.completed("c", Status::Ok(), t0);
  kills.retain_present({"c"}, t0 + 1s);
  CHECK_FALSE(kills.tracked("a"));
  CHECK(kills.tracked("b"));
  CHECK(kills.tracked("c"));
}
