#include <catch2/catch.hpp>

#include "core/launch_queue.h"

using namespace berth;

namespace {
std::vector<std::string> drain(LaunchQueue& queue, const std::function<bool(const AppId&)>& eligible = nullptr) {
  std::vector<std::string> out;
  while (auto key = queue.pop(eligible ? eligible : [](const AppId&) { return true; })) {
    out.push_back(key->app + "/" + std::to_string(key->id));
  }
  return out;
}
}  // namespace

TEST_CASE("applications take turns in the order they first queued, each oldest first") {
  LaunchQueue queue;
  for (ExecutorId id : {1, 2, 3}) queue.push({"zeta", id});
  for (ExecutorId id : {1, 2}) queue.push({"alpha", id});
  queue.push({"mid", 7});
  CHECK(queue.size() == 6);
  CHECK(drain(queue) == std::vector<std::string>{"zeta/1", "alpha/1", "mid/7", "zeta/2", "alpha/2", "zeta/3"});
  CHECK(queue.empty());
}

TEST_CASE("an executor queued again keeps its place by id; erase removes it and an emptied application") {
  LaunchQueue queue;
  queue.push({"a", 2});
  queue.push({"a", 3});
  queue.push({"b", 1});
  queue.push({"a", 1});  // a retry of an older executor
  queue.push({"a", 1});  // twice is once
  CHECK(queue.size() == 4);
  queue.erase({"b", 1});
  queue.erase({"b", 9});
  CHECK_FALSE(queue.contains({"b", 1}));
  CHECK(drain(queue) == std::vector<std::string>{"a/1", "a/2", "a/3"});
}

TEST_CASE("applications not eligible keep their turn") {
  LaunchQueue queue;
  queue.push({"a", 1});
  queue.push({"b", 1});
  queue.push({"b", 2});
  CHECK(drain(queue, [](const AppId& app) { return app == "b"; }) == std::vector<std::string>{"b/1", "b/2"});
  CHECK(drain(queue) == std::vector<std::string>{"a/1"});
}
