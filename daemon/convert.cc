#include "daemon/convert.h"

#include "core/app_key.h"

namespace berth {

void to_proto(Timestamp t, google::protobuf::Timestamp* out) {
  const auto ms = t.time_since_epoch().count();
  if (ms == 0) return;
  out->set_seconds(ms / 1000);
  out->set_nanos(static_cast<std::int32_t>((ms % 1000) * 1'000'000));
}

void to_proto(const ResourceProfile& profile, v1::ResourceProfile* out) {
  out->set_id(profile.id);
  out->set_cores(profile.cores);
  out->set_heap_mib(profile.heap_mib);
  out->set_overhead_mib(profile.overhead_mib);
  out->set_overhead_factor(profile.overhead_factor);
  out->set_offheap_mib(profile.offheap_mib);
  out->set_pyspark_mib(profile.pyspark_mib);
  for (const CustomResource& r : profile.resources) {
    auto* resource = out->add_resources();
    resource->set_name(r.name);
    resource->set_vendor(r.vendor);
    resource->set_amount(r.amount);
  }
}

v1::ExecutorState to_proto(ExecutorState state) {
  // The proto enum is the core enum shifted by one (0 is UNSPECIFIED).
  return static_cast<v1::ExecutorState>(static_cast<int>(state) + 1);
}

ExecutorState from_proto(v1::ExecutorState state) {
  return static_cast<ExecutorState>(static_cast<int>(state) - 1);
}

void to_proto(const Executor& executor, v1::Executor* out) {
  out->set_app_id(std::string(app_name(executor.app)));
  out->set_executor_id(executor.id);
  out->set_profile_id(executor.profile);
  out->set_pool(executor.pool);
  out->set_backend_name(executor.backend_name);
  out->set_state(to_proto(executor.state));
  out->set_host(executor.host);
  if (executor.exit_code) {
    out->set_exit_code(*executor.exit_code);
    out->set_has_exit_code(true);
  }
  if (is_terminal(executor.state)) {
    auto* loss = out->mutable_loss();
    loss->set_reason(executor.loss.reason);
    loss->set_caused_by_app(executor.loss.caused_by_app);
    loss->set_message(executor.loss.message);
    loss->set_host_lost(executor.loss.host_lost);
  }
  // Unset times stay absent (not 1970-01-01) in the reply.
  auto* times = out->mutable_times();
  if (executor.requested != Timestamp{}) to_proto(executor.requested, times->mutable_requested());
  if (executor.launched != Timestamp{}) to_proto(executor.launched, times->mutable_launched());
  if (executor.running != Timestamp{}) to_proto(executor.running, times->mutable_running());
  if (executor.ended != Timestamp{}) to_proto(executor.ended, times->mutable_ended());
  out->set_revision(executor.revision);
  out->set_attempt(executor.attempt);
}

namespace {

v1::ApplicationPhase to_proto(AppPhase phase) {
  switch (phase) {
    case AppPhase::kActive: return v1::ACTIVE;
    case AppPhase::kOrphaned: return v1::ORPHANED;
    case AppPhase::kEnded: return v1::ENDED;
  }
  return v1::APPLICATION_PHASE_UNSPECIFIED;
}

}  // namespace

void to_proto(const Application& app,
              const std::map<ProfileId, std::map<ExecutorState, std::int32_t>>& counts,
              v1::Application* out) {
  const AppSpec& spec = app.spec;
  out->set_app_id(std::string(app_name(spec.id)));
  out->set_key(spec.id);
  out->set_tenant(spec.tenant);
  for (const PoolName& pool : spec.pools) out->add_pools(pool);
  for (const ResourceProfile& profile : spec.profiles) to_proto(profile, out->add_profiles());
  auto* launch = out->mutable_launch();
  launch->set_image(spec.launch->image);
  for (const auto& c : spec.launch->command) launch->add_command(c);
  for (const auto& a : spec.launch->args) launch->add_args(a);
  launch->mutable_env()->insert(spec.launch->env.begin(), spec.launch->env.end());
  launch->mutable_labels()->insert(spec.launch->labels.begin(), spec.launch->labels.end());
  launch->mutable_annotations()->insert(spec.launch->annotations.begin(), spec.launch->annotations.end());
  out->mutable_driver()->set_url(spec.driver.url);
  if (spec.driver.pod) {
    auto* pod = out->mutable_driver()->mutable_pod();
    pod->set_namespace_(spec.driver.pod->name_space);
    pod->set_name(spec.driver.pod->name);
    pod->set_uid(spec.driver.pod->uid);
  }
  out->set_lease_ttl_seconds(std::chrono::duration_cast<std::chrono::seconds>(spec.lease_ttl).count());
  out->set_phase(to_proto(app.phase));
  for (const auto& [profile, target] : app.targets) {
    auto* status = out->add_profile_status();
    status->set_profile_id(profile);
    status->set_target(target);
    if (auto it = counts.find(profile); it != counts.end()) {
      for (const auto& [state, n] : it->second) (*status->mutable_counts())[to_string(state)] = n;
    }
  }
  if (spec.lease_ttl.count() > 0 && app.lease_deadline != Timestamp{}) {
    to_proto(app.lease_deadline, out->mutable_lease_deadline());
  }
  out->set_next_executor_id(app.next_executor_id);
  out->set_launch_failures(app.launch_failures);
  for (const auto& c : app.conditions) out->add_conditions(c);
  out->set_end_reason(app.end_reason);
  out->set_revision(app.revision);
}

void to_proto(const PoolStatus& pool, v1::Pool* out) {
  out->set_name(pool.policy.name);
  out->set_type(pool.policy.type);
  out->set_healthy(pool.healthy);
  out->set_synced(pool.synced);
  out->set_draining(pool.draining);
  out->set_last_error(pool.last_error);
  for (const auto& [state, n] : pool.counts) {
    if (n != 0) (*out->mutable_counts())[to_string(state)] = n;
  }
  out->set_max_pending(pool.policy.max_pending);
  if (pool.backoff_until != Timestamp{}) to_proto(pool.backoff_until, out->mutable_backoff_until());
  out->set_lists(pool.lists);
  out->set_kills_sent(pool.kills_sent);
  out->set_kills_pending(pool.kills_tracked);
  out->set_launch_queue(pool.launch_queue);
}

AppSpec from_proto(const v1::RegisterApplicationRequest& request) {
  AppSpec spec;
  spec.id = request.app_id();
  spec.tenant = request.tenant();
  spec.pools.assign(request.pools().begin(), request.pools().end());
  for (const auto& p : request.profiles()) {
    ResourceProfile profile;
    profile.id = p.id();
    profile.cores = p.cores();
    profile.heap_mib = p.heap_mib();
    profile.overhead_mib = p.overhead_mib();
    profile.overhead_factor = p.overhead_factor();
    profile.offheap_mib = p.offheap_mib();
    profile.pyspark_mib = p.pyspark_mib();
    for (const auto& r : p.resources()) profile.resources.push_back({r.name(), r.vendor(), r.amount()});
    spec.profiles.push_back(std::move(profile));
  }
  const auto& launch = request.launch();
  LaunchSpec spec_launch;
  spec_launch.image = launch.image();
  spec_launch.command.assign(launch.command().begin(), launch.command().end());
  spec_launch.args.assign(launch.args().begin(), launch.args().end());
  spec_launch.env.insert(launch.env().begin(), launch.env().end());
  spec_launch.labels.insert(launch.labels().begin(), launch.labels().end());
  spec_launch.annotations.insert(launch.annotations().begin(), launch.annotations().end());
  spec.launch = std::move(spec_launch);
  spec.driver.url = request.driver().url();
  if (request.driver().has_pod()) {
    const auto& pod = request.driver().pod();
    spec.driver.pod = DriverPod{pod.namespace_(), pod.name(), pod.uid()};
  }
  spec.lease_ttl = std::chrono::seconds(request.lease_ttl_seconds());
  return spec;
}

void redact_env(const std::regex& secret, v1::Application* out) {
  for (auto& [name, value] : *out->mutable_launch()->mutable_env()) {
    if (std::regex_search(name, secret)) value = "<redacted>";
  }
}

}  // namespace berth
