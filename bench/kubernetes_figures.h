#pragma once
// The figures measured against the Kubernetes API simulator: launch throughput and the time for
// one driver to reach 1,000 executors (beside the simulator's raw create capacity, Spark's
// allocator pacing and the official Python client), and berthd's memory and recovery time with
// many live executors.

#include <chrono>
#include <string>
#include <vector>

#include "bench/report.h"

namespace berth::bench {

struct KubernetesBenchOptions {
  std::string self;         // berth-bench itself
  std::string berthd;
  std::string sim;          // berth-sim
  std::string python_script;  // k8s_python_baseline.py
  std::string work_dir;     // a temp dir for configs, logs and state
  int runs = 3;
  int executors_per_driver = 1000;   // 0 -> N for one driver
  int raw_pods = 2000;               // pods created directly for baseline A
  int connections = 16;              // HTTP connections, the same for berthd and baseline A
  int spark_pods = 100;              // pods created with Spark's pacing (then extrapolated)
  int python_pods = 200;             // pods created one by one by the Python client
  int scale_executors = 10'000;      // live executors for the scale and recovery figures
  int scale_apps = 1'000;
  double latency_seconds = 2;
  bool launch_figures = true;        // launch throughput, time to N, added latency
  bool scale_figures = true;         // memory, ramp, recovery and watch ingestion with many executors        // open-loop launches per load level (10/50/90% of the maximum)
};

// Adds its rows and notes to `report`.
void run_kubernetes_figures(const KubernetesBenchOptions& options, Report& report);

}  // namespace berth::bench
