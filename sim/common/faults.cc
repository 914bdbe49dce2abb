#include "sim/common/faults.h"

namespace berth::sim_common {
namespace json = boost::json;

Faults::Faults(int default_error_code) : default_error_code_(default_error_code), error_code_(default_error_code) {}

std::optional<int> Faults::draw(const std::string& key, RandomSource& random) {
  for (const std::string& name : {key, std::string("*")}) {
    auto next = fail_next_.find(name);
    if (next != fail_next_.end() && next->second > 0) {
      --next->second;
      return error_code_;
    }
  }
  for (const std::string& name : {key, std::string("*")}) {
    auto rate = error_rate_.find(name);
    if (rate != error_rate_.end() && rate->second > 0) {
      std::uniform_real_distribution<double> uniform(0.0, 1.0);
      if (uniform(random) < rate->second) return error_code_;
    }
  }
  return std::nullopt;
}

void Faults::reset() {
  latency_ms_ = 0;
  error_code_ = default_error_code_;
  error_rate_.clear();
  fail_next_.clear();
}

FaultUpdate Faults::apply(const json::object& body) {
  FaultUpdate update;
  const auto number = [&](const char* key) -> std::optional<double> {
    const json::value* value = body.if_contains(key);
    if (value == nullptr || !value->is_number()) return std::nullopt;
    return value->to_number<double>();
  };
  if (const json::value* reset = body.if_contains("reset"); reset && reset->is_bool() && reset->as_bool()) {
    this->reset();
    update.reset = true;
  }
  if (auto latency = number("latency_ms")) latency_ms_ = static_cast<int>(*latency);
  if (auto code = number("error_code")) error_code_ = static_cast<int>(*code);
  if (const json::value* rates = body.if_contains("error_rate"); rates && rates->is_object()) {
    error_rate_.clear();
    for (const auto& [key, rate] : rates->as_object()) {
      if (rate.is_number()) error_rate_[std::string(key)] = rate.to_number<double>();
    }
  }
  if (const json::value* counts = body.if_contains("fail_next"); counts && counts->is_object()) {
    for (const auto& [key, count] : counts->as_object()) {
      if (count.is_number()) fail_next_[std::string(key)] = static_cast<int>(count.to_number<double>());
    }
  }
  if (auto down = number("down_for_ms")) update.down_for = std::chrono::milliseconds(static_cast<std::int64_t>(*down));
  return update;
}

json::object Faults::describe() const {
  json::object rates;
  for (const auto& [key, rate] : error_rate_) rates[key] = rate;
  json::object next;
  for (const auto& [key, count] : fail_next_) next[key] = count;
  return json::object{{"latency_ms", latency_ms_},
                      {"error_code", error_code_},
                      {"error_rate", std::move(rates)},
                      {"fail_next", std::move(next)}};
}

void after_latency(const boost::asio::any_io_executor& executor, std::chrono::milliseconds latency,
                   std::function<void()> serve) {
  if (latency.count() <= 0) return serve();
  auto timer = std::make_shared<boost::asio::steady_timer>(executor, latency);
  timer->async_wait([timer, serve = std::move(serve)](boost::system::error_code) { serve(); });
}

Outage::Outage(boost::asio::any_io_executor executor) : state_(std::make_shared<State>(std::move(executor))) {}

Outage::~Outage() { stop(); }

void Outage::begin(std::chrono::milliseconds duration, std::function<void()> go_down, std::function<void()> come_up) {
  // expires_after() cancels the waits of an outage under way: they see an error and stop there.
  state_->timer.expires_after(kGrace);
  state_->timer.async_wait([state = state_, duration, go_down = std::move(go_down),
                            come_up = std::move(come_up)](boost::system::error_code ec) {
    if (ec || state->stopped) return;
    go_down();
    state->timer.expires_after(duration);
    state->timer.async_wait([state, come_up](boost::system::error_code wait_ec) {
      if (wait_ec || state->stopped) return;
      come_up();
    });
  });
}

void Outage::stop() {
  state_->stopped = true;
  state_->timer.cancel();
}

}  // namespace berth::sim_common
