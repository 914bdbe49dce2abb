#include "core/kill_tracker.h"

#include <algorithm>

namespace berth {

void KillTracker::send(Kill& kill, Timestamp now) {
  kill.sent_at = now;
  kill.attempts++;
  kill.in_flight = true;
  kill.refused = false;
}

Timestamp KillTracker::accepted_retry_at(const Kill& kill, Timestamp now) const {
  Duration wait = policy_.margin;
  for (std::int32_t i = 1; i < kill.attempts && wait < policy_.max_wait; ++i) wait *= 2;
  wait = std::min(wait, policy_.max_wait);
  const Duration grace = policy_.backend_grace ? std::max(kill.grace, *policy_.backend_grace) : kill.grace;
  return now + grace + wait;
}

bool KillTracker::request(const std::string& name, Duration grace, Timestamp now) {
  auto [it, inserted] = kills_.try_emplace(name);
  Kill& kill = it->second;
  if (!inserted) {
    // A shorter grace (a forced kill after a graceful one) is sent at once; otherwise the
    // tracked kill already covers this request.
    if (grace >= kill.grace || kill.in_flight) return false;
  }
  kill.grace = grace;
  send(kill, now);
  return true;
}

bool KillTracker::observed_alive(const std::string& name, Timestamp now) {
  auto it = kills_.find(name);
  if (it == kills_.end()) return false;
  Kill& kill = it->second;
  if (kill.in_flight || kill.refused || now < kill.retry_at) return false;
  send(kill, now);
  return true;
}

void KillTracker::completed(const std::string& name, const Status& status, Timestamp now) {
  auto it = kills_.find(name);
  if (it == kills_.end()) return;
  Kill& kill = it->second;
  kill.in_flight = false;
  if (status.ok()) {
    kill.retry_at = accepted_retry_at(kill, now);
    return;
  }
  if (status.code() == StatusCode::kNotFound) {
    kills_.erase(it);
    return;
  }
  kill.refused = true;
  Duration backoff = policy_.failure_backoff;
  for (std::int32_t i = 1; i < kill.attempts && backoff < policy_.max_wait; ++i) backoff *= 2;
  kill.retry_at = now + std::min(backoff, policy_.max_wait);
}

void KillTracker::bulk_sent(const std::vector<std::string>& names, Duration grace, Timestamp now) {
  for (const std::string& name : names) {
    Kill& kill = kills_[name];
    kill.grace = grace;
    send(kill, now);
  }
}

void KillTracker::bulk_completed(const std::vector<std::string>& names, Timestamp now) {
  for (const std::string& name : names) {
    auto it = kills_.find(name);
    if (it == kills_.end()) continue;
    it->second.in_flight = false;
    it->second.retry_at = accepted_retry_at(it->second, now);
  }
}

std::vector<std::string> KillTracker::bulk_failed(const std::vector<std::string>& names, Timestamp now) {
  std::vector<std::string> resend;
  for (const std::string& name : names) {
    auto it = kills_.find(name);
    if (it == kills_.end()) continue;  // seen gone meanwhile
    Kill& kill = it->second;
    kill.attempts = 0;  // the bulk call did not count: this is the object's first own kill
    send(kill, now);
    resend.push_back(name);
  }
  return resend;
}

void KillTracker::retain_present(const std::set<std::string>& present, Timestamp list_started) {
  for (auto it = kills_.begin(); it != kills_.end();) {
    const bool done = present.count(it->first) == 0 && !it->second.in_flight &&
                      it->second.sent_at < list_started;
    it = done ? kills_.erase(it) : std::next(it);
  }
}

std::vector<std::string> KillTracker::due_retries(Timestamp now) {
  std::vector<std::string> due;
  for (auto& [name, kill] : kills_) {
    if (!kill.refused || now < kill.retry_at) continue;
    send(kill, now);
    due.push_back(name);
  }
  return due;
}

std::int32_t KillTracker::attempts(const std::string& name) const {
  auto it = kills_.find(name);
  return it == kills_.end() ? 0 : it->second.attempts;
}

Duration KillTracker::grace(const std::string& name) const {
  auto it = kills_.find(name);
  return it == kills_.end() ? Duration(0) : it->second.grace;
}

}  // namespace berth
