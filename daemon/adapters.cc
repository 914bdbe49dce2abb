#include "daemon/adapters.h"

#include "adapters/kubernetes/kubernetes_backend.h"
#include "adapters/kubernetes/kubernetes_config.h"
#include "adapters/local/local_backend.h"
#include "adapters/mesos/mesos_backend.h"
#include "adapters/mesos/mesos_config.h"
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

StatusOr<MesosPoolConfig> parse_mesos(const config::PoolConfig& pool) {
  config::Section section = pool.section();
  MesosPoolConfig mesos;
  Status status = parse_mesos_pool(section, &mesos);
  if (!status.ok()) return status;
  return mesos;
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
  if (pool.policy.type == "mesos") return parse_mesos(pool).status();
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
  if (pool.policy.type == "mesos") {
    auto mesos = parse_mesos(pool);
    if (!mesos.ok()) return mesos.status();
    const std::string key = mesos_framework_id_key(pool.policy.name);
    auto stored = context.stored_meta.find(key);
    std::string framework_id = stored != context.stored_meta.end() ? stored->second : "";
    SaveFrameworkId save = [save_meta = context.save_meta, key](const std::string& id, std::function<void(Status)> done) {
      if (!save_meta) return done(Status::FailedPrecondition("no store to keep the Mesos framework id in"));
      save_meta(key, id, std::move(done));
    };
    return std::unique_ptr<Backend>(std::make_unique<MesosBackend>(context.strand, pool.policy.name, std::move(*mesos),
                                                                   context.daemon_id, context.name_prefix,
                                                                   std::move(framework_id), std::move(save)));
  }
  return unsupported(pool);
}

}  // namespace berth
