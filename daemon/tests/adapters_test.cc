#include <catch2/catch.hpp>

#include "daemon/adapters.h"

using namespace berth;

TEST_CASE("the registry is the one list of backends, and the config accepts exactly its types") {
  CHECK(registered_backend_types() == config::PoolTypes{"local", "kubernetes", "nomad", "mesos"});
  auto unknown = config::parse_config("pools: [{name: p, type: yarn}]", "berthd.yaml", registered_backend_types());
  REQUIRE_FALSE(unknown.ok());
  CHECK_THAT(unknown.status().message(),
             Catch::Contains("pools[0].type: unknown pool type \"yarn\" (known: local, kubernetes, nomad, mesos)"));
  for (const std::string& type : registered_backend_types()) {
    INFO(type);
    auto config = config::parse_config("pools: [{name: p, type: " + type + "}]", "berthd.yaml",
                                       registered_backend_types());
    REQUIRE(config.ok());
    // Every registered type checks its own section (an empty one may or may not be enough, but
    // it is answered by the adapter, never "not available in this build").
    const Status checked = check_pool_section(config->pools[0], "/nonexistent-state");
    CHECK(checked.message().find("not available in this build") == std::string::npos);
  }
}
