#include "adapters/kubernetes/api_errors.h"

#include <boost/json/parse.hpp>
#include <cstdlib>

namespace berth::kubernetes {
namespace {

std::string trimmed(const std::string& text, std::size_t max) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  const auto last = text.find_last_not_of(" \t\r\n");
  std::string out = text.substr(first, last - first + 1);
  if (out.size() > max) out = out.substr(0, max) + "...";
  return out;
}

}  // namespace

ApiError parse_api_error(const net::HttpResponse& response) {
  ApiError error;
  error.code = response.status;
  if (auto it = response.headers.find("retry-after"); it != response.headers.end()) {
    char* end = nullptr;
    const long seconds = std::strtol(it->second.c_str(), &end, 10);
    if (end != it->second.c_str() && seconds >= 0) error.retry_after_seconds = static_cast<int>(seconds);
  }
  boost::system::error_code ec;
  const boost::json::value body = boost::json::parse(response.body, ec);
  if (!ec && body.is_object()) {
    const auto& object = body.as_object();
    if (const auto* reason = object.if_contains("reason"); reason != nullptr && reason->is_string()) {
      error.reason = std::string(reason->as_string());
    }
    if (const auto* message = object.if_contains("message"); message != nullptr && message->is_string()) {
      error.message = std::string(message->as_string());
    }
    if (const auto* details = object.if_contains("details"); details != nullptr && details->is_object()) {
      const auto* retry = details->as_object().if_contains("retryAfterSeconds");
      if (retry != nullptr && retry->is_int64() && !error.retry_after_seconds) {
        error.retry_after_seconds = static_cast<int>(retry->as_int64());
      }
    }
  }
  if (error.message.empty()) error.message = trimmed(response.body, 500);
  if (error.message.empty()) error.message = "HTTP " + std::to_string(response.status);
  return error;
}

Status status_of(const net::HttpResponse& response, const std::string& what) {
  if (response.status >= 200 && response.status < 300) return Status::Ok();
  const ApiError error = parse_api_error(response);
  const std::string detail = what + ": " + error.message + " (HTTP " + std::to_string(error.code) +
                             (error.reason.empty() ? "" : " " + error.reason) + ")";
  const std::string retry = error.retry_after_seconds
                                ? "; retry after " + std::to_string(*error.retry_after_seconds) + "s"
                                : "";
  switch (error.code) {
    case 400:
    case 422:
      return Status::InvalidArgument(detail);
    case 401:
      return Status::Unauthenticated(detail);
    case 403:
      if (error.message.find("exceeded quota") != std::string::npos) return Status::ResourceExhausted(detail);
      return Status::PermissionDenied(detail);
    case 404:
      return Status::NotFound(detail);
    case 409:
      if (error.reason == "AlreadyExists" || error.reason.empty()) return Status::AlreadyExists(detail);
      return Status(StatusCode::kAborted, detail);
    case 410:
      return Status::FailedPrecondition(detail);
    case 429:
      return Status::Unavailable(detail + retry);
    case 504:
      return Status::DeadlineExceeded(detail + retry);
    default:
      break;
  }
  if (error.code >= 500) return Status::Unavailable(detail + retry);
  return Status::Internal(detail);
}

}  // namespace berth::kubernetes
