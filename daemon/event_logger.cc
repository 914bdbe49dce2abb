#include "daemon/event_logger.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace berth {

namespace {

constexpr int kDebug = spdlog::level::debug;
constexpr int kInfo = spdlog::level::info;
constexpr int kWarn = spdlog::level::warn;

std::string condition_name(const std::string& condition) { return condition.substr(0, condition.find(':')); }

// A backend's message often names the executor's object; with the id made a wildcard, the same
// refusal of ten executors reads the same and is grouped (and the id is not repeated).
std::string without_object_name(std::string message, const Executor& executor) {
  const std::string& name = executor.backend_name;
  if (name.empty()) return message;
  const std::string suffix = std::to_string(executor.id);
  const std::string wildcard =
      name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0
          ? name.substr(0, name.size() - suffix.size()) + "*"
          : name;
  for (std::size_t at = message.find(name); at != std::string::npos; at = message.find(name, at + wildcard.size())) {
    message.replace(at, name.size(), wildcard);
  }
  return message;
}

std::string seconds_text(Duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(d).count()) + " s";
}

std::string ending_message(const Executor& e) {
  std::string text;
  auto add = [&text](const std::string& part) {
    if (part.empty()) return;
    text += (text.empty() ? "" : ", ") + part;
  };
  if (e.exit_code) add("exit code " + std::to_string(*e.exit_code));
  add(e.loss.reason);
  // A message that only says what the exit code said already is left out.
  if (!e.exit_code || e.loss.message.find("code " + std::to_string(*e.exit_code)) == std::string::npos) {
    add(without_object_name(e.loss.message, e));
  }
  if (!e.host.empty()) add("host " + e.host);
  return text;
}

}  // namespace

std::string format_id_ranges(std::vector<ExecutorId> ids, std::size_t max_items) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  std::string text;
  std::size_t items = 0;
  for (std::size_t i = 0; i < ids.size();) {
    std::size_t j = i;
    while (j + 1 < ids.size() && ids[j + 1] == ids[j] + 1) ++j;
    if (items == max_items) {
      text += ", ...";
      break;
    }
    if (items > 0) text += ", ";
    text += std::to_string(ids[i]);
    if (j > i) text += (j == i + 1 ? ", " : "-") + std::to_string(ids[j]);
    items += j > i + 1 ? 1 : j - i + 1;
    i = j + 1;
  }
  return text;
}

EventLogger::EventLogger(const Clock& clock, Options options, std::shared_ptr<spdlog::logger> logger)
    : clock_(clock), options_(options), logger_(std::move(logger)) {}

EventLogger::~EventLogger() = default;

void EventLogger::write(int level, const std::string& line) {
  spdlog::logger* logger = logger_ ? logger_.get() : spdlog::default_logger_raw();
  logger->log(static_cast<spdlog::level::level_enum>(level), "{}", line);
}

bool EventLogger::debug_enabled() const {
  return (logger_ ? logger_.get() : spdlog::default_logger_raw())->should_log(spdlog::level::debug);
}

void EventLogger::on_event(const Event& event) {
  if (event.type == Event::Type::kApplication) {
    on_application(event);
  } else {
    on_executor(event.executor);
  }
}

EventLogger::Segment& EventLogger::window(const AppId& app) {
  if (windows_.empty()) window_started_ = clock_.now();
  std::vector<Segment>& segments = windows_[app];
  if (segments.empty()) segments.emplace_back();
  return segments.back();
}

