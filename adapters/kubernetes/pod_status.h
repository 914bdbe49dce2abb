#pragma once
// From an observed Pod to Berth's BackendObject: the one place where Kubernetes pod states map to
// the executor lifecycle, with Spark's loss reasons (reference: spark-executor-contract §2.3-2.4).
//
//   Pending, unscheduled              -> pending, reason Unschedulable + the scheduler's message
//   Pending / Running, executor container waiting -> pending with the waiting reason
//   image pull failing (ErrImagePull, ImagePullBackOff) for image_pull_failure_timeout,
//     or InvalidImageName             -> exited, no exit code, reason = the waiting reason
//   Running, executor container running -> running
//   executor container terminated (whatever the phase, sidecars running or not)
//                                     -> exited with ITS exit code (OOMKilled: oom_killed, 137)
//   Succeeded / Failed                -> exited with the executor container's code
//   Failed with reason Evicted, NodeLost, Shutdown/Terminated (node shutdown); phase Unknown;
//     DisruptionTarget by the taint manager -> lost, with the node
//   deleted, not by Berth             -> exited with deleted_externally (or the terminal
//                                        state it had reached, or lost if its node went)
//   deleted by Berth                  -> gone
//
// Pure and thread-safe; time comes in through PodContext::now.

#include <boost/json/object.hpp>
#include <optional>
#include <string>

#include "core/backend.h"

namespace berth::kubernetes {

struct PodContext {
  Timestamp now{};
  std::string executor_container = "spark-kubernetes-executor";  // unless the pod's annotation names it
  Duration image_pull_failure_timeout{std::chrono::minutes(3)};
  bool deleted = false;           // a DELETED event, or missing from a relist
  bool deleted_by_berth = false;  // Berth's kill() deleted it
};

// The object for `pod` (list item or watch event object). Pods without Berth's daemon label come
// back with an empty daemon_id.
BackendObject pod_to_object(const boost::json::object& pod, const PodContext& context);

// When a pod whose image cannot be pulled will be reported as failed (nullopt: it is not failing
// to pull, or already reported). The watch re-evaluates the pod then.
std::optional<Timestamp> image_pull_deadline(const boost::json::object& pod, const PodContext& context);

// RFC 3339 ("2026-01-02T10:00:00Z", fractions and offsets accepted); nullopt if malformed.
std::optional<Timestamp> parse_time(const std::string& text);

}  // namespace berth::kubernetes
