#pragma once
// StatusServer: berthd's HTTP listener (metrics_listen). It serves
//   GET /metrics            Prometheus' text format (Metrics::scrape), without authentication
//   GET /                   the status page (status.js, status.css beside it), plain HTML/CSS/JS
//                           compiled into the binary; it reads only the JSON API below
//   GET /api/v1/...         the JSON API of daemon/status_api.h
// The API authenticates as the gRPC API does: with tokens configured, every call needs
// `Authorization: Bearer <token>` (401 otherwise) and a tenant sees only its own applications.
// Without tokens, a loopback server answers the API only to requests whose Host is localhost or
// an IP address (403 otherwise; see is_address_host).
// Requests are bounded (headers 64 KiB, no body, a fixed number of connections); anything but
// GET or HEAD gets 405, an unknown path 404, a bad parameter 400, each with a JSON error body
// on the API.
//
// Threading: the server has one thread of its own; API requests are answered on the runtime's
// strand, which is the only place the engine is read.

#include <memory>
#include <string>

#include "base/status.h"
#include "daemon/auth.h"
#include "daemon/metrics.h"
#include "daemon/runtime.h"
#include "daemon/status_api.h"

namespace berth {

class StatusServer {
 public:
  StatusServer(Runtime& runtime, const Authenticator& auth, const Metrics& metrics, DaemonInfo info);
  ~StatusServer();  // stop()
  StatusServer(const StatusServer&) = delete;
  StatusServer& operator=(const StatusServer&) = delete;

  // Listens on `address` ("127.0.0.1:0" picks a port) and starts the server's thread.
  // Returns the bound address, with the host as configured.
  // Errors: kUnavailable naming metrics_listen and the address when it cannot be bound.
  StatusOr<std::string> start(const std::string& address);

  // Closes the listener and every connection and joins the thread; requests waiting for the
  // strand are dropped. Idempotent. Call it before the runtime shuts down.
  void stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace berth
