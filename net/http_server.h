#pragma once
// HttpServer: an HTTP/1.1 server over Beast for simulators and the daemon's small HTTP
// endpoints: plain TCP or TLS (optionally requiring client certificates), keep-alive, and
// streaming responses with chunked transfer encoding (Kubernetes watches, Nomad event streams,
// Mesos RecordIO). Binding port 0 picks a free port (tests).
//
// Threading: handlers run on the server's executor (one strand per connection); a handler may
// complete its ResponseWriter later from any thread.

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <memory>
#include <string>

#include "base/status.h"
#include "net/http.h"

namespace berth::net {

// Completes one request. Either respond() once, or start_stream() then write() chunks and end().
// Writes are queued; `done` callbacks report whether the bytes left (false: the client went away).
class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;
  virtual void respond(HttpResponse response) = 0;
  // Sends status and headers with Transfer-Encoding: chunked; the connection then belongs to the
  // stream until end() or the client disconnects.
  virtual void start_stream(int status, Headers headers) = 0;
  // Sends one chunk and flushes it. `done(false)` once the client is gone.
  virtual void write(std::string chunk, std::function<void(bool ok)> done = {}) = 0;
  virtual void end() = 0;           // last chunk; keep-alive continues if the client wants it
  virtual void abort() = 0;         // closes the connection at once (simulates a dropped stream)
  virtual bool closed() const = 0;  // the client disconnected
  // Called once if the client disconnects while the stream is open.
  virtual void on_close(std::function<void()> callback) = 0;
};

using HttpHandler = std::function<void(HttpRequest request, std::shared_ptr<ResponseWriter> writer)>;

struct HttpServerOptions {
  std::string listen = "127.0.0.1:0";  // host:port; port 0 = any free port
  std::string tls_cert_file;           // PEM; empty = plain HTTP
  std::string tls_key_file;
  std::string tls_client_ca_file;      // non-empty = require a client certificate signed by it
  std::size_t max_body_bytes = 8 * 1024 * 1024;
  std::size_t max_connections = 10'000;
  // Open connections allowed from one client IP address; 0 = no limit. A connection beyond it
  // gets a raw `429 Too Many Requests` with this body, written before any request is read, and
  // is closed (over TLS after the handshake), as Consul's and Nomad's connection limiter does.
  std::size_t max_connections_per_client = 0;
  std::string too_many_connections_body = "too many concurrent connections from your address\n";
};

class HttpServer {
 public:
  HttpServer(boost::asio::any_io_executor executor, HttpServerOptions options, HttpHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  Status start();                    // binds and accepts; errors name the address
  std::uint16_t port() const;        // after start()
  std::string address() const;       // "host:port" after start()
  void stop();                       // stops accepting and closes every connection
  std::size_t open_connections() const;
  void close_all_connections();      // fault injection: drops every connection and stream

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace berth::net
