#include "adapters/kubernetes/pod_status.h"

#include <cstdio>
#include <cstdlib>

#include "adapters/kubernetes/pod_spec.h"

namespace berth::kubernetes {
namespace {

namespace json = boost::json;

const json::object* object_of(const json::object& parent, const char* key) {
  const auto* value = parent.if_contains(key);
  return value != nullptr && value->is_object() ? &value->as_object() : nullptr;
}

const json::array* array_of(const json::object* parent, const char* key) {
  if (parent == nullptr) return nullptr;
  const auto* value = parent->if_contains(key);
  return value != nullptr && value->is_array() ? &value->as_array() : nullptr;
}

std::string string_of(const json::object* parent, const char* key) {
  if (parent == nullptr) return "";
  const auto* value = parent->if_contains(key);
  return value != nullptr && value->is_string() ? std::string(value->as_string()) : "";
}

std::optional<std::int64_t> int_of(const json::object* parent, const char* key) {
  if (parent == nullptr) return std::nullopt;
  const auto* value = parent->if_contains(key);
  if (value == nullptr) return std::nullopt;
  if (value->is_int64()) return value->as_int64();
  if (value->is_uint64()) return static_cast<std::int64_t>(value->as_uint64());
  return std::nullopt;
}

std::string label_or_annotation(const json::object* metadata, const char* key, bool prefer_annotation) {
  const json::object* labels = metadata == nullptr ? nullptr : object_of(*metadata, "labels");
  const json::object* annotations = metadata == nullptr ? nullptr : object_of(*metadata, "annotations");
  std::string annotation = string_of(annotations, key);
  if (prefer_annotation && !annotation.empty()) return annotation;
  std::string label = string_of(labels, key);
  return label.empty() ? annotation : label;
}

bool image_pull_failure(const std::string& reason) {
  return reason == "ErrImagePull" || reason == "ImagePullBackOff";
}

// The executor container's status: by the name the pod was created with, else the configured
// one, else the first.
const json::object* executor_status(const json::object& pod, const PodContext& context) {
  const json::object* metadata = object_of(pod, "metadata");
  std::string name = string_of(metadata == nullptr ? nullptr : object_of(*metadata, "annotations"),
                               kAnnotationExecutorContainer);
  if (name.empty()) name = context.executor_container;
  const json::array* statuses = array_of(object_of(pod, "status"), "containerStatuses");
  if (statuses == nullptr) return nullptr;
  const json::object* first = nullptr;
  for (const auto& status : *statuses) {
    if (!status.is_object()) continue;
    if (first == nullptr) first = &status.as_object();
    if (string_of(&status.as_object(), "name") == name) return &status.as_object();
  }
  return first;
}

struct ContainerState {
  std::string kind;  // "waiting", "running", "terminated" or ""
  const json::object* detail = nullptr;
};

ContainerState state_of(const json::object* container_status) {
  const json::object* state = container_status == nullptr ? nullptr : object_of(*container_status, "state");
  if (state == nullptr) return {};
  for (const char* kind : {"terminated", "running", "waiting"}) {
    if (const json::object* detail = object_of(*state, kind)) return {kind, detail};
  }
  return {};
}

const json::object* condition(const json::object* status, const char* type) {
  const json::array* conditions = array_of(status, "conditions");
  if (conditions == nullptr) return nullptr;
  for (const auto& item : *conditions) {
    if (item.is_object() && string_of(&item.as_object(), "type") == type) return &item.as_object();
  }
  return nullptr;
}

// The waiting reason (and message) of the executor container, or of an init container that
// blocks it (an init container's image can fail to pull too).
std::pair<std::string, std::string> waiting_of(const json::object& pod, const json::object* executor) {
  ContainerState state = state_of(executor);
  if (state.kind == "waiting") return {string_of(state.detail, "reason"), string_of(state.detail, "message")};
  if (const json::array* inits = array_of(object_of(pod, "status"), "initContainerStatuses")) {
    for (const auto& item : *inits) {
      if (!item.is_object()) continue;
      ContainerState init = state_of(&item.as_object());
      if (init.kind == "waiting" && image_pull_failure(string_of(init.detail, "reason"))) {
        return {string_of(init.detail, "reason"), string_of(init.detail, "message")};
      }
    }
  }
  return {};
}

std::string image_of(const json::object& pod, const json::object* executor) {
  std::string image = string_of(executor, "image");
  if (!image.empty()) return image;
  const json::array* containers = array_of(object_of(pod, "spec"), "containers");
  if (containers != nullptr && !containers->empty() && containers->front().is_object()) {
    return string_of(&containers->front().as_object(), "image");
  }
  return "";
}

// When the pod started trying: the kubelet's startTime, else its creation.
std::optional<Timestamp> started_at(const json::object& pod) {
  if (auto t = parse_time(string_of(object_of(pod, "status"), "startTime"))) return t;
  return parse_time(string_of(object_of(pod, "metadata"), "creationTimestamp"));
}

std::string seconds_text(Duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(d).count()) + "s";
}

// Fills exit code, reason and message from a terminated container state.
void set_terminated(BackendObject& object, const json::object* terminated) {
  object.phase = ObservedPhase::kExited;
  const std::string reason = string_of(terminated, "reason");
  if (auto code = int_of(terminated, "exitCode")) object.exit_code = static_cast<std::int32_t>(*code);
  if (reason == "OOMKilled") {
    object.oom_killed = true;
    if (!object.exit_code || *object.exit_code == 0) object.exit_code = 137;
  }
  object.reason = reason;
  std::string message = string_of(terminated, "message");
  if (message.empty() && object.exit_code) {
    message = "executor container exited with code " + std::to_string(*object.exit_code) +
              (reason.empty() ? "" : " (" + reason + ")");
  }
  object.message = message;
}

bool node_lost_reason(const std::string& reason) {
  return reason == "Evicted" || reason == "NodeLost" || reason == "Shutdown" || reason == "Terminated" ||
         reason == "NodeShutdown" || reason == "UnexpectedAdmissionError";
}

// The pod's node went away or pushed it out: DisruptionTarget set by the taint manager or the kubelet.
std::string disruption_by_node(const json::object* status) {
  const json::object* disruption = condition(status, "DisruptionTarget");
  if (disruption == nullptr || string_of(disruption, "status") != "True") return "";
  const std::string reason = string_of(disruption, "reason");
  if (reason == "DeletionByTaintManager" || reason == "TerminationByKubelet" || reason == "DeletionByPodGC") {
    return reason;  // node NoExecute taint, kubelet node-pressure / shutdown, node object gone
  }
  return "";
}

// The report for a pod Berth deleted: `observed`'s identity (what pod_to_object reads from the
// pod before looking at its state), gone.
BackendObject deleted_by_berth(const BackendObject& observed, const std::string& pod_name) {
  BackendObject object;
  object.backend_name = observed.backend_name;
  object.daemon_id = observed.daemon_id;
  object.app = observed.app;
  object.executor = observed.executor;
  object.profile = observed.profile;
  object.host = observed.host;
  object.phase = ObservedPhase::kGone;
  object.reason = "Deleted";
  object.message = "pod " + pod_name + " deleted by Berth";
  return object;
}

}  // namespace

