// The wire format of grpc.health.v1.Health/Check, encoded by hand so that berthctl needs no
// generated code for it. HealthCheckRequest is `string service = 1`; HealthCheckResponse is
// `ServingStatus status = 1` with UNKNOWN = 0, SERVING = 1, NOT_SERVING = 2, SERVICE_UNKNOWN = 3.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace berth::cli {

inline constexpr char kHealthCheckMethod[] = "/grpc.health.v1.Health/Check";
inline constexpr int kHealthServing = 1;

// The serialized HealthCheckRequest; an empty service (the whole server) is zero bytes.
std::string encode_health_check_request(std::string_view service);

// The status field of a serialized HealthCheckResponse (0 when absent, as proto3 encodes it),
// or nullopt when the bytes are not a valid message.
std::optional<int> decode_health_check_response(std::string_view bytes);

// "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN", "UNKNOWN", or "STATUS_<n>" for values newer than
// this file.
std::string health_status_name(int status);

}  // namespace berth::cli
