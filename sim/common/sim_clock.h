#pragma once
// SimClock: a simulator's time. Simulated seconds since start() run `time_scale` times as fast as
// real time, plus whatever skip() added (POST /sim/advance). Wall-clock stamps of simulated
// instants are taken from the system clock read once at start(), so that an advance moves them.
//
// Agenda: what a simulator has scheduled at simulated instants (a container exits after
// run-for, a status update is resent...). One steady_timer is armed for the earliest entry;
// advance() skips the clock and runs, in order, every entry that came due. Entries due at the
// same instant run in the order they were added; an entry added by a running one runs in the
// same pass if it is already due. Entries cannot be cancelled: a simulator voids the ones that
// became stale by capturing a generation (an "epoch") and checking it when the entry runs.
//
// Thread-safety: neither class is synchronised. A simulator uses them from its one strand (the
// executor given to Agenda, on which the timer's handler runs), as it does all its state.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>

namespace berth::sim_common {

class SimClock {
 public:
  using RealNow = std::function<std::chrono::steady_clock::time_point()>;

  // `time_scale` <= 0 is taken as 1. `real_now` is the real clock (tests inject their own).
  explicit SimClock(double time_scale = 1.0, RealNow real_now = &std::chrono::steady_clock::now);

  // Simulated time starts at zero now; wall-clock stamps are taken from this moment.
  void start();
  double now() const;  // simulated seconds since start()
  double time_scale() const { return time_scale_; }
  // Simulated time jumps forward by `seconds` (negative counts as zero).
  void skip(double seconds);
  // The wall-clock time of the simulated instant `sim_seconds`, in seconds and in nanoseconds
  // since the Unix epoch.
  double unix_seconds(double sim_seconds) const;
  std::int64_t unix_nanos(double sim_seconds) const;

 private:
  double time_scale_;
  RealNow real_now_;
  std::chrono::steady_clock::time_point real_base_;
  std::chrono::system_clock::time_point wall_base_;
  double offset_ = 0;  // simulated seconds added by skip()
};

class Agenda {
 public:
  // `executor` is the simulator's strand; `clock` is owned by the agenda.
  Agenda(boost::asio::any_io_executor executor, SimClock clock);
  ~Agenda();
  Agenda(const Agenda&) = delete;
  Agenda& operator=(const Agenda&) = delete;

  SimClock& clock() { return state_->clock; }
  const SimClock& clock() const { return state_->clock; }
  double now() const { return state_->clock.now(); }

  // Runs `action` `sim_delay` simulated seconds from now (at once, on the next pass, if <= 0).
  void after(double sim_delay, std::function<void()> action);
  // The clock skips `sim_seconds`; every entry now due runs before this returns.
  void advance(double sim_seconds);
  // Drops every entry and never runs another; the timer is cancelled. The actions, and what
  // they hold (a simulator keeps itself alive through them), are released here.
  void stop();
  std::size_t size() const { return state_->entries.size(); }

 private:
  // Shared with the timer's handler, which may run after the Agenda is gone.
  struct State {
    State(boost::asio::any_io_executor executor, SimClock clock) : clock(std::move(clock)), timer(executor) {}
    SimClock clock;
    std::multimap<double, std::function<void()>> entries;  // simulated instant -> action
    boost::asio::steady_timer timer;
    bool stopped = false;
  };
  static void arm(const std::shared_ptr<State>& state);
  static void run_due(const std::shared_ptr<State>& state);

  std::shared_ptr<State> state_;
};

}  // namespace berth::sim_common