void EventLogger::on_application(const Event& event) {
  const Application& app = *event.app;
  const AppId& id = app.spec.id;
  if (debug_enabled()) {
    write(kDebug, fmt::format("app {}: revision {}, phase {}, conditions [{}]", id, event.revision,
                              to_string(app.phase), fmt::join(app.conditions, "; ")));
  }
  auto [memory_it, first_seen] = apps_.try_emplace(id);
  AppMemory& memory = memory_it->second;

  std::map<ProfileId, std::pair<std::int32_t, std::int32_t>> changes;
  for (const auto& [profile, to] : app.targets) {
    auto known = memory.targets.find(profile);
    // -1: not known before (the first event after a restart)
    const std::int32_t from = known != memory.targets.end() ? known->second : first_seen ? -1 : 0;
    if (from == to || (from == -1 && to == 0)) continue;
    changes[profile] = {from, to};
  }
  memory.targets = app.targets;
  if (!changes.empty()) {
    if (!window(id).targets.empty()) {
      // A second target change in the window: a line of its own, with the kills that lowered it.
      std::vector<Segment>& segments = windows_[id];
      Segment next;
      auto recent = recent_kills_.find(id);
      if (recent != recent_kills_.end() && recent->second.at == clock_.now()) {
        for (const auto& [pool, reason, executor] : recent->second.kills) {
          auto& killed = segments.back().pools[pool].killed[reason];
          killed.erase(std::remove(killed.begin(), killed.end(), executor), killed.end());
          next.pools[pool].killed[reason].push_back(executor);
        }
      }
      segments.push_back(std::move(next));
    }
    for (const auto& [profile, change] : changes) {
      auto [it, inserted] = window(id).targets.try_emplace(profile, change);
      it->second.second = change.second;  // a segment keeps its first `from`
    }
  }
  recent_kills_.erase(id);

  if (app.phase != memory.phase) {
    if (app.phase == AppPhase::kOrphaned) {
      write(kWarn, fmt::format("app {}: lease lapsed; its executors are killed after the orphan grace "
                               "unless the driver returns",
                               id));
    } else if (app.phase == AppPhase::kActive && memory.phase == AppPhase::kOrphaned) {
      write(kInfo, fmt::format("app {}: the driver is back; lease renewed", id));
    } else if (app.phase == AppPhase::kEnded && memory.phase == AppPhase::kOrphaned) {
      write(kInfo, fmt::format("app {}: ended: {}", id, app.end_reason));
    }
    memory.phase = app.phase;
  }

  std::set<std::string> now_conditions;
  for (const std::string& condition : app.conditions) {
    const std::string name = condition_name(condition);
    now_conditions.insert(name);
    if (memory.conditions.count(name) == 0) {
      std::string message = condition.substr(name.size());
      message.erase(0, std::min(message.size(), message.find_first_not_of(": ")));
      repeat(kWarn, id, name, "", message, 0, /*immediate=*/true);
    }
  }
  for (const std::string& name : memory.conditions) {
    if (now_conditions.count(name) == 0) write(kInfo, fmt::format("app {}: {} cleared", id, name));
  }
  memory.conditions = std::move(now_conditions);
  if (app.phase == AppPhase::kEnded) apps_.erase(id);
}

void EventLogger::on_executor(const Executor& e) {
  if (debug_enabled()) {
    const std::string ending = is_terminal(e.state) ? ending_message(e) : e.host.empty() ? "" : "host " + e.host;
    write(kDebug, fmt::format("app {}: executor {} on pool {}: {} ({}{}{})", e.app, e.id, e.pool, to_string(e.state),
                              e.backend_name, ending.empty() ? "" : ", ", ending));
  }
  switch (e.state) {
    case ExecutorState::kRequested:
      window(e.app).pools[e.pool].launching.push_back(e.id);
      return;
    case ExecutorState::kLaunching:
    case ExecutorState::kPending:
      return;
    case ExecutorState::kRunning:
      window(e.app).pools[e.pool].running.push_back(e.id);
      return;
    case ExecutorState::kDecommissioning:
      window(e.app).pools[e.pool].decommissioning.push_back(e.id);
      return;
    case ExecutorState::kSucceeded:
      window(e.app).pools[e.pool].succeeded.push_back(e.id);
      return;
    case ExecutorState::kKilled: {
      window(e.app).pools[e.pool].killed[e.loss.reason].push_back(e.id);
      RecentKills& recent = recent_kills_[e.app];
      if (recent.at != clock_.now()) recent = RecentKills{clock_.now(), {}};
      recent.kills.emplace_back(e.pool, e.loss.reason, e.id);
      return;
    }
    case ExecutorState::kCancelled:
      window(e.app).pools[e.pool].cancelled.push_back(e.id);
      return;
    case ExecutorState::kFailed:
      repeat(kInfo, e.app, "executor failed", e.pool, ending_message(e), e.id);
      return;
    case ExecutorState::kLost:
      repeat(kWarn, e.app, "executor lost", e.pool, ending_message(e), e.id);
      return;
    case ExecutorState::kLaunchFailed:
      repeat(kWarn, e.app, "launch refused", e.pool, without_object_name(e.loss.message, e), e.id);
      return;
  }
}

void EventLogger::repeat(int level, const AppId& app, const std::string& what, const PoolName& pool,
                         const std::string& message, ExecutorId id, bool immediate) {
  auto [it, inserted] = repeats_.try_emplace(RepeatKey{level, app, what, pool, message});
  Repeat& r = it->second;
  if (inserted) r.emit_at = clock_.now() + (immediate ? Duration(0) : options_.summary_interval);
  r.count++;
  if (id != 0) r.ids.push_back(id);
  if (inserted && immediate) write_repeat(it->first, r, clock_.now());
}

void EventLogger::remember(const Application& app) {
  AppMemory& memory = apps_[app.spec.id];
  memory.targets = app.targets;
  memory.phase = app.phase;
  memory.conditions.clear();
  for (const std::string& condition : app.conditions) memory.conditions.insert(condition_name(condition));
}

