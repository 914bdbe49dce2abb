#pragma once
// Plain HTTP/1.1 message values shared by net's server and client. No Beast types leak from
// here, so adapters and simulators compile without Beast headers.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace berth::net {

// Header names are stored lower-case; lookups must use lower-case names.
using Headers = std::map<std::string, std::string>;

struct HttpRequest {
  std::string method;                                   // "GET", "POST", ...
  std::string target;                                   // path + query as sent, e.g. /api/v1/pods?watch=1
  std::string path;                                     // decoded path, e.g. /api/v1/pods
  std::vector<std::pair<std::string, std::string>> query;  // decoded query parameters, in order
  Headers headers;
  std::string body;
  std::string remote;                                   // peer "ip:port" (server side)
  std::string client_cert_subject;                      // TLS client certificate subject, if any (server side)

  // First value of a query parameter.
  std::optional<std::string> param(const std::string& name) const;
  std::optional<std::string> header(const std::string& lower_case_name) const;
};

// Percent-encodes everything but RFC 3986's unreserved characters: for a query value or a path
// segment.
std::string percent_encode(const std::string& text);

struct HttpResponse {
  int status = 200;
  Headers headers;
  std::string body;
};

}  // namespace berth::net
