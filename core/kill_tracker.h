#pragma once
// KillTracker: the kills one pool has asked its backend for, each tracked as an action with a
// history (when it was sent, how often, with which grace), so that a kill reaches the backend
// once and is sent again only when it evidently did not work:
//   - while a kill is in flight, nothing more is sent for that object;
//   - after the backend accepted it, an object still seen alive is left alone until its grace
//     period plus a margin has passed (the margin doubles with each attempt, up to a cap); only
//     an observation after that sends it again;
//   - a kill the backend refused (not "not found") is retried after a backoff, from tick();
//   - a bulk kill (one call for a whole application) covers its objects as if each had been
//     sent its own kill; only a failed bulk call turns into per-object kills.
// An entry ends when the object is seen gone or ended, is absent from a full list, or the
// backend answers "not found".
//
// A plain value type: no I/O, no clock of its own (every call takes `now`). Not thread-safe; the
// Engine owns one per pool and uses it on its strand.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/status.h"
#include "core/types.h"

namespace berth {

struct KillRetryPolicy {
  Duration margin{std::chrono::seconds(30)};         // after the grace, before a second kill
  Duration max_wait{std::chrono::minutes(5)};        // cap of the doubled wait
  Duration failure_backoff{std::chrono::seconds(1)}; // first retry of a refused kill
  // A backend that stops objects after a grace of its own (not KillRequest::grace): the wait
  // before a follow-up counts at least this instead.
  std::optional<Duration> backend_grace;
};

class KillTracker {
 public:
  explicit KillTracker(KillRetryPolicy policy = {}) : policy_(policy) {}

  // A kill is wanted for `name`. True when the caller must send it now (the first request for
  // this object); false when one is already tracked (in flight, or sent and waiting).
  bool request(const std::string& name, Duration grace, Timestamp now);

  // The object was seen alive at `now`: true when its tracked kill is due again and the caller
  // must send it (counted as a new attempt). An untracked object is the caller's to request().
  bool observed_alive(const std::string& name, Timestamp now);

  // The backend answered a kill sent for `name`.
  void completed(const std::string& name, const Status& status, Timestamp now);

  // Objects covered by one bulk call (sent at `now`): tracked as sent, no per-object kill.
  void bulk_sent(const std::vector<std::string>& names, Duration grace, Timestamp now);
  // The bulk call succeeded (the covered objects wait as after an accepted kill), or failed:
  // returns the names the caller must now kill one by one (counted as their first attempt).
  void bulk_completed(const std::vector<std::string>& names, Timestamp now);
  std::vector<std::string> bulk_failed(const std::vector<std::string>& names, Timestamp now);

  // The object is gone or ended: its kill is done.
  void forget(const std::string& name) { kills_.erase(name); }
  // A full list of the pool started at `list_started` holds only `present`: kills sent before
  // that list of objects absent from it are done.
  void retain_present(const std::set<std::string>& present, Timestamp list_started);

  // Kills refused by the backend whose backoff has passed: the caller sends each again.
  std::vector<std::string> due_retries(Timestamp now);

  bool tracked(const std::string& name) const { return kills_.count(name) > 0; }
  std::size_t size() const { return kills_.size(); }
  // Attempts sent for `name` so far (0 when untracked).
  std::int32_t attempts(const std::string& name) const;
  Duration grace(const std::string& name) const;

 private:
  struct Kill {
    Duration grace{0};
    Timestamp sent_at{};
    std::int32_t attempts = 0;
    bool in_flight = false;
    bool refused = false;   // the last attempt failed: retried from due_retries()
    Timestamp retry_at{};   // not sent again before this
  };
  void send(Kill& kill, Timestamp now);
  // When an accepted kill may be sent again: its grace plus the margin doubled per attempt.
  Timestamp accepted_retry_at(const Kill& kill, Timestamp now) const;

  KillRetryPolicy policy_;
  std::map<std::string, Kill> kills_;
};

}  // namespace berth
