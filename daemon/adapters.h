#pragma once
// The one list of backend adapters berthd knows. Adding a backend means adding it here: its
// pool-section parser (for --check-config and start-up) and its factory.

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "config/config.h"
#include "core/backend.h"

namespace berth {

struct BackendContext {
  boost::asio::any_io_executor strand;  // where the backend delivers completions
  std::string state_dir;
  std::string daemon_id;
  std::string name_prefix;  // core's prefix of backend names (<prefix>-<app>-exec-<id>)
  // Adapter state kept in the store's meta (a Mesos framework id): what was saved, and how to
  // save more (durably; `done` runs on `strand`).
  std::map<std::string, std::string> stored_meta;
  std::function<void(const std::string& key, const std::string& value, std::function<void(Status)> done)> save_meta;
};

// Parses and checks a pool's adapter section; errors carry file:line:col.
Status check_pool_section(const config::PoolConfig& pool, const std::string& state_dir);

StatusOr<std::unique_ptr<Backend>> make_backend(const config::PoolConfig& pool, const BackendContext& context);

}  // namespace berth
