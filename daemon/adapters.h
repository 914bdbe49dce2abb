#pragma once
// The one list of backend adapters berthd knows. Adding a backend means adding it here: its
// pool-section parser (for --check-config and start-up) and its factory. adapters/README.md
// lists the steps.

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "adapters/common/time_source.h"
#include "config/config.h"
#include "core/backend.h"

namespace berth {

struct BackendContext {
  boost::asio::any_io_executor strand;  // where the backend delivers completions
  std::string state_dir;
  std::string daemon_id;
  std::string name_prefix;  // core's prefix of backend names (<prefix>-<app>-exec-<id>)
  // Where the adapters read the time and draw their jitter (tests fix it).
  adapters::TimeSource time = adapters::real_time_source();
};

// One backend berthd can run pools on: its pool type (the key of the pool's adapter section in
// the config), how to check that section, and how to build a pool's Backend from it.
struct BackendRegistration {
  std::string type;
  // Errors carry file:line:col.
  std::function<Status(const config::PoolConfig& pool, const std::string& state_dir)> check;
  std::function<StatusOr<std::unique_ptr<Backend>>(const config::PoolConfig& pool, const BackendContext& context)> make;
};

// Every backend of this build, in the order docs and errors list them: the one list of
// adapters (adding a backend is one folder under adapters/ and one entry here).
const std::vector<BackendRegistration>& backend_registry();
// Their types, for the config's check of `type:`.
config::PoolTypes registered_backend_types();

// Parses and checks a pool's adapter section; errors carry file:line:col.
Status check_pool_section(const config::PoolConfig& pool, const std::string& state_dir);

StatusOr<std::unique_ptr<Backend>> make_backend(const config::PoolConfig& pool, const BackendContext& context);

}  // namespace berth
