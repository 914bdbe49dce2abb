#pragma once
// Fault injection every simulator offers, whatever its API: latency before each request, error
// rates and "fail the next N" counters keyed by a name the simulator chooses (a Kubernetes verb,
// a Nomad endpoint verb, a Mesos call type; "*" matches every request), and outages during
// which the simulator refuses connections. Which response a failure gets (a Kubernetes Status, a
// Nomad plain-text 500, a Mesos 503...) is the simulator's business: Faults only says which
// status code to fail with.
//
// POST /sim/faults takes, besides the simulator's own fields (see apply()):
//   {"reset": true}                          back to no faults (applied first)
//   {"latency_ms": 200}                      every non-admin request waits this long first
//   {"error_code": 503}                      the status of injected failures
//   {"error_rate": {"create": 0.5, "*": 0.1}}  replaces every rate: probability per key
//   {"fail_next": {"create": 2}}             the next N requests of a key fail (merged per key)
//   {"down_for_ms": 3000}                    an outage (the simulator carries it out)
// and GET or POST /sim/faults answer with describe() and the simulator's own fields.
//
// Thread-safety: none; a simulator uses these from its strand.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>

namespace berth::sim_common {

// A simulator's random source: seeded from its `seed` option, one per simulator, shared by the
// ids it makes and the fault draws, so that one seed and one sequence of requests replay one run.
using RandomSource = std::mt19937_64;

// What a POST /sim/faults body asked for that the simulator acts on itself.
struct FaultUpdate {
  bool reset = false;                              // also reset the simulator's own faults
  std::optional<std::chrono::milliseconds> down_for;  // start an Outage this long
};

class Faults {
 public:
  // `default_error_code`: the status injected failures get until error_code is set (and again
  // after a reset).
  explicit Faults(int default_error_code);

  std::chrono::milliseconds latency() const { return std::chrono::milliseconds(latency_ms_); }
  int error_code() const { return error_code_; }

  // Whether the request named `key` fails, and with which status: a fail_next counter of `key`,
  // then of "*", is used up first; otherwise the error rate of `key`, then of "*", is drawn
  // from `random` (one draw per rate that is set).
  std::optional<int> draw(const std::string& key, RandomSource& random);

  void reset();
  // Applies the shared fields of a POST /sim/faults body (above); fields of another type than
  // documented are ignored.
  FaultUpdate apply(const boost::json::object& body);
  // {"latency_ms", "error_code", "error_rate": {key: rate}, "fail_next": {key: count}}.
  boost::json::object describe() const;

 private:
  int default_error_code_;
  int latency_ms_ = 0;
  int error_code_;
  std::map<std::string, double> error_rate_;  // key (or "*") -> probability
  std::map<std::string, int> fail_next_;      // key (or "*") -> requests left to fail
};

// Runs `serve` after `latency` on `executor` (the simulator's strand), or at once when it is
// zero: the shared half of the latency fault.
void after_latency(const boost::asio::any_io_executor& executor, std::chrono::milliseconds latency,
                   std::function<void()> serve);

// An outage: the simulator goes down (stops its listeners) and comes back up later. begin()
// waits 50 ms first, so that the admin response that asked for it leaves, then calls `go_down`,
// then `come_up` after `duration`. A new outage replaces one under way: what the old one had
// not yet called is never called. After stop(), nothing more is called.
//
// Thread-safety: none; begin() and stop() run on `executor`, the simulator's strand.
class Outage {
 public:
  explicit Outage(boost::asio::any_io_executor executor);
  ~Outage();
  Outage(const Outage&) = delete;
  Outage& operator=(const Outage&) = delete;

  void begin(std::chrono::milliseconds duration, std::function<void()> go_down, std::function<void()> come_up);
  void stop();

  static constexpr std::chrono::milliseconds kGrace{50};

 private:
  struct State {
    explicit State(boost::asio::any_io_executor executor) : timer(std::move(executor)) {}
    boost::asio::steady_timer timer;
    bool stopped = false;
  };
  std::shared_ptr<State> state_;  // shared with the timer's handlers
};

}  // namespace berth::sim_common
