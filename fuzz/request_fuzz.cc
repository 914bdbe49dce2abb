// Request validation and the engine behind it: a sequence of driver requests, as a client could
// send them, must never crash the daemon, let an exception out or break the engine's invariants.
//
// Input: records of [kind:1][length:2, little-endian][serialized request:length]. Each record is
// parsed as the request `kind` names; requests that pass validation are applied to a fresh Engine
// (fake backend, store and clock), and the invariants are checked after every step.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>

#include "core/engine.h"
#include "core/testing/fakes.h"
#include "daemon/convert.h"
#include "daemon/validate.h"

using namespace berth;

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

struct Harness {
  FakeClock clock;
  testing::ManualScheduler scheduler;
  testing::FakeStore store;
  testing::FakeBackend backend{"local", scheduler};
  Engine engine;

  Harness() : engine(options(), "fuzz", clock, store, scheduler) {
    engine.add_pool(PoolPolicy{"local", "fake", 50}, &backend);
    engine.set_tenants({TenantPolicy{"default", TenantLimits{200, 0, 0, 0}, {"local"}, {}}});
    check(engine.restore(StoreSnapshot{}).ok());
    engine.start();
    scheduler.run_all();
  }

  static EngineOptions options() {
    EngineOptions o;
    o.max_pending_per_app = 20;
    return o;
  }

  void settle() {
    backend.run_all_pending();
    scheduler.run_all(100'000);
  }

  void check_invariants() {
    Revision last = 0;
    for (const Application* app : engine.apps()) {
      last = std::max(last, app->revision);
      std::set<ExecutorId> ids;
      for (const Executor* e : engine.executors(app->spec.id)) {
        check(e->id >= 1 && e->id < app->next_executor_id);
        check(ids.insert(e->id).second);
        check(e->backend_name == engine.backend_name(e->app, e->id));
        check(e->revision <= engine.revision());
        last = std::max(last, e->revision);
      }
    }
    check(last <= engine.revision());
    check(engine.check_invariants().empty());
  }
};

template <typename Request>
bool parse(const std::uint8_t* data, std::size_t size, Request* request) {
  return request->ParseFromArray(data, static_cast<int>(size));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Harness h;
  std::size_t offset = 0;
  for (int step = 0; step < 32 && offset + 3 <= size; ++step) {
    const std::uint8_t kind = data[offset] % 7;
    const std::size_t length = std::min<std::size_t>(data[offset + 1] | (data[offset + 2] << 8), size - offset - 3);
    const std::uint8_t* body = data + offset + 3;
    offset += 3 + length;

    switch (kind) {
      case 0: {
        v1::RegisterApplicationRequest r;
        if (!parse(body, length, &r) || !validate(r).ok()) break;
        AppSpec spec = from_proto(r);
        spec.tenant = "default";
        auto app = h.engine.register_app(spec);
        if (app.ok()) {
          v1::Application out;
          to_proto(*app, h.engine.counts(app->spec.id), &out);
        }
        break;
      }
      case 1: {
        v1::RequestTotalExecutorsRequest r;
        if (!parse(body, length, &r) || !validate(r).ok()) break;
        std::map<ProfileId, std::int32_t> totals(r.totals().begin(), r.totals().end());
        (void)h.engine.set_targets(r.app_id(), totals);
        break;
      }
      case 2: {
        v1::KillExecutorsRequest r;
        if (!parse(body, length, &r) || !validate(r).ok()) break;
        std::vector<ExecutorId> ids(r.executor_ids().begin(), r.executor_ids().end());
        (void)h.engine.kill_executors(r.app_id(), ids, r.adjust_target(), r.force());
        break;
      }
      case 3: {
        v1::DecommissionExecutorsRequest r;
        if (!parse(body, length, &r) || !validate(r).ok()) break;
        std::vector<ExecutorId> ids(r.executor_ids().begin(), r.executor_ids().end());
        (void)h.engine.decommission_executors(r.app_id(), ids, std::chrono::seconds(r.grace_seconds()),
                                              r.adjust_target());
        break;
      }
      case 4: {
        v1::UnregisterApplicationRequest r;
        if (!parse(body, length, &r) || !validate(r).ok()) break;
        (void)h.engine.unregister_app(r.app_id(), r.reason());
        break;
      }
      case 5: {
        v1::KeepAliveRequest r;
        if (!parse(body, length, &r) || !validate(r).ok()) break;
        (void)h.engine.keep_alive(r.app_id());
        break;
      }
      case 6: {
        // Time passes: leases, timeouts and decommission deadlines fire.
        h.clock.advance(std::chrono::seconds(1 + (length % 120)));
        h.engine.tick();
        break;
      }
    }
    h.settle();
    h.check_invariants();
    v1::ListExecutorsResponse listed;
    for (const Application* app : h.engine.apps()) {
      for (const Executor* e : h.engine.executors(app->spec.id)) to_proto(*e, listed.add_executors());
    }
  }
  return 0;
}
