#pragma once
// The Nomad job of one executor: one batch job per executor, ID = the executor's backend name,
// one task group of count 1 that Nomad never restarts or reschedules (Spark decides what to
// replace), Meta carrying Berth's ids. Built from the operator's job template when there is one:
// its executor task group is kept (sidecars, vault, templates, constraints, affinities, spreads,
// networks, artifacts) and the executor task's driver config, resources, env and meta are Berth's.
//
// Pure; thread-safe.

#include <boost/json/object.hpp>
#include <string>

#include "adapters/nomad/nomad_config.h"
#include "core/backend.h"

namespace berth::nomad {

// Meta key on a template's task that marks the executor task.
inline constexpr const char* kRoleMetaKey = "spark.nomad.role";

// The Job object (not the register request around it). kInvalidArgument names what is wrong
// (an exec driver without a command, a template without an executor task ...).
StatusOr<boost::json::object> build_job(const LaunchRequest& request, const NomadPoolConfig& config);

// The executor task's name in jobs built from `config` (the template's executor task, or
// config.task_name).
std::string executor_task_name(const NomadPoolConfig& config);

}  // namespace berth::nomad
