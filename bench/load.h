#pragma once
// Closed-loop load: `concurrency` callers each keep one call outstanding until `duration` has
// passed; every completed call's latency is recorded. Thread-safe: completions arrive on gRPC
// threads.

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace berth::bench {

struct LoadResult {
  std::uint64_t calls = 0;
  std::uint64_t errors = 0;
  double seconds = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  std::string first_error;
  double rate() const { return seconds > 0 ? static_cast<double>(calls) / seconds : 0; }
};

// Starts one call; must invoke `done(ok, error_message)` exactly once, from any thread.
using IssueCall = std::function<void(int caller, std::function<void(bool ok, const std::string& error)> done)>;

LoadResult run_closed_loop(int concurrency, std::chrono::milliseconds duration, const IssueCall& issue);

double percentile(std::vector<double> values, double p);

}  // namespace berth::bench
