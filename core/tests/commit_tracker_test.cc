#include <catch2/catch.hpp>

#include "core/commit_tracker.h"

using namespace berth;

TEST_CASE("created executors are handed back only when the commit that writes them is durable") {
  CommitTracker commits;
  commits.executor_created({"a", 1});
  CommitTracker::Batch first = commits.begin();
  CHECK(first.executors == std::set<ExecutorKey>{{"a", 1}});
  commits.executor_created({"a", 2});
  CommitTracker::Batch second = commits.begin();
  CHECK(commits.created_not_durable().size() == 2);

  // The second commit answers first: only its executor is launchable.
  CommitTracker::Finished done = commits.finish(second.sequence, true);
  CHECK(done.created == std::vector<ExecutorKey>{{"a", 2}});
  CHECK(commits.created_not_durable() == std::set<ExecutorKey>{{"a", 1}});
}

TEST_CASE("a failed commit makes its executors dirty again and holds until retry") {
  CommitTracker commits;
  commits.executor_created({"a", 1});
  bool told = false;
  CHECK(commits.add_waiter([&](Status) { told = true; }));
  CommitTracker::Batch batch = commits.begin();
  CommitTracker::Finished failed = commits.finish(batch.sequence, false);
  CHECK(failed.created.empty());
  CHECK(failed.waiters.size() == 1);
  CHECK(commits.failed());
  CHECK(commits.has_work());
  CHECK(commits.created_not_durable() == std::set<ExecutorKey>{{"a", 1}});
  commits.retry();
  CHECK_FALSE(commits.failed());
  CommitTracker::Batch again = commits.begin();
  CHECK(again.executors == std::set<ExecutorKey>{{"a", 1}});
  CHECK(commits.finish(again.sequence, true).created == std::vector<ExecutorKey>{{"a", 1}});
  CHECK_FALSE(told);  // the engine calls the waiters it is handed
}

TEST_CASE("a waiter with nothing new to write rides on the last commit in flight, or is told at once") {
  CommitTracker commits;
  int ok = 0;
  CHECK_FALSE(commits.add_waiter([&](Status s) { ok += s.ok(); }));
  CHECK(ok == 1);
  commits.app_changed("a");
  CommitTracker::Batch batch = commits.begin();
  CHECK_FALSE(commits.add_waiter([&](Status s) { ok += s.ok(); }));
  CHECK(ok == 1);
  CommitTracker::Finished done = commits.finish(batch.sequence, true);
  REQUIRE(done.waiters.size() == 1);
}

TEST_CASE("a forgotten application is deleted and nothing more of it is written") {
  CommitTracker commits;
  commits.app_changed("a");
  commits.executor_changed({"a", 1});
  commits.executor_changed({"b", 1});
  commits.app_forgotten("a", {1});
  CommitTracker::Batch batch = commits.begin();
  CHECK(batch.apps.empty());
  CHECK(batch.executors == std::set<ExecutorKey>{{"b", 1}});
  CHECK(batch.deleted_apps == std::vector<AppId>{"a"});
}