json::object slim_pod(json::object pod) {
  if (auto* spec = pod.if_contains("spec"); spec != nullptr && spec->is_object()) {
    json::object kept;
    json::object& full = spec->as_object();
    if (auto* node = full.if_contains("nodeName")) kept["nodeName"] = *node;
    if (auto* containers = full.if_contains("containers"); containers != nullptr && containers->is_array()) {
      json::array slim_containers;
      for (const auto& container : containers->as_array()) {
        if (!container.is_object()) continue;
        json::object c;
        for (const char* key : {"name", "image"}) {
          if (auto* v = container.as_object().if_contains(key)) c[key] = *v;
        }
        slim_containers.push_back(std::move(c));
      }
      kept["containers"] = std::move(slim_containers);
    }
    *spec = std::move(kept);
  }
  if (auto* metadata = pod.if_contains("metadata"); metadata != nullptr && metadata->is_object()) {
    metadata->as_object().erase("managedFields");
  }
  return pod;
}

PodRecord::PodRecord(json::object pod, const PodContext& context) {
  PodContext deleted = context;
  deleted.deleted = true;
  deleted.deleted_by_berth = false;
  deleted_externally_ = pod_to_object(pod, deleted);
  if (image_pull_deadline(pod, context)) image_pull_pod_ = std::make_unique<const json::object>(slim_pod(std::move(pod)));
}

