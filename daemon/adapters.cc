#include "daemon/adapters.h"

#include "adapters/kubernetes/kubernetes_backend.h"
#include "adapters/kubernetes/kubernetes_config.h"
#include "adapters/local/local_backend.h"
#include "adapters/nomad/nomad_backend.h"
#include "adapters/nomad/nomad_config.h"
#include "adapters/local/local_config.h"

namespace berth {
namespace {

StatusOr<LocalPoolConfig> parse_local(const config::PoolConfig& pool, const std::string& state_dir) {
  config::Section section = pool.section();
  LocalPoolConfig local;
  Status status = parse_local_pool(section, state_dir, pool.policy.name, &local);
  if (!status.ok()) return status;
  return local;
}

StatusOr<KubernetesPoolConfig> parse_kubernetes(const config::PoolConfig& pool, const std::string& state_dir) {
  config::Section section = pool.section();
  KubernetesPoolConfig kubernetes;
  Status status = parse_kubernetes_pool(section, state_dir, pool.policy.name, &kubernetes);
  if (!status.ok()) return status;
  return kubernetes;
}

StatusOr<NomadPoolConfig> parse_nomad(const config::PoolConfig& pool) {
  config::Section section = pool.section();
  NomadPoolConfig nomad;
  Status status = parse_nomad_pool(section, &nomad);
  if (!status.ok()) return status;
  return nomad;
}

Status unsupported(const config::PoolConfig& pool) {
  return Status::FailedPrecondition(pool.file + ": pool " + pool.policy.name + ": backend type " +
                                    pool.policy.type + " is not available in this build of berthd");
}

}  // namespace

Status check_pool_section(const config::PoolConfig& pool, const std::string& state_dir) {
  if (pool.policy.type == "local") return parse_local(pool, state_dir).status();
  if (pool.policy.type == "kubernetes") return parse_kubernetes(pool, state_dir).status();
  if (pool.policy.type == "nomad") return parse_nomad(pool).status();
  return unsupported(pool);
}

StatusOr<std::unique_ptr<Backend>> make_backend(const config::PoolConfig& pool, const BackendContext& context) {
  if (pool.policy.type == "local") {
    auto local = parse_local(pool, context.state_dir);
    if (!local.ok()) return local.status();
    return make_local_backend(context.strand, pool.policy.name, std::move(*local), context.daemon_id);
  }
  if (pool.policy.type == "kubernetes") {
    auto kubernetes = parse_kubernetes(pool, context.state_dir);
    if (!kubernetes.ok()) return kubernetes.status();
    return make_kubernetes_backend(context.strand, pool.policy.name, std::move(*kubernetes), context.daemon_id);
  }
  if (pool.policy.type == "nomad") {
    auto nomad = parse_nomad(pool);
    if (!nomad.ok()) return nomad.status();
    return make_nomad_backend(context.strand, pool.policy.name, std::move(*nomad), context.daemon_id,
                              context.name_prefix);
  }
  return unsupported(pool);
}

}  // namespace berth
