#include "daemon/runtime.h"

#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <condition_variable>
#include <future>
#include <thread>

#include "daemon/adapters.h"

namespace berth {

namespace asio = boost::asio;

namespace {

class StrandScheduler final : public Scheduler {
 public:
  explicit StrandScheduler(asio::strand<asio::io_context::executor_type>& strand) : strand_(strand) {}
  void post(std::function<void()> task) override { asio::post(strand_, std::move(task)); }

 private:
  asio::strand<asio::io_context::executor_type>& strand_;
};

}  // namespace

class Runtime::Impl {
 public:
  Impl(Options options, std::unique_ptr<Store> store)
      : options_(std::move(options)),
        store_(std::move(store)),
        work_(asio::make_work_guard(io_)),
        strand_(asio::make_strand(io_)),
        scheduler_(strand_),
        ticker_(strand_) {}

  Options options_;
  std::unique_ptr<Store> store_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  asio::strand<asio::io_context::executor_type> strand_;
  StrandScheduler scheduler_;
  SystemClock clock_;
  std::vector<std::unique_ptr<Backend>> backends_;
  std::unique_ptr<Engine> engine_;
  std::vector<std::thread> threads_;
  asio::steady_timer ticker_;
  std::map<AppId, int> watched_;
  std::function<void()> tick_hook_;
  bool stopped_ = false;

  void schedule_tick() {
    ticker_.expires_after(options_.tick_interval);
    ticker_.async_wait([this](const boost::system::error_code& error) {
      if (error || stopped_) return;
      for (const auto& [app, streams] : watched_) {
        (void)streams;
        (void)engine_->keep_alive(app);
      }
      engine_->tick();
      if (tick_hook_) tick_hook_();
      schedule_tick();
    });
  }
};

Runtime::Runtime(Options options, std::unique_ptr<Store> store)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(store))) {}

Runtime::~Runtime() { shutdown(); }

Status Runtime::start(const StoreSnapshot& snapshot, Duration timeout) {
  Impl& impl = *impl_;
  const config::Config& config = impl.options_.config;
  impl.engine_ = std::make_unique<Engine>(config.engine, impl.options_.daemon_id, impl.clock_,
                                          *impl.store_, impl.scheduler_);
  engine_ = impl.engine_.get();
  for (EngineListener* listener : impl.options_.early_listeners) impl.engine_->add_listener(listener);
  BackendContext context;
  context.strand = impl.strand_;
  context.state_dir = config.state_dir;
  context.daemon_id = impl.options_.daemon_id;
  context.name_prefix = config.engine.name_prefix;
  context.time = adapters::real_time_source();

  for (const config::PoolConfig& pool : config.pools) {
    auto backend = make_backend(pool, context);
    if (!backend.ok()) return backend.status();
    impl.engine_->add_pool(pool.policy, backend->get());
    impl.backends_.push_back(std::move(*backend));
  }
  impl.engine_->set_tenants(config.tenants);
  Status restored = impl.engine_->restore(snapshot);
  if (!restored.ok()) return restored;
  for (const std::string& notice : impl.engine_->notices()) spdlog::warn("{}", notice);

  for (int i = 0; i < std::max(1, impl.options_.threads); ++i) {
    impl.threads_.emplace_back([&impl] { impl.io_.run(); });
  }

  // Start on the strand and wait for the first list of every pool.
  std::promise<void> ready;
  auto ready_future = ready.get_future();
  auto deadline = std::chrono::steady_clock::now() + timeout;
  post([&impl] {
    impl.engine_->start();
    impl.schedule_tick();
  });
  while (std::chrono::steady_clock::now() < deadline) {
    std::promise<bool> probe;
    auto answer = probe.get_future();
    post([&impl, &probe] { probe.set_value(impl.engine_->ready()); });
    if (answer.get()) return Status::Ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  spdlog::warn("not every pool answered its first list within {} ms; serving anyway, unsynced pools stay frozen",
               timeout.count());
  return Status::Ok();
}

void Runtime::post(std::function<void()> task) { asio::post(impl_->strand_, std::move(task)); }

void Runtime::watch_started(const AppId& app) { impl_->watched_[app]++; }

void Runtime::watch_ended(const AppId& app) {
  auto it = impl_->watched_.find(app);
  if (it != impl_->watched_.end() && --it->second == 0) impl_->watched_.erase(it);
}

void Runtime::set_tick_hook(std::function<void()> hook) {
  post([this, hook = std::move(hook)] { impl_->tick_hook_ = hook; });
}

void Runtime::shutdown() {
  Impl& impl = *impl_;
  if (impl.stopped_ && impl.threads_.empty()) return;
  if (!impl.threads_.empty()) {
    std::promise<void> stopped;
    auto done = stopped.get_future();
    post([&impl, &stopped] {
      impl.stopped_ = true;
      impl.ticker_.cancel();
      if (impl.engine_) {
        // Persist whatever changed last, then stop observing. Executors keep running.
        impl.engine_->stop();
        impl.engine_->persist();
      }
      stopped.set_value();
    });
    done.wait();
  }
  impl.stopped_ = true;
  impl.store_->flush();
  impl.work_.reset();
  impl.io_.stop();
  for (auto& thread : impl.threads_) thread.join();
  impl.threads_.clear();
}

}  // namespace berth
