#pragma once
// Validation of every request a client sends, before anything reaches the engine. A bad field
// gives kInvalidArgument whose message starts with the field's path ("profiles[0].cores: ...").
// Sizes and counts are bounded so that no request can exhaust the daemon.

#include "berth/v1/berth.pb.h"
#include "base/status.h"

namespace berth {

struct RequestLimits {
  static constexpr int kMaxIdLength = 48;
  static constexpr int kMaxPools = 16;
  static constexpr int kMaxProfiles = 32;
  static constexpr int kMaxResources = 16;
  static constexpr int kMaxCores = 1024;
  static constexpr std::int64_t kMaxMib = 4LL * 1024 * 1024;  // 4 TiB
  static constexpr int kMaxCommandParts = 256;
  static constexpr int kMaxArgLength = 8192;
  static constexpr int kMaxEnv = 256;
  static constexpr int kMaxEnvValue = 32 * 1024;
  static constexpr int kMaxLabels = 64;
  static constexpr int kMaxAnnotationValue = 16 * 1024;
  // The whole launch spec, serialized: every application event and answer carries it.
  static constexpr std::size_t kMaxLaunchSpecBytes = 256 * 1024;
  static constexpr int kMaxTotal = 100'000;
  static constexpr int kMaxExecutorIdsPerCall = 10'000;
  static constexpr int kMaxLocalityHosts = 10'000;
  static constexpr std::int64_t kMaxLeaseSeconds = 24 * 3600;
  static constexpr std::int64_t kMaxGraceSeconds = 24 * 3600;
};

// Application ids become part of backend object names and label values: lower-case letters,
// digits and '-', starting and ending with a letter or digit, at most 48 characters.
Status validate_app_id(const std::string& value, const char* field = "app_id");
// An application a request refers to: its id, or (for operators) its key "<tenant>.<id>"
// (core/app_key.h).
Status validate_app_ref(const std::string& value, const char* field = "app_id");

Status validate(const v1::RegisterApplicationRequest& request);
Status validate(const v1::RequestTotalExecutorsRequest& request);
Status validate(const v1::KillExecutorsRequest& request);
Status validate(const v1::DecommissionExecutorsRequest& request);
Status validate(const v1::GetApplicationRequest& request);
Status validate(const v1::ListExecutorsRequest& request);
Status validate(const v1::WatchEventsRequest& request);
Status validate(const v1::KeepAliveRequest& request);
Status validate(const v1::UnregisterApplicationRequest& request);

}  // namespace berth
