#include "daemon/adapters.h"

#include "adapters/kubernetes/kubernetes_backend.h"
#include "adapters/kubernetes/kubernetes_config.h"
#include "adapters/local/local_backend.h"
#include "adapters/local/local_config.h"
#include "adapters/mesos/mesos_backend.h"
#include "adapters/mesos/mesos_config.h"
#include "adapters/nomad/nomad_backend.h"
#include "adapters/nomad/nomad_config.h"

namespace berth {
namespace {

// Builds a registration from an adapter's two functions: `parse` reads the pool's adapter
// section into the adapter's config type, `make` builds the Backend from it.
template <typename AdapterConfig, typename Parse, typename Make>
BackendRegistration registration(std::string type, Parse parse, Make make) {
  auto read = [parse](const config::PoolConfig& pool, const std::string& state_dir) -> StatusOr<AdapterConfig> {
    config::Section section = pool.section();
    AdapterConfig adapter;
    Status status = parse(section, pool, state_dir, &adapter);
    if (!status.ok()) return status;
    return adapter;
  };
  return BackendRegistration{
      std::move(type),
      [read](const config::PoolConfig& pool, const std::string& state_dir) { return read(pool, state_dir).status(); },
      [read, make](const config::PoolConfig& pool, const BackendContext& context) -> StatusOr<std::unique_ptr<Backend>> {
        StatusOr<AdapterConfig> adapter = read(pool, context.state_dir);
        if (!adapter.ok()) return adapter.status();
        return make(pool, std::move(*adapter), context);
      }};
}

std::vector<BackendRegistration> all_backends() {
  std::vector<BackendRegistration> backends;
  backends.push_back(registration<LocalPoolConfig>(
      "local",
      [](config::Section& section, const config::PoolConfig& pool, const std::string& state_dir, LocalPoolConfig* out) {
        return parse_local_pool(section, state_dir, pool.policy.name, out);
      },
      [](const config::PoolConfig& pool, LocalPoolConfig local, const BackendContext& context) {
        return make_local_backend(context.strand, pool.policy.name, std::move(local), context.daemon_id);
      }));
  backends.push_back(registration<KubernetesPoolConfig>(
      "kubernetes",
      [](config::Section& section, const config::PoolConfig& pool, const std::string& state_dir,
         KubernetesPoolConfig* out) { return parse_kubernetes_pool(section, state_dir, pool.policy.name, out); },
      [](const config::PoolConfig& pool, KubernetesPoolConfig kubernetes, const BackendContext& context) {
        return make_kubernetes_backend(context.strand, pool.policy.name, std::move(kubernetes), context.daemon_id,
                                       context.time);
      }));
  backends.push_back(registration<NomadPoolConfig>(
      "nomad",
      [](config::Section& section, const config::PoolConfig&, const std::string&, NomadPoolConfig* out) {
        return parse_nomad_pool(section, out);
      },
      [](const config::PoolConfig& pool, NomadPoolConfig nomad, const BackendContext& context) {
        return make_nomad_backend(context.strand, pool.policy.name, std::move(nomad), context.daemon_id,
                                  context.name_prefix, context.time);
      }));
  backends.push_back(registration<MesosPoolConfig>(
      "mesos",
      [](config::Section& section, const config::PoolConfig&, const std::string&, MesosPoolConfig* out) {
        return parse_mesos_pool(section, out);
      },
      [](const config::PoolConfig& pool, MesosPoolConfig mesos, const BackendContext& context)
          -> StatusOr<std::unique_ptr<Backend>> {
        return std::unique_ptr<Backend>(std::make_unique<MesosBackend>(
            context.strand, pool.policy.name, std::move(mesos), context.daemon_id, context.name_prefix,
            "", nullptr, context.time));
      }));
  return backends;
}

const BackendRegistration* find_registration(const std::string& type) {
  for (const BackendRegistration& backend : backend_registry()) {
    if (backend.type == type) return &backend;
  }
  return nullptr;
}

Status unsupported(const config::PoolConfig& pool) {
  return Status::FailedPrecondition(pool.file + ": pool " + pool.policy.name + ": backend type " +
                                    pool.policy.type + " is not available in this build of berthd");
}

}  // namespace

const std::vector<BackendRegistration>& backend_registry() {
  static const std::vector<BackendRegistration> registry = all_backends();
  return registry;
}

config::PoolTypes registered_backend_types() {
  config::PoolTypes types;
  for (const BackendRegistration& backend : backend_registry()) types.push_back(backend.type);
  return types;
}

Status check_pool_section(const config::PoolConfig& pool, const std::string& state_dir) {
  const BackendRegistration* backend = find_registration(pool.policy.type);
  return backend == nullptr ? unsupported(pool) : backend->check(pool, state_dir);
}

StatusOr<std::unique_ptr<Backend>> make_backend(const config::PoolConfig& pool, const BackendContext& context) {
  const BackendRegistration* backend = find_registration(pool.policy.type);
  if (backend == nullptr) return unsupported(pool);
  return backend->make(pool, context);
}

}  // namespace berth
