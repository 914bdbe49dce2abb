// Offers: constraints in Spark's syntax, carving resources with their allocation_info, fairness.

#include <catch2/catch.hpp>

#include <boost/json/parse.hpp>
#include <set>

#include "adapters/mesos/offers.h"

namespace berth::mesos {
namespace {

namespace json = boost::json;

Offer offer(const std::string& agent, double cpus, double mem, double gpus = 0, const std::string& extra = "") {
  std::string text = R"({"id":{"value":"O-)" + agent + R"("},"agent_id":{"value":")" + agent + R"("},"hostname":"host-)" +
                     agent + R"(","resources":[
      {"name":"cpus","type":"SCALAR","scalar":{"value":)" + std::to_string(cpus) + R"(},"role":"*","allocation_info":{"role":"spark"}},
      {"name":"mem","type":"SCALAR","scalar":{"value":)" + std::to_string(mem) + R"(},"role":"*","allocation_info":{"role":"spark"}},
      {"name":"gpus","type":"SCALAR","scalar":{"value":)" + std::to_string(gpus) + R"(},"role":"*","allocation_info":{"role":"spark"}},
      {"name":"ports","type":"RANGES","ranges":{"range":[{"begin":31000,"end":32000}]},"role":"*","allocation_info":{"role":"spark"}})" +
                     extra + R"(],
    "attributes":[{"name":"rack","type":"TEXT","text":{"value":"r7"}},{"name":"gen","type":"SCALAR","scalar":{"value":3}},
                  {"name":"slots","type":"RANGES","ranges":{"range":[{"begin":1,"end":4}]}},
                  {"name":"zones","type":"SET","set":{"item":["a","b"]}}]})";
  return parse_offer(json::parse(text).as_object());
}

double scalar(const json::array& resources, const std::string& name) {
  double total = 0;
  for (const auto& r : resources) {
    if (r.at("name") == name.c_str()) total += r.at("scalar").at("value").to_number<double>();
  }
  return total;
}

TEST_CASE("Spark's constraint syntax: text, scalar, ranges, sets and presence") {
  const Offer o = offer("S1", 8, 16384);
  CHECK(o.id == "O-S1");
  CHECK(o.agent_id == "S1");
  CHECK(o.hostname == "host-S1");
  auto check = [&](const std::string& text) {
    auto constraints = parse_constraints(text);
    REQUIRE(constraints.ok());
    return satisfies(o, *constraints);
  };
  CHECK(check(""));
  CHECK(check("rack:r7"));
  CHECK(check("rack:r1,r7"));
  CHECK_FALSE(check("rack:r1"));
  CHECK(check("gen:3"));
  CHECK_FALSE(check("gen:4"));
  CHECK(check("slots:2"));
  CHECK_FALSE(check("slots:9"));
  CHECK(check("zones:b"));
  CHECK(check("rack"));
  CHECK_FALSE(check("gpu"));
  CHECK(check("rack:r7;gen:3"));
  CHECK_FALSE(check("rack:r7;gen:2"));
  CHECK_FALSE(parse_constraints("rack:").ok());
  CHECK_FALSE(parse_constraints(":x").ok());
}

TEST_CASE("a task's resources are carved from the offer with their role and allocation_info") {
  OfferResources left(offer("S1", 4, 4096).resources);
  auto first = left.take(TaskDemand{2, 1408, 0, 0});
  REQUIRE(first);
  CHECK(scalar(*first, "cpus") == Approx(2));
  CHECK(scalar(*first, "mem") == Approx(1408));
  for (const auto& r : *first) CHECK(r.at("allocation_info").at("role") == "spark");
  auto second = left.take(TaskDemand{2, 1408, 0, 0});
  REQUIRE(second);
  CHECK_FALSE(left.take(TaskDemand{1, 100, 0, 0}));  // no cpus left
  CHECK_FALSE(OfferResources(offer("S2", 8, 8192).resources).take(TaskDemand{1, 100, 1, 0}));  // no GPU
  auto gpu = OfferResources(offer("S3", 8, 8192, 2).resources).take(TaskDemand{1, 100, 2, 0});
  REQUIRE(gpu);
  CHECK(scalar(*gpu, "gpus") == Approx(2));
}

