// RequestCounter and its admin endpoints: counts per (method, route), the JSON every simulator
// serves, reset by GET ?reset=1 (atomically with the read) and by POST /sim/requests/reset, and
// counting from many threads at once.
#include <catch2/catch.hpp>

#include <boost/json.hpp>
#include <thread>
#include <vector>

#include "sim/common/request_counter.h"

namespace berth::sim_common {
namespace {

namespace json = boost::json;

net::HttpRequest admin(const std::string& method, const std::string& path,
                       std::vector<std::pair<std::string, std::string>> query = {}) {
  net::HttpRequest request;
  request.method = method;
  request.path = path;
  request.target = path;
  request.query = std::move(query);
  return request;
}

TEST_CASE("counts per method and route ordered by route then method") {
  RequestCounter counter;
  counter.count("DELETE", "/v1/job/{id}");
  counter.count("GET", "/v1/job/{id}");
  counter.count("DELETE", "/v1/job/{id}");
  counter.count("GET", "/v1/allocations");
  const auto counts = counter.counts();
  REQUIRE(counts.size() == 3);
  CHECK(counts[0].method == "GET");
  CHECK(counts[0].route == "/v1/allocations");
  CHECK(counts[0].count == 1);
  CHECK(counts[1].method == "DELETE");
  CHECK(counts[1].route == "/v1/job/{id}");
  CHECK(counts[1].count == 2);
  CHECK(counts[2].method == "GET");
  CHECK(counter.total() == 4);
}

TEST_CASE("GET /sim/requests renders the counts as JSON; ?reset=1 reads and resets") {
  RequestCounter counter;
  counter.count("POST", "/api/v1/scheduler KILL");
  counter.count("POST", "/api/v1/scheduler KILL");

  auto response = serve_request_counts(admin("GET", "/sim/requests"), counter);
  REQUIRE(response);
  CHECK(response->status == 200);
  CHECK(response->headers.at("content-type") == "application/json");
  const json::value body = json::parse(response->body);
  CHECK(body.at("total").to_number<std::int64_t>() == 2);
  const auto& requests = body.at("requests").as_array();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].at("method").as_string() == "POST");
  CHECK(requests[0].at("route").as_string() == "/api/v1/scheduler KILL");
  CHECK(requests[0].at("count").to_number<std::int64_t>() == 2);
  CHECK(counter.total() == 2);  // reading does not reset

  response = serve_request_counts(admin("GET", "/sim/requests", {{"reset", "1"}}), counter);
  REQUIRE(response);
  CHECK(json::parse(response->body).at("total").to_number<std::int64_t>() == 2);
  CHECK(counter.total() == 0);

  counter.count("GET", "/x");
  response = serve_request_counts(admin("GET", "/sim/requests", {{"reset", "false"}}), counter);
  CHECK(counter.total() == 1);
}

TEST_CASE("POST /sim/requests/reset starts the counts again; other paths are not served") {
  RequestCounter counter;
  counter.count("GET", "/x");
  auto response = serve_request_counts(admin("POST", "/sim/requests/reset"), counter);
  REQUIRE(response);
  CHECK(response->status == 200);
  CHECK(counter.total() == 0);
  CHECK(json::parse(response->body).at("ok").as_bool());

  CHECK(serve_request_counts(admin("POST", "/sim/requests"), counter)->status == 405);
  CHECK(serve_request_counts(admin("GET", "/sim/requests/reset"), counter)->status == 405);
  CHECK_FALSE(serve_request_counts(admin("GET", "/sim/state"), counter));
  CHECK_FALSE(serve_request_counts(admin("GET", "/api/v1/pods"), counter));
}

TEST_CASE("administration paths are recognised") {
  CHECK(is_admin_path("/sim"));
  CHECK(is_admin_path("/sim/requests"));
  CHECK_FALSE(is_admin_path("/simulate"));
  CHECK_FALSE(is_admin_path("/api/v1/pods"));
}

TEST_CASE("counting from several threads loses nothing") {
  RequestCounter counter;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&counter, t] {
      for (int i = 0; i < 10'000; ++i) counter.count("GET", i % 2 ? "/a" : "/b" + std::to_string(t % 2));
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(counter.total() == 40'000);
}

}  // namespace
}  // namespace berth::sim_common
