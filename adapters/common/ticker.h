#pragma once
// Ticker: calls a function every `interval` on an executor, until stop() or its destruction (a
// tick already due when either happens is dropped). Adapters re-read credential files with it.
//
// Thread-safety: not thread-safe; start() and stop() on the executor given, where ticks run.

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <memory>

#include "core/types.h"

namespace berth::adapters {

class Ticker {
 public:
  explicit Ticker(boost::asio::any_io_executor executor);
  ~Ticker();
  Ticker(const Ticker&) = delete;
  Ticker& operator=(const Ticker&) = delete;

  // The first tick comes one `interval` from now; a running ticker starts over.
  void start(Duration interval, std::function<void()> tick);
  void stop();

 private:
  struct State;
  static void arm(const std::shared_ptr<State>& state);
  std::shared_ptr<State> state_;
};

}  // namespace berth::adapters
