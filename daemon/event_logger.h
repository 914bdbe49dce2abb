#pragma once
// EventLogger: tells the story of the daemon in its log, the way an operator reads it.
//
// At info, one line per application and summary window for what changed: target changes and
// what they set in motion ("app demo: target 3 -> 5, launching 2 on pool k8s (executors 4-5)"),
// executors running, killed, cancelled, ended, and the executors adopted when a pool answers its
// first list after a restart; one line when a pool turns unhealthy and one when it recovers.
// Warnings (launches refused, executors failed or lost, conditions such as
// FAILURE_BUDGET_EXHAUSTED) name each id once, and identical ones are grouped: the executors of
// one burst become one line with a count, and further repeats of the same line are held for
// `repeat_interval` and then summarised with their count. Every executor change is also written
// at debug, one line each.
//
// Time comes from the injected Clock, and nothing is written on a timer of its own: the daemon
// calls flush() periodically (and flush_all() when it stops), tests after moving a FakeClock.
//
// Not thread-safe: used on the engine's strand only (it is an EngineListener).

#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "core/clock.h"
#include "core/engine.h"

namespace spdlog {
class logger;
}

namespace berth {

class EventLogger final : public EngineListener {
 public:
  struct Options {
    Duration summary_interval{std::chrono::seconds(1)};  // info lines: one per app per window
    Duration repeat_interval{std::chrono::seconds(60)};  // an identical warning: at most once per
  };

  // `logger` receives the lines (nullptr: spdlog's default logger, looked up at each write).
  EventLogger(const Clock& clock, Options options, std::shared_ptr<spdlog::logger> logger = nullptr);
  ~EventLogger() override;

  void on_event(const Event& event) override;
  void on_pool_event(const PoolEvent& event) override;

  // Remembers an application as it stands (at start-up, for the applications restored from the
  // store), so that its next target change is told from its current target.
  void remember(const Application& app);

  // Writes the summaries whose window has passed and the repeats whose interval has passed.
  void flush();
  // Writes everything held now (the daemon is stopping).
  void flush_all();

 private:
  // Executors of one application on one pool that made the same change within a window.
  struct PoolActivity {
    std::vector<ExecutorId> launching, running, cancelled, succeeded, decommissioning;
    std::map<std::string, std::vector<ExecutorId>> killed;  // by reason
  };
  // One line: a target change (or none) and what followed it within the window. A second target
  // change within the window starts the next segment (the next line).
  struct Segment {
    std::map<ProfileId, std::pair<std::int32_t, std::int32_t>> targets;  // from -> to
    std::map<PoolName, PoolActivity> pools;
  };
  // The kills of one instant: those of a driver's kill that lowered the target come just before
  // the target change, and belong to its segment.
  struct RecentKills {
    Timestamp at{};
    std::vector<std::tuple<PoolName, std::string, ExecutorId>> kills;  // pool, reason, id
  };
  // What the logger remembers of an application between events.
  struct AppMemory {
    std::map<ProfileId, std::int32_t> targets;
    AppPhase phase = AppPhase::kActive;
    std::set<std::string> conditions;  // names (the text before ':')
  };
  // Identical warnings: one key per (level, app, what, pool, message).
  using RepeatKey = std::tuple<int, AppId, std::string, PoolName, std::string>;
  struct Repeat {
    std::vector<ExecutorId> ids;
    std::int64_t count = 0;
    Timestamp emit_at{};
    bool emitted_once = false;
  };
  struct PoolMemory {
    bool unhealthy = false;
    Timestamp unhealthy_since{};
  };

  void on_application(const Event& event);
  void on_executor(const Executor& executor);
  Segment& window(const AppId& app);  // the app's current segment
  void write_segment(const AppId& app, const Segment& segment);
  void repeat(int level, const AppId& app, const std::string& what, const PoolName& pool,
              const std::string& message, ExecutorId id, bool immediate = false);
  void write_repeat(const RepeatKey& key, Repeat& r, Timestamp now);
  void write_windows();
  void write_repeats(bool all);
  void write(int level, const std::string& line);
  bool debug_enabled() const;

  const Clock& clock_;
  Options options_;
  std::shared_ptr<spdlog::logger> logger_;
  std::map<AppId, AppMemory> apps_;
  std::map<AppId, std::vector<Segment>> windows_;
  std::map<AppId, RecentKills> recent_kills_;
  Timestamp window_started_{};  // of the oldest change not written yet (when windows_ is not empty)
  std::map<RepeatKey, Repeat> repeats_;
  std::map<PoolName, PoolMemory> pools_;
};

// "1-3, 5, 7-8": ids sorted, runs of consecutive ids as ranges, at most `max_items` items
// (then ", ..."). For log lines.
std::string format_id_ranges(std::vector<ExecutorId> ids, std::size_t max_items = 8);

}  // namespace berth
