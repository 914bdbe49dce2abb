#pragma once
// Launch figures on the Nomad and Mesos simulators: one driver from 0 to N executors created
// through berthd, beside the simulator's raw capacity for the same objects (Nomad: the same job
// bodies registered directly over as many connections; Mesos: the same TaskInfos launched by a
// minimal framework that packs every offer it gets).

#include <string>

#include "bench/report.h"

namespace berth::bench {

struct BackendBenchOptions {
  std::string berthd;
  std::string sim;        // berth-sim
  std::string work_dir;   // a temp dir for configs, logs and state
  int runs = 3;
  int executors = 1000;   // 0 -> N for one driver
  int connections = 16;   // HTTP connections to Nomad, the same for berthd and the raw baseline
};

void run_nomad_figures(const BackendBenchOptions& options, Report& report);
void run_mesos_figures(const BackendBenchOptions& options, Report& report);
// Backend requests per executor over launch -> kill -> gone on Kubernetes, Nomad and Mesos,
// counted by each simulator, beside berthd re-sending kills on every sighting.
void run_request_figures(const BackendBenchOptions& options, Report& report);

}  // namespace berth::bench
