// API responses to Status: the codes and reasons the reference lists.

#include <catch2/catch.hpp>

#include "adapters/kubernetes/api_errors.h"

namespace berth::kubernetes {
namespace {

net::HttpResponse json_status(int code, const std::string& reason, const std::string& message) {
  net::HttpResponse response;
  response.status = code;
  response.headers["content-type"] = "application/json";
  response.body = R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":")" + message +
                  R"(","reason":")" + reason + R"(","code":)" + std::to_string(code) + "}";
  return response;
}

TEST_CASE("API errors map to Status codes") {
  struct Row {
    net::HttpResponse response;
    StatusCode code;
    bool retryable;
    std::string contains;
  };
  net::HttpResponse overload;
  overload.status = 429;
  overload.headers["content-type"] = "text/plain; charset=utf-8";
  overload.headers["retry-after"] = "7";
  overload.body = "Too many requests, please try again later.\n";
  net::HttpResponse created;
  created.status = 201;
  const std::vector<Row> rows = {
      {created, StatusCode::kOk, false, ""},
      {json_status(409, "AlreadyExists", "pods \\\"p\\\" already exists"), StatusCode::kAlreadyExists, false, "already exists"},
      {json_status(409, "Conflict", "the object has been modified"), StatusCode::kAborted, true, "modified"},
      {json_status(422, "Invalid", "Pod \\\"p\\\" is invalid: spec.containers[0].image: Required value"),
       StatusCode::kInvalidArgument, false, "spec.containers[0].image: Required value"},
      {json_status(400, "BadRequest", "field label not supported"), StatusCode::kInvalidArgument, false, "field label"},
      {json_status(403, "Forbidden",
                   "pods \\\"p\\\" is forbidden: exceeded quota: q, requested: pods=1, used: pods=4, limited: pods=4"),
       StatusCode::kResourceExhausted, false, "exceeded quota"},
      {json_status(403, "Forbidden", "pods is forbidden: User \\\"x\\\" cannot create resource"),
       StatusCode::kPermissionDenied, false, "cannot create"},
      {json_status(401, "Unauthorized", "Unauthorized"), StatusCode::kUnauthenticated, false, "Unauthorized"},
      {json_status(404, "NotFound", "pods \\\"p\\\" not found"), StatusCode::kNotFound, false, "not found"},
      {json_status(410, "Expired", "too old resource version"), StatusCode::kFailedPrecondition, false, "too old"},
      {overload, StatusCode::kUnavailable, true, "retry after 7s"},
      {json_status(500, "InternalError", "etcd leader changed"), StatusCode::kUnavailable, true, "etcd"},
      {json_status(503, "ServiceUnavailable", "apiserver not ready"), StatusCode::kUnavailable, true, "not ready"},
      {json_status(504, "Timeout", "request timed out"), StatusCode::kDeadlineExceeded, true, "timed out"},
  };
  for (const Row& row : rows) {
    Status status = status_of(row.response, "create pod p in namespace ns");
    INFO(row.response.status << " " << status.to_string());
    CHECK(status.code() == row.code);
    CHECK(status.retryable() == row.retryable);
    if (!row.contains.empty()) {
      CHECK_THAT(status.message(), Catch::Contains(row.contains));
      CHECK_THAT(status.message(), Catch::Contains("create pod p in namespace ns"));
    }
  }
}

TEST_CASE("parse_api_error reads the Status object, text bodies and Retry-After") {
  auto error = parse_api_error(json_status(422, "Invalid", "bad"));
  CHECK(error.code == 422);
  CHECK(error.reason == "Invalid");
  CHECK(error.message == "bad");
  net::HttpResponse text;
  text.status = 429;
  text.headers["retry-after"] = "3";
  text.body = "Too many requests, please try again later.";
  error = parse_api_error(text);
  CHECK(error.message == "Too many requests, please try again later.");
  CHECK(error.retry_after_seconds == 3);
  net::HttpResponse json_retry;
  json_retry.status = 429;
  json_retry.body = R"({"kind":"Status","reason":"TooManyRequests","message":"PDB","details":{"retryAfterSeconds":10},"code":429})";
  CHECK(parse_api_error(json_retry).retry_after_seconds == 10);
}

}  // namespace
}  // namespace berth::kubernetes
