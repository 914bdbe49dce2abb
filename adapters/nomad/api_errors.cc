#include "adapters/nomad/api_errors.h"

namespace berth::nomad {
namespace {

bool contains(const std::string& text, const char* needle) { return text.find(needle) != std::string::npos; }

// A 500 that is the job's fault: resubmitting the same job fails the same way.
bool is_validation_error(const std::string& text) {
  return contains(text, "validation failed") || contains(text, "error occurred") || contains(text, "errors occurred") ||
         contains(text, "Missing ") || contains(text, "minimum ") || contains(text, "should be larger") ||
         contains(text, "invalid ") || contains(text, "Invalid ") || contains(text, "not supported") ||
         contains(text, "must be");
}

bool is_transient(const std::string& text) {
  return contains(text, "No cluster leader") || contains(text, "No path to region") || contains(text, "rpc error") ||
         contains(text, "timeout") || contains(text, "EOF") || contains(text, "connection refused");
}

}  // namespace

std::string error_text(const std::string& body) {
  std::string text;
  bool space = false;
  for (char c : body) {
    if (c == '\n' || c == '\t' || c == '\r' || c == ' ') {
      space = !text.empty();
      continue;
    }
    if (space) text.push_back(' ');
    space = false;
    text.push_back(c);
  }
  constexpr std::size_t kMax = 1024;
  if (text.size() > kMax) text = text.substr(0, kMax) + "...";
  return text;
}

Status status_of(const net::HttpResponse& response, const std::string& what) {
  const int code = response.status;
  if (code >= 200 && code < 300) return Status::Ok();
  const std::string text = error_text(response.body);
  const std::string message = what + ": Nomad answered " + std::to_string(code) + (text.empty() ? "" : ": " + text);
  switch (code) {
    case 400: return Status::InvalidArgument(message);
    case 401:
    case 403: return Status::PermissionDenied(message);
    case 404: return Status::NotFound(message);
    case 429: return Status::Unavailable(message);
    default: break;
  }
  if (code == 500) {
    if (contains(text, "job already exists")) return Status::AlreadyExists(message);
    if (is_transient(text)) return Status::Unavailable(message);
    if (is_validation_error(text)) return Status::InvalidArgument(message);
    return Status::Unavailable(message);
  }
  if (code >= 500) return Status::Unavailable(message);
  return Status::Internal(message);
}

}  // namespace berth::nomad
