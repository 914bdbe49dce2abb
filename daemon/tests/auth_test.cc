#include <catch2/catch.hpp>

#include "daemon/auth.h"

using namespace berth;

TEST_CASE("without tokens every caller is an anonymous operator") {
  Authenticator auth;
  auth.set_tokens({}, false);
  auto caller = auth.authenticate(std::nullopt);
  REQUIRE(caller.ok());
  CHECK(caller->anonymous);
  CHECK(caller->may_access("anyone"));
}

TEST_CASE("tokens map to tenants and roles; bad ones are UNAUTHENTICATED") {
  Authenticator auth;
  auth.set_tokens({{"secret-a", "team-a", config::Role::kDriver}, {"ops", "", config::Role::kOperator}}, true);

  CHECK(auth.authenticate(std::nullopt).status().code() == StatusCode::kUnauthenticated);
  CHECK(auth.authenticate("secret-a").status().code() == StatusCode::kUnauthenticated);  // no scheme
  CHECK(auth.authenticate("Bearer nope").status().code() == StatusCode::kUnauthenticated);
  CHECK(auth.authenticate("Bearer secret-").status().code() == StatusCode::kUnauthenticated);

  auto driver = auth.authenticate("Bearer secret-a");
  REQUIRE(driver.ok());
  CHECK(driver->tenant == "team-a");
  CHECK_FALSE(driver->is_operator);
  CHECK(driver->may_access("team-a"));
  CHECK_FALSE(driver->may_access("team-b"));

  auto op = auth.authenticate("Bearer ops");
  REQUIRE(op.ok());
  CHECK(op->is_operator);
  CHECK(op->may_access("team-b"));

  // SIGHUP replaces the set: the old token stops working at once.
  auth.set_tokens({{"secret-a2", "team-a", config::Role::kDriver}}, true);
  CHECK(auth.authenticate("Bearer secret-a").status().code() == StatusCode::kUnauthenticated);
  CHECK(auth.authenticate("Bearer secret-a2").ok());
}
