#pragma once
// Reading a simulator's request counter (`GET /sim/requests`, sim/common/request_counter.h) for
// the conformance suite's request budget. Header-only: used by test binaries only.

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>
#include <functional>
#include <map>
#include <string>

namespace berth::conformance {

// The counts of `body` (`{"requests":[{"method","route","count"}...],"total":N}`) on the routes
// for which `acts_on_executor(method, route)` holds, keyed "METHOD route".
inline std::map<std::string, int> executor_route_counts(
    const std::string& body, const std::function<bool(const std::string& method, const std::string& route)>& acts_on_executor) {
  boost::system::error_code ec;
  const boost::json::value parsed = boost::json::parse(body, ec);
  INFO(body);
  REQUIRE_FALSE(ec);
  std::map<std::string, int> counts;
  for (const auto& item : parsed.at("requests").as_array()) {
    const std::string method(item.at("method").as_string());
    const std::string route(item.at("route").as_string());
    if (acts_on_executor(method, route)) counts[method + " " + route] += static_cast<int>(item.at("count").to_number<std::int64_t>());
  }
  return counts;
}

}  // namespace berth::conformance
