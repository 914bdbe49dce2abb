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
#include <memory>
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

// The parts of `pod` that pod_to_object and image_pull_deadline read: metadata without
// managedFields, status, and of the spec the node and the containers' names and images. Both give
// the same results on it as on the whole pod, which is mostly env, volumes and resources.
boost::json::object slim_pod(boost::json::object pod);

// What the informer keeps of one pod between its events: a few hundred bytes, where even a slim
// pod's JSON takes kilobytes. It holds what the pod's deletion reports when a relist finds it
// gone, and, only while its image cannot be pulled (image_pull_deadline has a value), the slim
// pod, to be evaluated again when the deadline passes.
class PodRecord {
 public:
  // `context.now` and `context.deleted*` are not used: nothing kept depends on them.
  PodRecord(boost::json::object pod, const PodContext& context);

  // Exactly pod_to_object(pod, context) for the pod deleted (by Berth, or not), `pod_name` being
  // the pod's metadata.name.
  BackendObject deleted(const std::string& pod_name, bool by_berth) const;

  // The slim pod while its image cannot be pulled; null otherwise.
  const boost::json::object* image_pull_pod() const { return image_pull_pod_.get(); }

 private:
  BackendObject deleted_externally_;  // deleted by someone other than Berth
  std::unique_ptr<const boost::json::object> image_pull_pod_;
};

// RFC 3339 ("2026-01-02T10:00:00Z", fractions and offsets accepted); nullopt if malformed.
std::optional<Timestamp> parse_time(const std::string& text);

}  // namespace berth::kubernetes