TEST_CASE("ports are carved from the offer's ranges, lowest first, and run out") {
  OfferResources left(offer("S1", 8, 8192).resources);
  TaskDemand demand{1, 100, 0, 0};
  demand.ports = 2;
  auto first = left.take(demand);
  REQUIRE(first);
  CHECK(ports_of(*first) == std::vector<std::uint64_t>{31000, 31001});
  for (const auto& r : *first) CHECK(r.at("allocation_info").at("role") == "spark");
  auto second = left.take(demand);
  REQUIRE(second);
  CHECK(ports_of(*second) == std::vector<std::uint64_t>{31002, 31003});
  demand.ports = 2000;  // more than the range holds
  CHECK_FALSE(left.take(demand));
  CHECK(ports_of(*OfferResources(offer("S2", 8, 8192).resources).take(TaskDemand{1, 100, 0, 0})).empty());
}

TEST_CASE("revocable and persistent-volume resources are never used") {
  const std::string revocable = R"(,{"name":"cpus","type":"SCALAR","scalar":{"value":32},"revocable":{}})";
  OfferResources left(offer("S1", 1, 4096, 0, revocable).resources);
  CHECK_FALSE(left.take(TaskDemand{2, 100, 0, 0}));
}

TEST_CASE("assignment takes one task of each application in turn and packs offers") {
  std::vector<PendingTask> tasks;
  for (int i = 0; i < 6; ++i) tasks.push_back({"big", TaskDemand{1, 1000, 0, 0}});
  for (int i = 0; i < 2; ++i) tasks.push_back({"small", TaskDemand{1, 1000, 0, 0}});
  std::vector<Offer> offers = {offer("S1", 2, 4096), offer("S2", 2, 4096)};
  auto assignments = assign(tasks, offers, {true, true});
  REQUIRE(assignments.size() == 4);  // 4 cpus in all
  int small = 0;
  for (const auto& a : assignments) small += tasks[a.task].app == "small" ? 1 : 0;
  CHECK(small == 2);  // the application with fewer tasks is not starved by the larger one
  std::set<std::size_t> used_offers;
  for (const auto& a : assignments) used_offers.insert(a.offer);
  CHECK(used_offers.size() == 2);
}

TEST_CASE("assignment skips unusable offers and tasks that fit nowhere") {
  std::vector<PendingTask> tasks = {{"a", TaskDemand{16, 1000, 0, 0}}, {"a", TaskDemand{1, 1000, 0, 0}}};
  std::vector<Offer> offers = {offer("S1", 8, 8192), offer("S2", 8, 8192)};
  auto assignments = assign(tasks, offers, {false, true});
  REQUIRE(assignments.size() == 1);
  CHECK(assignments[0].task == 1);
  CHECK(assignments[0].offer == 1);
  CHECK(assign(tasks, {}, {}).empty());
}

TEST_CASE("executors that need no GPU are kept off GPU agents, which GPU executors still get") {
  CHECK(offer("G1", 16, 65536, 4).gpu_agent);
  CHECK_FALSE(offer("S1", 16, 65536).gpu_agent);  // "gpus": 0 is no GPU
  const std::vector<PendingTask> plain = {{"a", TaskDemand{1, 1000, 0, 0}}};
  CHECK(assign(plain, {offer("G1", 16, 65536, 4)}, {true}).empty());
  // An agent whose GPUs are all in use offers none; known from earlier offers, it stays a GPU agent.
  Offer busy = offer("G2", 16, 65536);
  busy.gpu_agent = true;
  CHECK(assign(plain, {busy}, {true}).empty());

  const std::vector<PendingTask> tasks = {{"a", TaskDemand{1, 1000, 0, 0}}, {"b", TaskDemand{1, 1000, 1, 0}},
                                          {"a", TaskDemand{1, 1000, 0, 0}}};
  const std::vector<Offer> offers = {offer("G1", 16, 65536, 4), offer("S1", 16, 65536)};
  const auto assignments = assign(tasks, offers, {true, true});
  REQUIRE(assignments.size() == 3);
  for (const auto& a : assignments) {
    INFO("task " << a.task);
    CHECK(a.offer == (tasks[a.task].demand.gpus > 0 ? 0u : 1u));
  }
}

std::string role_of(const json::value& resource) {
  const auto& object = resource.as_object();
  if (const auto* reservations = object.if_contains("reservations"); reservations != nullptr) {
    return reservations->as_array().empty() ? "*" : std::string(reservations->as_array().back().at("role").as_string());
  }
  return std::string(object.at("role").as_string());
}

