#pragma once
// Store: durable state of the daemon: applications (with their executor-id counters), executors
// (with their deterministic backend names) and a few daemon-wide values (daemon id, revision).
//
// The write-ahead rule rests on this interface: core sends a launch only after the commit that
// holds the executor's record has completed with OK.
//
// Threading: load() is called once at start-up, before anything else. commit() may be called from
// core's strand at any time and returns at once; implementations may group several commits into
// one transaction. `done` runs on an implementation thread; the daemon posts it onto the strand.
// Commits complete in the order they were made.

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "base/status.h"
#include "core/types.h"

namespace berth {

struct StoreSnapshot {
  std::vector<Application> apps;
  std::vector<Executor> executors;
  std::map<std::string, std::string> meta;
};

struct StoreBatch {
  std::vector<Application> put_apps;
  std::vector<AppId> delete_apps;  // deletes the app's executors too
  std::vector<Executor> put_executors;
  std::vector<ExecutorKey> delete_executors;
  std::map<std::string, std::string> put_meta;

  bool empty() const {
    return put_apps.empty() && delete_apps.empty() && put_executors.empty() &&
           delete_executors.empty() && put_meta.empty();
  }
};

// Meta keys core uses.
inline constexpr const char* kMetaDaemonId = "daemon_id";
inline constexpr const char* kMetaRevision = "revision";
// Adapter state (BackendSink::save_state) is kept under "adapter/<pool>/<key>".
inline constexpr const char* kMetaAdapterPrefix = "adapter/";

class Store {
 public:
  virtual ~Store() = default;
  virtual StatusOr<StoreSnapshot> load() = 0;
  virtual void commit(StoreBatch batch, std::function<void(Status)> done) = 0;
  // Blocks until every commit made so far is durable (used at shutdown).
  virtual void flush() = 0;
};

}  // namespace berth
