#pragma once
// Runtime: the daemon's moving parts around the Engine: the Asio io_context and its threads, the
// core strand, the backends of every pool, the periodic tick and the store. Everything that
// touches the Engine goes through post(), which runs it on the strand.
//
// Thread-safe: post() may be called from any thread (gRPC handlers do).

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/engine.h"
#include "core/store.h"

namespace berth {

class Runtime {
 public:
  struct Options {
    config::Config config;
    std::string daemon_id;
    // Threads running the io_context. The engine is single-writer on one strand and gRPC has
    // threads of its own, so more threads mostly hand work back and forth: with two, a ramp of
    // 12,000 executors cost berthd 15% more CPU (a third more system time) at the same speed.
    int threads = 1;
    Duration tick_interval{std::chrono::milliseconds(100)};
    // Listeners added before the engine starts, so that they see the first lists (adoption after
    // a restart). They must outlive the Runtime or be removed on the strand before it ends.
    std::vector<EngineListener*> early_listeners;
  };

  Runtime(Options options, std::unique_ptr<Store> store);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Creates the backends, restores the snapshot, starts the engine and the threads, and blocks
  // until every pool has answered its first list (or `timeout` passes; the unsynced pools stay
  // frozen and sync later). Errors: a pool that cannot be built, or a store that cannot be read.
  Status start(const StoreSnapshot& snapshot, Duration timeout);

  // Runs `task` on the core strand. The Engine may only be touched from there.
  void post(std::function<void()> task);
  Engine& engine() { return *engine_; }  // on the strand only

  // Applications kept alive by an open WatchEvents stream (on the strand only).
  void watch_started(const AppId& app);
  void watch_ended(const AppId& app);

  // Called on the strand every tick after the engine's own periodic work.
  void set_tick_hook(std::function<void()> hook);

  // Stops the engine and its backends (executors keep running), flushes the store, joins the
  // threads. Idempotent.
  void shutdown();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
  Engine* engine_ = nullptr;
};

}  // namespace berth