BackendObject PodRecord::deleted(const std::string& pod_name, bool by_berth) const {
  return by_berth ? deleted_by_berth(deleted_externally_, pod_name) : deleted_externally_;
}

std::optional<Timestamp> parse_time(const std::string& text) {
  int year, month, day, hour, minute, second;
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &year, &month, &day, &hour, &minute, &second,
                  &consumed) != 6) {
    return std::nullopt;
  }
  std::size_t at = static_cast<std::size_t>(consumed);
  std::chrono::milliseconds fraction{0};
  if (at < text.size() && text[at] == '.') {
    ++at;
    int digits = 0;
    std::int64_t value = 0;
    while (at < text.size() && std::isdigit(static_cast<unsigned char>(text[at]))) {
      if (digits < 3) {
        value = value * 10 + (text[at] - '0');
        ++digits;
      }
      ++at;
    }
    while (digits < 3) {
      value *= 10;
      ++digits;
    }
    fraction = std::chrono::milliseconds(value);
  }
  std::chrono::minutes offset{0};
  if (at < text.size() && (text[at] == 'Z' || text[at] == 'z')) {
    ++at;
  } else if (at < text.size() && (text[at] == '+' || text[at] == '-')) {
    int oh = 0, om = 0;
    if (std::sscanf(text.c_str() + at + 1, "%2d:%2d", &oh, &om) != 2) return std::nullopt;
    offset = std::chrono::minutes(oh * 60 + om) * (text[at] == '-' ? -1 : 1);
    at += 6;
  } else {
    return std::nullopt;
  }
  if (at != text.size()) return std::nullopt;
  const std::chrono::year_month_day date{std::chrono::year(year), std::chrono::month(static_cast<unsigned>(month)),
                                         std::chrono::day(static_cast<unsigned>(day))};
  if (!date.ok()) return std::nullopt;
  const auto time = std::chrono::sys_days(date) + std::chrono::hours(hour) + std::chrono::minutes(minute) +
                    std::chrono::seconds(second) + fraction - offset;
  return std::chrono::time_point_cast<std::chrono::milliseconds>(time);
}

std::optional<Timestamp> image_pull_deadline(const json::object& pod, const PodContext& context) {
  const json::object* status = object_of(pod, "status");
  const std::string phase = string_of(status, "phase");
  if (phase != "Pending" && phase != "Running") return std::nullopt;
  auto [reason, message] = waiting_of(pod, executor_status(pod, context));
  if (!image_pull_failure(reason)) return std::nullopt;
  auto started = started_at(pod);
  if (!started) return std::nullopt;
  return *started + context.image_pull_failure_timeout;
}

