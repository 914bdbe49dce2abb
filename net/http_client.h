#pragma once
// HttpClient: an HTTP/1.1 client over Beast for adapters: one base URL (http or https), a pool of
// keep-alive connections, TLS with a CA bundle / client certificate / server-name override /
// insecure-skip-verify, per-request timeouts, and streaming responses (chunked or not) delivered
// as bytes while they arrive (watches, event streams).
//
// Errors: a transport failure (connect, TLS, reset, timeout) is a retryable Status
// (kUnavailable / kDeadlineExceeded) naming the URL; any HTTP status is a successful response:
// the caller maps statuses to its own meaning.
//
// Threading: callbacks run on the client's executor; a stream's callbacks run one at a time and in
// order even when that executor is an io_context run by several threads. Thread-safe.

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "base/status.h"
#include "net/http.h"
#include "base/version.h"

namespace berth::net {

struct HttpClientOptions {
  std::string base_url;              // "https://127.0.0.1:6443" (no path)
  std::string ca_pem;                // PEM bundle to verify the server; empty = system roots (https)
  std::string client_cert_pem;       // client certificate (mTLS), PEM
  std::string client_key_pem;
  std::string server_name;           // SNI / verification name override
  bool insecure_skip_verify = false;
  std::size_t max_connections = 16;  // pooled keep-alive connections for request()
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds request_timeout{30000};  // whole request, for request()
  std::string user_agent = kBerthdUserAgent;         // sent on every request; empty = no header
};

struct HttpClientRequest {
  std::string method = "GET";
  std::string target;                // path + query, already encoded
  Headers headers;                   // lower-case names; Host and Content-Length are set for you
  std::string body;
  std::chrono::milliseconds timeout{0};  // 0 = options.request_timeout
};

// A response being streamed. Cancel with cancel(); on_end runs exactly once.
class HttpStream {
 public:
  virtual ~HttpStream() = default;
  virtual void cancel() = 0;
};

struct StreamCallbacks {
  std::function<void(int status, const Headers& headers)> on_headers;
  std::function<void(std::string_view bytes)> on_data;   // body bytes in arrival order
  std::function<void(Status status)> on_end;             // OK on a clean end of body
};

class HttpClient {
 public:
  HttpClient(boost::asio::any_io_executor executor, HttpClientOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Validates the options (URL, PEMs). Call once before use.
  Status init();
  void request(HttpClientRequest request, std::function<void(StatusOr<HttpResponse>)> done);
  // A long-lived request on its own connection (not from the pool); no overall timeout, but an
  // idle timeout of `idle_timeout` (0 = none) between bytes.
  std::shared_ptr<HttpStream> stream(HttpClientRequest request, StreamCallbacks callbacks,
                                     std::chrono::milliseconds idle_timeout = std::chrono::milliseconds(0));
  // Replaces headers added to every request (e.g. a rotated bearer token).
  void set_default_header(const std::string& lower_case_name, const std::string& value);

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace berth::net
