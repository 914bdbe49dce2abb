#pragma once
// Kubernetes API responses to Berth Status values. Branches on the HTTP code and the Status
// object's reason (never on message text, except to tell a quota refusal from RBAC: both are
// 403 Forbidden). Pure; thread-safe.

#include <optional>
#include <string>

#include "base/status.h"
#include "net/http.h"

namespace berth::kubernetes {

struct ApiError {
  int code = 0;
  std::string reason;   // "AlreadyExists", "Invalid", "Forbidden", "Expired" ...
  std::string message;  // the API server's message (or the text/plain body of an overload 429)
  std::optional<int> retry_after_seconds;
};

// The Status object in an error response, or what can be read from a non-JSON one.
ApiError parse_api_error(const net::HttpResponse& response);

// `what` names the operation and object ("create pod X in namespace Y"). 2xx = OK;
// 401 kUnauthenticated; 403 "exceeded quota" kResourceExhausted, other 403 kPermissionDenied;
// 404 kNotFound; 409 AlreadyExists kAlreadyExists, Conflict kAborted (retryable); 400/422
// kInvalidArgument; 410 kFailedPrecondition (the caller relists); 429 and 5xx kUnavailable (504
// kDeadlineExceeded), naming Retry-After when given; anything else kInternal.
Status status_of(const net::HttpResponse& response, const std::string& what);

}  // namespace berth::kubernetes