BackendObject pod_to_object(const json::object& pod, const PodContext& context) {
  BackendObject object;
  const json::object* metadata = object_of(pod, "metadata");
  const json::object* spec = object_of(pod, "spec");
  const json::object* status = object_of(pod, "status");
  const std::string pod_name = string_of(metadata, "name");
  const json::object* labels = metadata == nullptr ? nullptr : object_of(*metadata, "labels");
  object.backend_name = string_of(metadata == nullptr ? nullptr : object_of(*metadata, "annotations"),
                                  kAnnotationBackendName);
  if (object.backend_name.empty()) object.backend_name = pod_name;
  if (labels != nullptr && labels->contains(kLabelDaemon)) {
    object.daemon_id = label_or_annotation(metadata, kLabelDaemon, true);
  }
  object.app = label_or_annotation(metadata, kLabelApp, true);
  object.executor = std::strtoll(string_of(labels, kLabelExecutor).c_str(), nullptr, 10);
  object.profile = static_cast<ProfileId>(std::strtol(string_of(labels, kLabelProfile).c_str(), nullptr, 10));
  object.host = string_of(spec, "nodeName");
  if (object.host.empty()) object.host = string_of(status, "hostIP");

  const std::string phase = string_of(status, "phase");
  const std::string pod_reason = string_of(status, "reason");
  const std::string pod_message = string_of(status, "message");
  const json::object* executor = executor_status(pod, context);
  const ContainerState state = state_of(executor);
  const bool terminal = phase == "Succeeded" || phase == "Failed";

  if (context.deleted && context.deleted_by_berth) return deleted_by_berth(object, pod_name);

  // Node gone or node pressure: LOST with the host, whatever the containers say.
  const std::string node_disruption = disruption_by_node(status);
  if ((phase == "Failed" && node_lost_reason(pod_reason)) || phase == "Unknown" ||
      (context.deleted && !terminal && !node_disruption.empty())) {
    object.phase = ObservedPhase::kLost;
    object.reason = !pod_reason.empty() ? pod_reason : !node_disruption.empty() ? node_disruption : "NodeLost";
    object.message = !pod_message.empty() ? pod_message
                                          : "pod " + pod_name + " lost with node " +
                                                (object.host.empty() ? "(unknown)" : object.host);
    return object;
  }

  if (context.deleted && !terminal && state.kind != "terminated") {
    object.phase = ObservedPhase::kExited;
    object.deleted_externally = true;
    object.reason = "Deleted";
    const json::object* disruption = condition(status, "DisruptionTarget");
    if (disruption != nullptr && string_of(disruption, "status") == "True") object.reason = string_of(disruption, "reason");
    object.message = "pod " + pod_name + " was deleted outside Berth (by a user or a controller)";
    return object;
  }

  // The executor container ended: its exit code, whatever the sidecars do.
  if (state.kind == "terminated") {
    set_terminated(object, state.detail);
    if (context.deleted) object.deleted_externally = !terminal;
    return object;
  }
  if (terminal) {
    object.phase = ObservedPhase::kExited;
    if (phase == "Succeeded") object.exit_code = 0;
    object.reason = !pod_reason.empty() ? pod_reason : phase;
    object.message = !pod_message.empty() ? pod_message : "pod " + pod_name + " " + phase;
    return object;
  }

  auto [waiting_reason, waiting_message] = waiting_of(pod, executor);
  if (waiting_reason == "InvalidImageName" || image_pull_failure(waiting_reason)) {
    const std::string image = image_of(pod, executor);
    auto deadline = image_pull_deadline(pod, context);
    if (waiting_reason == "InvalidImageName" || (deadline && context.now >= *deadline)) {
      object.phase = ObservedPhase::kExited;
      object.start_failed = true;
      object.reason = waiting_reason;
      object.message = waiting_reason == "InvalidImageName"
                           ? "image \"" + image + "\" is not a valid image name" +
                                 (waiting_message.empty() ? "" : ": " + waiting_message)
                           : "image \"" + image + "\" could not be pulled for " +
                                 seconds_text(context.image_pull_failure_timeout) +
                                 (waiting_message.empty() ? "" : ": " + waiting_message);
      return object;
    }
  }

  if (phase == "Running" && state.kind == "running") {
    object.phase = ObservedPhase::kRunning;
    return object;
  }
  object.phase = ObservedPhase::kPending;
  const json::object* scheduled = condition(status, "PodScheduled");
  if (scheduled != nullptr && string_of(scheduled, "status") == "False") {
    object.reason = string_of(scheduled, "reason");
    object.message = string_of(scheduled, "message");
  } else if (!waiting_reason.empty()) {
    object.reason = waiting_reason;
    object.message = waiting_message;
  }
  return object;
}

}  // namespace berth::kubernetes