void EventLogger::on_pool_event(const PoolEvent& event) {
  PoolMemory& pool = pools_[event.pool];
  const Timestamp now = clock_.now();
  switch (event.type) {
    case PoolEvent::Type::kSynced: {
      std::string adopted;
      std::size_t total = 0;
      for (const auto& [app, ids] : event.adopted) {
        total += ids.size();
        adopted += fmt::format("{}app {} executors {}", adopted.empty() ? "" : "; ", app, format_id_ranges(ids));
      }
      std::string line = total == 0 ? fmt::format("pool {}: synced; no running executors of this daemon to adopt", event.pool)
                                     : fmt::format("pool {}: synced; adopted {} executor{} still running: {}",
                                                   event.pool, total, total == 1 ? "" : "s", adopted);
      if (pool.unhealthy) line += fmt::format(" (reachable again after {})", seconds_text(now - pool.unhealthy_since));
      pool.unhealthy = false;
      write(kInfo, line);
      return;
    }
    case PoolEvent::Type::kUnhealthy:
      if (pool.unhealthy) return;
      pool.unhealthy = true;
      pool.unhealthy_since = now;
      write(kWarn, fmt::format("pool {}: unhealthy: {}; the pool is frozen (nothing launched, nothing declared "
                               "lost) until it answers",
                               event.pool, event.error));
      return;
    case PoolEvent::Type::kHealthy:
      if (!pool.unhealthy) return;
      pool.unhealthy = false;
      write(kInfo, fmt::format("pool {}: healthy again after {}", event.pool, seconds_text(now - pool.unhealthy_since)));
      return;
  }
}

void EventLogger::flush() {
  const Timestamp now = clock_.now();
  if (!windows_.empty() && now - window_started_ >= options_.summary_interval) write_windows();
  write_repeats(false);
}

void EventLogger::flush_all() {
  write_windows();
  write_repeats(true);
}

void EventLogger::write_windows() {
  for (const auto& [app, segments] : windows_) {
    for (const Segment& segment : segments) write_segment(app, segment);
  }
  windows_.clear();
  recent_kills_.clear();
}

void EventLogger::write_segment(const AppId& app, const Segment& w) {
  std::vector<std::string> clauses;
  const auto known = apps_.find(app);
  const bool one_profile = known == apps_.end() || known->second.targets.size() <= 1;
  for (const auto& [profile, change] : w.targets) {
    const auto [from, to] = change;
    if (from == to) continue;
    const std::string name = one_profile ? "target" : fmt::format("profile {} target", profile);
    clauses.push_back(from < 0 ? fmt::format("{} {}", name, to) : fmt::format("{} {} -> {}", name, from, to));
  }
  for (const auto& [pool_name, a] : w.pools) {
    const PoolName& pool = pool_name;  // a lambda cannot capture a structured binding in C++20
    auto add = [&](const char* format, const std::vector<ExecutorId>& ids) {
      if (ids.empty()) return;
      clauses.push_back(fmt::format(fmt::runtime(format), ids.size(), pool, format_id_ranges(ids)));
    };
    add("launching {} on pool {} (executors {})", a.launching);
    add("{} running on pool {} (executors {})", a.running);
    add("decommissioning {} on pool {} (executors {})", a.decommissioning);
    for (const auto& [reason, ids] : a.killed) {
      if (ids.empty()) continue;
      clauses.push_back(fmt::format("killed {} on pool {} ({}: executors {})", ids.size(), pool,
                                    reason.empty() ? "killed" : reason, format_id_ranges(ids)));
    }
    add("cancelled {} not yet running on pool {} (executors {})", a.cancelled);
    add("{} finished on pool {} (executors {})", a.succeeded);
  }
  if (!clauses.empty()) write(kInfo, fmt::format("app {}: {}", app, fmt::join(clauses, ", ")));
}

void EventLogger::write_repeats(bool all) {
  const Timestamp now = clock_.now();
  for (auto it = repeats_.begin(); it != repeats_.end();) {
    Repeat& r = it->second;
    if (!all && now < r.emit_at) {
      ++it;
      continue;
    }
    if (r.count == 0) {
      it = repeats_.erase(it);
      continue;
    }
    write_repeat(it->first, r, now);
    ++it;
  }
}


void EventLogger::write_repeat(const RepeatKey& key, Repeat& r, Timestamp now) {
  const auto& [level, app, what, pool, message] = key;
  std::string who;
  if (r.ids.empty()) {
    who = r.emitted_once ? fmt::format("{} in the last {}", r.count == 1 ? "once more" : fmt::format("{} more times", r.count),
                                       seconds_text(options_.repeat_interval))
                         : r.count > 1 ? fmt::format("{} times", r.count) : "";
  } else if (r.count == 1 && !r.emitted_once) {
    who = fmt::format("executor {}", r.ids.front());
  } else {
    who = fmt::format("{}{} executors{}: {}", r.count, r.emitted_once ? " more" : "",
                      r.emitted_once ? " in the last " + seconds_text(options_.repeat_interval) : "",
                      format_id_ranges(r.ids));
  }
  write(level, fmt::format("app {}: {}{}{}{}", app, what, pool.empty() ? "" : " on pool " + pool,
                           message.empty() ? "" : ": " + message, who.empty() ? "" : " (" + who + ")"));
  r.count = 0;
  r.ids.clear();
  r.emitted_once = true;
  r.emit_at = now + options_.repeat_interval;
}

}  // namespace berth