double scalar_of_role(const json::array& resources, const std::string& name, const std::string& role) {
  double total = 0;
  for (const auto& r : resources) {
    if (r.at("name") == name.c_str() && role_of(r) == role) total += r.at("scalar").at("value").to_number<double>();
  }
  return total;
}

TEST_CASE("resources reserved for the framework's role are taken before unreserved ones") {
  // Without RESERVATION_REFINEMENT (role + reservation) and with it (reservations[]).
  const std::vector<std::string> forms = {
      R"(,{"name":"cpus","type":"SCALAR","scalar":{"value":2},"role":"spark","reservation":{"principal":"ops"},"allocation_info":{"role":"spark"}},
         {"name":"mem","type":"SCALAR","scalar":{"value":4096},"role":"spark","reservation":{"principal":"ops"},"allocation_info":{"role":"spark"}})",
      R"(,{"name":"cpus","type":"SCALAR","scalar":{"value":2},"reservations":[{"type":"STATIC","role":"spark"}],"allocation_info":{"role":"spark"}},
         {"name":"mem","type":"SCALAR","scalar":{"value":4096},"reservations":[{"type":"STATIC","role":"spark"}],"allocation_info":{"role":"spark"}})"};
  for (const auto& reserved : forms) {
    INFO(reserved);
    OfferResources left(offer("S1", 4, 8192, 0, reserved).resources);
    auto first = left.take(TaskDemand{1, 2048, 0, 0});
    REQUIRE(first);
    CHECK(scalar_of_role(*first, "cpus", "spark") == Approx(1));
    CHECK(scalar_of_role(*first, "mem", "spark") == Approx(2048));
    CHECK(scalar(*first, "cpus") == Approx(1));
    for (const auto& r : *first) {
      // Each piece is its entry's: reservation, reservations and allocation_info kept.
      CHECK(r.at("allocation_info").at("role") == "spark");
      if (role_of(r) == "spark" && r.as_object().contains("role")) CHECK(r.at("reservation").at("principal") == "ops");
    }
    // More than the reserved rest: all of it, then unreserved.
    auto second = left.take(TaskDemand{2, 4096, 0, 0});
    REQUIRE(second);
    CHECK(scalar_of_role(*second, "cpus", "spark") == Approx(1));
    CHECK(scalar_of_role(*second, "cpus", "*") == Approx(1));
    CHECK(scalar_of_role(*second, "mem", "spark") == Approx(2048));
    CHECK(scalar_of_role(*second, "mem", "*") == Approx(2048));
    CHECK_FALSE(left.holds_reserved());
  }
}

TEST_CASE("an offer holding reserved resources is used before an unreserved one, never declined for it") {
  const std::string reserved =
      R"(,{"name":"cpus","type":"SCALAR","scalar":{"value":2},"role":"spark","allocation_info":{"role":"spark"}},
         {"name":"mem","type":"SCALAR","scalar":{"value":4096},"role":"spark","allocation_info":{"role":"spark"}})";
  // The unreserved offer comes first (where the rotation would start); the reserved one holds
  // both kinds, as an agent's offer to a role does.
  const std::vector<Offer> offers = {offer("S1", 8, 16384), offer("S2", 8, 16384, 0, reserved)};
  REQUIRE(OfferResources(offers[1].resources).holds_reserved());
  CHECK_FALSE(OfferResources(offers[0].resources).holds_reserved());
  const std::vector<PendingTask> tasks = {{"a", TaskDemand{1, 2048, 0, 0}}, {"a", TaskDemand{1, 2048, 0, 0}},
                                          {"a", TaskDemand{1, 2048, 0, 0}}};
  const auto assignments = assign(tasks, offers, {true, true});
  REQUIRE(assignments.size() == 3);
  // The first two take the reserved resources; the third, with nothing reserved left, goes on
  // rotating over the offers.
  CHECK(assignments[0].offer == 1);
  CHECK(scalar_of_role(assignments[0].resources, "cpus", "spark") == Approx(1));
  CHECK(assignments[1].offer == 1);
  CHECK(scalar_of_role(assignments[1].resources, "cpus", "spark") == Approx(1));
  CHECK(scalar_of_role(assignments[2].resources, "cpus", "spark") == Approx(0));
}

}  // namespace
}  // namespace berth::mesos
