#pragma once
// From Berth's launch request to a Pod, the way Spark's Kubernetes backend builds executor pods
// (BasicExecutorFeatureStep): Spark's labels and environment, memory request = limit = Spark's
// container memory, cpu request = cores (limit by policy), custom resources as `<vendor>/<name>`
// limits, restartPolicy Never, an ownerReference to the driver pod. The operator's template is the
// starting point; Berth's fields override; sidecars and everything else are kept.
//
// Pure functions; thread-safe.

#include <boost/json/object.hpp>
#include <string>
#include <string_view>

#include "adapters/kubernetes/kubernetes_config.h"
#include "core/backend.h"

namespace berth::kubernetes {

// Annotations that carry exact values when a label had to be shortened or cleaned.
inline constexpr const char* kAnnotationBackendName = "berth.dev/backend-name";
inline constexpr const char* kAnnotationExecutorContainer = "berth.dev/executor-container";

// Spark's labels (core/backend.h).
inline constexpr const char* kSparkAppSelector = kSparkLabelAppSelector;
inline constexpr const char* kSparkRole = kSparkLabelRole;
inline constexpr const char* kSparkExecId = kSparkLabelExecId;
inline constexpr const char* kSparkProfileId = kSparkLabelProfileId;

// `value` itself when it is a valid label value (at most 63 of [A-Za-z0-9._-], alphanumeric at
// both ends); otherwise a valid, deterministic stand-in: the cleaned value, shortened, with a hash
// of the original appended.
std::string label_value(std::string_view value);
// `backend_name` when it is a DNS-1123 subdomain; otherwise a lower-cased, cleaned, hashed one.
std::string pod_name(std::string_view backend_name);

// The Pod to POST for `request` in pool `config`. kInvalidArgument when there is no image or a
// custom resource has no vendor.
StatusOr<boost::json::object> build_pod(const LaunchRequest& request, const KubernetesPoolConfig& config);

}  // namespace berth::kubernetes
