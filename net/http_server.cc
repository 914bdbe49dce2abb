// HttpServer over Beast. The only translation unit of the server that includes Beast: sessions
// are written once against a few virtual I/O primitives, and one small template supplies them
// for plain TCP and for TLS.
//
// A connection serves one request at a time (no pipelining): read a request, hand it to the
// handler, write the response (whole, or as a chunked stream), then read the next one if both
// sides want keep-alive. While a request is being answered, a read stays posted on the socket so
// that a client disconnect is seen at once (on_close) even if the handler writes nothing; bytes
// it receives (a pipelined request) are kept for the next parse.

#include "net/http_server.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <algorithm>
#include <atomic>
#include <cctype>
#include <deque>
#include <map>
#include <mutex>
#include <optional>

#include "net/tls.h"

namespace berth::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace urls = boost::urls;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

constexpr auto kIdleTimeout = std::chrono::seconds(300);       // between requests
constexpr auto kHandshakeTimeout = std::chrono::seconds(15);
constexpr auto kShutdownTimeout = std::chrono::seconds(5);
constexpr std::size_t kHeaderLimit = 64 * 1024;
constexpr std::size_t kMaxBufferedWhileBusy = 1024 * 1024;    // pipelined bytes kept while answering
constexpr std::size_t kReadChunk = 4096;

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string endpoint_string(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  std::string host = address.to_string();
  if (address.is_v6()) host = "[" + host + "]";
  return host + ":" + std::to_string(endpoint.port());
}

// Splits a request target into its decoded path and query parameters ('+' in the query is a
// space, as HTML forms and Go's url.Values encode it).
bool parse_target(const std::string& target, HttpRequest& request) {
  auto parsed = urls::parse_origin_form(target);
  if (!parsed) return false;
  request.path = parsed->path();
  if (request.path.empty()) request.path = "/";
  for (const auto& param : parsed->params(urls::encoding_opts(true))) {
    request.query.emplace_back(param.key, param.has_value ? param.value : std::string());
  }
  return true;
}

// Status line and headers. `content_length` empty: chunked body.
std::string format_head(int status, const Headers& headers, std::optional<std::size_t> content_length,
                        bool close) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " ";
  out += std::string(http::obsolete_reason(http::int_to_status(static_cast<unsigned>(status))));
  out += "\r\n";
  for (const auto& [name, value] : headers) {
    const std::string key = lower(name);
    if (key == "content-length" || key == "transfer-encoding" || key == "connection") continue;
    out += name + ": " + value + "\r\n";
  }
  if (content_length) {
    out += "content-length: " + std::to_string(*content_length) + "\r\n";
  } else {
    out += "transfer-encoding: chunked\r\n";
  }
  if (close) out += "connection: close\r\n";
  out += "\r\n";
  return out;
}

bool wants_close(const Headers& headers) {
  for (const auto& [name, value] : headers) {
    if (lower(name) == "connection" && lower(value).find("close") != std::string::npos) return true;
  }
  return false;
}

}  // namespace

namespace server_detail {

class SessionCore;

// What sessions need of their server: options, the handler and the set of live sessions.
class ServerCore : public std::enable_shared_from_this<ServerCore> {
 public:
  ServerCore(HttpServerOptions options, HttpHandler handler)
      : options_(std::move(options)), handler_(std::move(handler)) {}
  virtual ~ServerCore() = default;

  const HttpServerOptions& options() const { return options_; }
  const HttpHandler& handler() const { return handler_; }
  bool stopped() const { return stopped_.load(); }
  std::size_t open_connections() const {
    std::lock_guard lock(mutex_);
    return sessions_.size();
  }
  void forget(SessionCore* session) {
    std::lock_guard lock(mutex_);
    if (sessions_.erase(session) == 0) return;
    auto client = client_of_.find(session);
    if (client == client_of_.end()) return;
    auto count = per_client_.find(client->second);
    if (count != per_client_.end() && --count->second == 0) per_client_.erase(count);
    client_of_.erase(client);
  }

 protected:
  HttpServerOptions options_;
  HttpHandler handler_;
  mutable std::mutex mutex_;  // sessions_, client_of_, per_client_ and the derived acceptor
  std::map<SessionCore*, std::weak_ptr<SessionCore>> sessions_;
  std::map<SessionCore*, std::string> client_of_;    // session -> client IP address
  std::map<std::string, std::size_t> per_client_;    // client IP address -> open sessions
  std::atomic<bool> stopped_{false};
};

// One connection's protocol logic. Everything runs on the connection's strand; the public
// writer_* entry points may be called from any thread and post there.
class SessionCore : public std::enable_shared_from_this<SessionCore> {
 public:
  using IoDone = std::function<void(error_code, std::size_t)>;

  SessionCore(std::shared_ptr<ServerCore> server, asio::any_io_executor strand, std::string remote)
      : server_(std::move(server)), strand_(std::move(strand)), remote_(std::move(remote)) {}
  virtual ~SessionCore() = default;

  virtual void start() = 0;  // handshake (TLS) then begin()

  const asio::any_io_executor& strand() const { return strand_; }
  bool closed() const { return closed_flag_.load(); }

  // Writer entry points (any thread).
  void writer_respond(std::uint64_t id, HttpResponse response);
  void writer_start_stream(std::uint64_t id, int status, Headers headers);
  void writer_write(std::uint64_t id, std::string chunk, std::function<void(bool)> done);
  void writer_end(std::uint64_t id);
  void writer_abort(std::uint64_t id);
  void writer_on_close(std::uint64_t id, std::function<void()> callback);
  void abort_from_server();  // any thread

 protected:
  // I/O primitives supplied per stream type; all called on the strand.
  virtual void io_read_header(http::request_parser<http::string_body>& parser, IoDone done) = 0;
  virtual void io_read_body(http::request_parser<http::string_body>& parser, IoDone done) = 0;
  virtual void io_read_some(asio::mutable_buffer buffer, IoDone done) = 0;
  virtual void io_write(asio::const_buffer buffer, IoDone done) = 0;
  virtual void io_set_timeout(std::optional<std::chrono::seconds> timeout) = 0;
  virtual void io_graceful_close() = 0;  // after the last response: shutdown, then close
  virtual void io_close() = 0;           // at once

  void begin() { read_request(); }

  beast::flat_buffer buffer_;
  std::string client_cert_subject_;
  std::shared_ptr<ServerCore> server_;

 private:
  enum class State { kIdle, kWaiting, kStreaming, kFinishing };
  struct Outgoing {
    std::shared_ptr<std::string> bytes;
    std::function<void(bool)> done;
  };

  void read_request();
  void on_header(error_code ec);
  void on_body(error_code ec);
  void dispatch_request();
  void start_watch_read();
  void enqueue(std::string bytes, std::function<void(bool)> done = {});
  void write_next();
  void response_complete();
  void shut(bool graceful);
  void send_simple_error(int status, const std::string& text);

  asio::any_io_executor strand_;
  std::string remote_;
  std::optional<http::request_parser<http::string_body>> parser_;
  State state_ = State::kIdle;
  std::uint64_t request_id_ = 0;
  bool keep_alive_ = true;
  bool close_after_response_ = false;
  bool watch_reading_ = false;
  bool writing_ = false;
  bool closed_ = false;
  std::atomic<bool> closed_flag_{false};
  std::deque<Outgoing> queue_;
  std::function<void()> on_close_;
};

// The ResponseWriter handed to handlers: a request id and the session. Dropping it without a
// response answers 500; dropping it mid-stream ends the stream.
class Writer final : public ResponseWriter {
 public:
  Writer(std::shared_ptr<SessionCore> session, std::uint64_t id) : session_(std::move(session)), id_(id) {}
  ~Writer() override {
    if (!responded_.exchange(true)) {
      HttpResponse response;
      response.status = 500;
      response.headers["content-type"] = "text/plain; charset=utf-8";
      response.body = "handler returned no response\n";
      session_->writer_respond(id_, std::move(response));
    } else if (streaming_ && !ended_) {
      session_->writer_end(id_);
    }
  }
  void respond(HttpResponse response) override {
    if (responded_.exchange(true)) return;
    session_->writer_respond(id_, std::move(response));
  }
  void start_stream(int status, Headers headers) override {
    if (responded_.exchange(true)) return;
    streaming_ = true;
    session_->writer_start_stream(id_, status, std::move(headers));
  }
  void write(std::string chunk, std::function<void(bool ok)> done) override {
    session_->writer_write(id_, std::move(chunk), std::move(done));
  }
  void end() override {
    if (ended_.exchange(true)) return;
    session_->writer_end(id_);
  }
  void abort() override {
    responded_ = true;
    ended_ = true;
    session_->writer_abort(id_);
  }
  bool closed() const override { return session_->closed(); }
  void on_close(std::function<void()> callback) override { session_->writer_on_close(id_, std::move(callback)); }

 private:
  std::shared_ptr<SessionCore> session_;
  std::uint64_t id_;
  std::atomic<bool> responded_{false};
  std::atomic<bool> streaming_{false};
  std::atomic<bool> ended_{false};
};

namespace {

// The I/O primitives for one stream type: beast::tcp_stream or ssl_stream<tcp_stream>.
template <class Stream>
class StreamSession final : public SessionCore {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  template <class... Args>
  StreamSession(std::shared_ptr<ServerCore> server, std::string remote, tcp::socket socket, Args&&... args)
      : SessionCore(std::move(server), socket.get_executor(), std::move(remote)),
        stream_(std::move(socket), std::forward<Args>(args)...) {}

  void start() override {
    if constexpr (kTls) {
      beast::get_lowest_layer(stream_).expires_after(kHandshakeTimeout);
      auto self = std::static_pointer_cast<StreamSession>(shared_from_this());
      stream_.async_handshake(asio::ssl::stream_base::server, [self](error_code ec) {
        if (ec) {
          self->io_close();
          self->server_->forget(self.get());
          return;
        }
        self->client_cert_subject_ = peer_certificate_subject(self->stream_.native_handle());
        self->begin();
      });
    } else {
      begin();
    }
  }

 protected:
  void io_read_header(http::request_parser<http::string_body>& parser, IoDone done) override {
    http::async_read_header(stream_, buffer_, parser, std::move(done));
  }
  void io_read_body(http::request_parser<http::string_body>& parser, IoDone done) override {
    http::async_read(stream_, buffer_, parser, std::move(done));
  }
  void io_read_some(asio::mutable_buffer buffer, IoDone done) override {
    stream_.async_read_some(buffer, std::move(done));
  }
  void io_write(asio::const_buffer buffer, IoDone done) override {
    asio::async_write(stream_, buffer, std::move(done));
  }
  void io_set_timeout(std::optional<std::chrono::seconds> timeout) override {
    if (timeout) {
      beast::get_lowest_layer(stream_).expires_after(*timeout);
    } else {
      beast::get_lowest_layer(stream_).expires_never();
    }
  }
  void io_graceful_close() override {
    if constexpr (kTls) {
      beast::get_lowest_layer(stream_).expires_after(kShutdownTimeout);
      auto self = std::static_pointer_cast<StreamSession>(shared_from_this());
      stream_.async_shutdown([self](error_code) { self->io_close(); });
    } else {
      error_code ec;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
      io_close();
    }
  }
  void io_close() override { beast::get_lowest_layer(stream_).close(); }

 private:
  Stream stream_;
};

// Answers a connection over the per-client limit: (TLS handshake,) the raw 429, then closes.
// What the client sent meanwhile is read and discarded until it closes or a short timeout, so
// that closing does not reset the connection before the client has read the answer.
template <class Stream>
class Rejection final : public std::enable_shared_from_this<Rejection<Stream>> {
 public:
  template <class... Args>
  Rejection(std::string response, tcp::socket socket, Args&&... args)
      : response_(std::move(response)), stream_(std::move(socket), std::forward<Args>(args)...) {}

  void start() {
    beast::get_lowest_layer(stream_).expires_after(kHandshakeTimeout);
    auto self = this->shared_from_this();
    if constexpr (!std::is_same_v<Stream, beast::tcp_stream>) {
      stream_.async_handshake(asio::ssl::stream_base::server, [self](error_code ec) {
        if (ec) return self->close();
        self->write();
      });
    } else {
      write();
    }
  }

 private:
  void write() {
    auto self = this->shared_from_this();
    asio::async_write(stream_, asio::buffer(response_), [self](error_code ec, std::size_t) {
      if (ec) return self->close();
      error_code shutdown_ec;
      beast::get_lowest_layer(self->stream_).socket().shutdown(tcp::socket::shutdown_send, shutdown_ec);
      beast::get_lowest_layer(self->stream_).expires_after(std::chrono::seconds(2));
      self->drain();
    });
  }
  void drain() {
    auto self = this->shared_from_this();
    beast::get_lowest_layer(stream_).async_read_some(asio::buffer(sink_), [self](error_code ec, std::size_t) {
      if (ec) return self->close();
      self->drain();
    });
  }
  void close() { beast::get_lowest_layer(stream_).close(); }

  std::string response_;
  Stream stream_;
  char sink_[1024];
};

std::string too_many_connections_response(const std::string& body) {
  return "HTTP/1.1 429 Too Many Requests\r\ncontent-type: text/plain\r\ncontent-length: " +
         std::to_string(body.size()) + "\r\nconnection: close\r\n\r\n" + body;
}

}  // namespace

// ---- SessionCore ---------------------------------------------------------------------------

void SessionCore::read_request() {
  if (closed_) return;
  parser_.emplace();
  parser_->header_limit(kHeaderLimit);
  parser_->body_limit(server_->options().max_body_bytes);
  io_set_timeout(kIdleTimeout);
  auto self = shared_from_this();
  io_read_header(*parser_, [self](error_code ec, std::size_t) { self->on_header(ec); });
}

void SessionCore::on_header(error_code ec) {
  if (ec) {
    if (ec == http::error::header_limit) {
      send_simple_error(431, "request header too large");
    } else if (ec == http::error::body_limit) {
      // A Content-Length over the limit is refused as soon as the header is read.
      send_simple_error(413, "request body too large");
    } else {
      shut(false);
    }
    return;
  }
  auto self = shared_from_this();
  const auto& header = parser_->get();
  auto expect = header.find(http::field::expect);
  if (expect != header.end() && lower(expect->value()) == "100-continue") {
    auto bytes = std::make_shared<std::string>("HTTP/1.1 100 Continue\r\n\r\n");
    io_write(asio::buffer(*bytes), [self, bytes](error_code write_ec, std::size_t) {
      if (write_ec) return self->shut(false);
      self->io_read_body(*self->parser_, [self](error_code read_ec, std::size_t) { self->on_body(read_ec); });
    });
    return;
  }
  io_read_body(*parser_, [self](error_code read_ec, std::size_t) { self->on_body(read_ec); });
}

void SessionCore::on_body(error_code ec) {
  if (ec) {
    if (ec == http::error::body_limit) {
      send_simple_error(413, "request body too large");
    } else {
      shut(false);
    }
    return;
  }
  dispatch_request();
}

void SessionCore::dispatch_request() {
  auto message = parser_->release();
  parser_.reset();
  HttpRequest request;
  request.method = std::string(message.method_string());
  request.target = std::string(message.target());
  if (!parse_target(request.target, request)) {
    keep_alive_ = false;
    send_simple_error(400, "malformed request target");
    return;
  }
  for (const auto& field : message) {
    const std::string name = lower(field.name_string());
    auto [it, inserted] = request.headers.emplace(name, std::string(field.value()));
    if (!inserted) it->second += ", " + std::string(field.value());
  }
  request.body = std::move(message.body());
  request.remote = remote_;
  request.client_cert_subject = client_cert_subject_;

  keep_alive_ = message.keep_alive();
  close_after_response_ = false;
  state_ = State::kWaiting;
  on_close_ = nullptr;
  const std::uint64_t id = ++request_id_;
  io_set_timeout(std::nullopt);
  start_watch_read();

  if (server_->stopped()) {
    shut(false);
    return;
  }
  auto writer = std::make_shared<Writer>(shared_from_this(), id);
  try {
    server_->handler()(std::move(request), writer);
  } catch (const std::exception& e) {
    HttpResponse response;
    response.status = 500;
    response.headers["content-type"] = "text/plain; charset=utf-8";
    response.body = std::string("internal error: ") + e.what() + "\n";
    writer->respond(std::move(response));
  }
}

void SessionCore::start_watch_read() {
  if (watch_reading_ || closed_) return;
  if (state_ != State::kIdle && buffer_.size() > 0) return;  // a pipelined request waits its turn
  if (buffer_.size() >= kMaxBufferedWhileBusy) return;
  watch_reading_ = true;
  auto self = shared_from_this();
  io_read_some(buffer_.prepare(kReadChunk), [self](error_code ec, std::size_t n) {
    self->watch_reading_ = false;
    if (self->closed_) return;
    if (ec) {
      self->shut(false);
      return;
    }
    self->buffer_.commit(n);
    if (self->state_ == State::kIdle) {
      self->read_request();
    } else {
      self->start_watch_read();
    }
  });
}

void SessionCore::enqueue(std::string bytes, std::function<void(bool)> done) {
  queue_.push_back(Outgoing{std::make_shared<std::string>(std::move(bytes)), std::move(done)});
  write_next();
}

void SessionCore::write_next() {
  if (writing_ || closed_ || queue_.empty()) return;
  writing_ = true;
  auto self = shared_from_this();
  auto bytes = queue_.front().bytes;
  io_write(asio::buffer(*bytes), [self, bytes](error_code ec, std::size_t) {
    self->writing_ = false;
    if (self->closed_) return;  // shut() already failed the queued writes
    if (ec) {
      self->shut(false);
      return;
    }
    auto done = std::move(self->queue_.front().done);
    self->queue_.pop_front();
    if (done) done(true);
    if (!self->queue_.empty()) {
      self->write_next();
    } else if (self->state_ == State::kFinishing) {
      self->response_complete();
    }
  });
}

void SessionCore::response_complete() {
  state_ = State::kIdle;
  on_close_ = nullptr;
  if (!keep_alive_ || close_after_response_ || server_->stopped()) {
    shut(true);
    return;
  }
  // The watch read, if still posted, starts the next parse when bytes arrive.
  if (!watch_reading_) read_request();
}

void SessionCore::shut(bool graceful) {
  if (closed_) return;
  closed_ = true;
  closed_flag_ = true;
  auto callback = std::move(on_close_);
  on_close_ = nullptr;
  const bool in_response = state_ != State::kIdle;
  state_ = State::kIdle;
  auto pending = std::move(queue_);
  queue_.clear();
  if (graceful) {
    io_graceful_close();
  } else {
    io_close();
  }
  server_->forget(this);
  for (auto& outgoing : pending) {
    if (outgoing.done) outgoing.done(false);
  }
  if (in_response && callback) callback();
}

void SessionCore::send_simple_error(int status, const std::string& text) {
  keep_alive_ = false;
  state_ = State::kFinishing;
  Headers headers{{"content-type", "text/plain; charset=utf-8"}};
  std::string body = text + "\n";
  enqueue(format_head(status, headers, body.size(), true) + body);
}

void SessionCore::writer_respond(std::uint64_t id, HttpResponse response) {
  asio::post(strand_, [self = shared_from_this(), id, response = std::move(response)]() mutable {
    if (self->closed_ || id != self->request_id_ || self->state_ != State::kWaiting) return;
    self->close_after_response_ = wants_close(response.headers);
    const bool close = !self->keep_alive_ || self->close_after_response_;
    self->state_ = State::kFinishing;
    self->enqueue(format_head(response.status, response.headers, response.body.size(), close) + response.body);
  });
}

void SessionCore::writer_start_stream(std::uint64_t id, int status, Headers headers) {
  asio::post(strand_, [self = shared_from_this(), id, status, headers = std::move(headers)]() {
    if (self->closed_ || id != self->request_id_ || self->state_ != State::kWaiting) return;
    self->close_after_response_ = wants_close(headers);
    const bool close = !self->keep_alive_ || self->close_after_response_;
    self->state_ = State::kStreaming;
    self->enqueue(format_head(status, headers, std::nullopt, close));
  });
}

void SessionCore::writer_write(std::uint64_t id, std::string chunk, std::function<void(bool)> done) {
  asio::post(strand_, [self = shared_from_this(), id, chunk = std::move(chunk), done = std::move(done)]() mutable {
    if (self->closed_ || id != self->request_id_ || self->state_ != State::kStreaming) {
      if (done) done(false);
      return;
    }
    if (chunk.empty()) {  // an empty chunk would end the body
      if (done) done(true);
      return;
    }
    char size[32];
    const int length = std::snprintf(size, sizeof(size), "%zx\r\n", chunk.size());
    std::string framed;
    framed.reserve(static_cast<std::size_t>(length) + chunk.size() + 2);
    framed.append(size, static_cast<std::size_t>(length));
    framed += chunk;
    framed += "\r\n";
    self->enqueue(std::move(framed), std::move(done));
  });
}

void SessionCore::writer_end(std::uint64_t id) {
  asio::post(strand_, [self = shared_from_this(), id]() {
    if (self->closed_ || id != self->request_id_ || self->state_ != State::kStreaming) return;
    self->state_ = State::kFinishing;
    self->enqueue("0\r\n\r\n");
  });
}

void SessionCore::writer_abort(std::uint64_t id) {
  asio::post(strand_, [self = shared_from_this(), id]() {
    if (self->closed_ || id != self->request_id_) return;
    self->shut(false);
  });
}

void SessionCore::writer_on_close(std::uint64_t id, std::function<void()> callback) {
  asio::post(strand_, [self = shared_from_this(), id, callback = std::move(callback)]() mutable {
    if (id != self->request_id_) return;
    if (self->closed_) {
      if (callback) callback();
      return;
    }
    if (self->state_ == State::kIdle) return;  // the response is complete
    self->on_close_ = std::move(callback);
  });
}

void SessionCore::abort_from_server() {
  asio::post(strand_, [self = shared_from_this()]() { self->shut(false); });
}

}  // namespace server_detail

// ---- HttpServer::Impl --------------------------------------------------------------------

using server_detail::ServerCore;
using server_detail::SessionCore;
using server_detail::StreamSession;
using server_detail::Rejection;
using server_detail::too_many_connections_response;

class HttpServer::Impl final : public ServerCore {
 public:
  Impl(asio::any_io_executor executor, HttpServerOptions options, HttpHandler handler)
      : ServerCore(std::move(options), std::move(handler)), executor_(std::move(executor)) {}

  Status start();
  void stop();
  void close_all();

  std::uint16_t port_ = 0;
  std::string address_;

 private:
  std::shared_ptr<Impl> self() { return std::static_pointer_cast<Impl>(shared_from_this()); }
  void accept_next();
  void on_accept(error_code ec, tcp::socket socket);

  asio::any_io_executor executor_;
  std::shared_ptr<asio::ssl::context> tls_;
  std::optional<tcp::acceptor> acceptor_;  // guarded by mutex_
};

Status HttpServer::Impl::start() {
  if (!options_.tls_cert_file.empty()) {
    auto context = make_server_tls_context_from_files(options_.tls_cert_file, options_.tls_key_file,
                                                      options_.tls_client_ca_file);
    if (!context.ok()) return Status::InvalidArgument("TLS for " + options_.listen + ": " + context.status().message());
    tls_ = std::move(*context);
  }
  const std::string& listen = options_.listen;
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) return Status::InvalidArgument("listen address has no port: " + listen);
  std::string host = listen.substr(0, colon);
  const std::string port_text = listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  unsigned long port = 0;
  try {
    std::size_t used = 0;
    port = std::stoul(port_text, &used);
    if (used != port_text.size() || port > 65535) throw std::out_of_range("port");
  } catch (const std::exception&) {
    return Status::InvalidArgument("bad port in listen address " + listen);
  }
  error_code ec;
  tcp::endpoint endpoint;
  auto address = asio::ip::make_address(host, ec);
  if (!ec) {
    endpoint = tcp::endpoint(address, static_cast<std::uint16_t>(port));
  } else {
    tcp::resolver resolver(executor_);
    auto results = resolver.resolve(host, port_text, ec);
    if (ec || results.empty()) return Status::InvalidArgument("cannot resolve " + listen + ": " + ec.message());
    endpoint = results.begin()->endpoint();
  }
  std::lock_guard lock(mutex_);
  acceptor_.emplace(executor_);
  acceptor_->open(endpoint.protocol(), ec);
  if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_->bind(endpoint, ec);
  if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    acceptor_.reset();
    return Status::Unavailable("cannot listen on " + listen + ": " + ec.message());
  }
  const auto local = acceptor_->local_endpoint(ec);
  port_ = local.port();
  address_ = endpoint_string(local);
  stopped_ = false;
  auto self = this->self();
  acceptor_->async_accept(asio::make_strand(executor_),
                          [self](error_code accept_ec, tcp::socket socket) { self->on_accept(accept_ec, std::move(socket)); });
  return Status::Ok();
}

void HttpServer::Impl::accept_next() {
  std::lock_guard lock(mutex_);
  if (!acceptor_ || !acceptor_->is_open()) return;
  auto self = this->self();
  acceptor_->async_accept(asio::make_strand(executor_),
                          [self](error_code ec, tcp::socket socket) { self->on_accept(ec, std::move(socket)); });
}

void HttpServer::Impl::on_accept(error_code ec, tcp::socket socket) {
  if (stopped_) return;
  if (ec) {
    if (ec == asio::error::operation_aborted) return;
    accept_next();  // e.g. EMFILE: keep serving the connections we have
    return;
  }
  error_code remote_ec;
  const auto remote = socket.remote_endpoint(remote_ec);
  std::shared_ptr<SessionCore> session;
  const std::string client = remote_ec ? std::string("unknown") : remote.address().to_string();
  bool over_client_limit = false;
  {
    std::lock_guard lock(mutex_);
    over_client_limit = options_.max_connections_per_client > 0 &&
                        per_client_.count(client) > 0 && per_client_[client] >= options_.max_connections_per_client;
    if (over_client_limit) {
      // answered below, outside the lock
    } else if (sessions_.size() >= options_.max_connections) {
      socket.close(remote_ec);
    } else {
      socket.set_option(tcp::no_delay(true), remote_ec);
      const std::string peer = remote_ec ? std::string("unknown") : endpoint_string(remote);
      if (tls_) {
        session = std::make_shared<StreamSession<beast::ssl_stream<beast::tcp_stream>>>(
            shared_from_this(), peer, std::move(socket), *tls_);
      } else {
        session = std::make_shared<StreamSession<beast::tcp_stream>>(shared_from_this(), peer, std::move(socket));
      }
      sessions_[session.get()] = session;
      client_of_[session.get()] = client;
      ++per_client_[client];
    }
  }
  if (over_client_limit) {
    const std::string response = too_many_connections_response(options_.too_many_connections_body);
    if (tls_) {
      auto rejection = std::make_shared<Rejection<beast::ssl_stream<beast::tcp_stream>>>(response, std::move(socket), *tls_);
      rejection->start();
    } else {
      auto rejection = std::make_shared<Rejection<beast::tcp_stream>>(response, std::move(socket));
      rejection->start();
    }
  }
  if (session) asio::dispatch(session->strand(), [session] { session->start(); });
  accept_next();
}

void HttpServer::Impl::stop() {
  stopped_ = true;
  {
    std::lock_guard lock(mutex_);
    if (acceptor_) {
      error_code ec;
      acceptor_->close(ec);
    }
  }
  close_all();
}

void HttpServer::Impl::close_all() {
  std::vector<std::shared_ptr<SessionCore>> sessions;
  {
    std::lock_guard lock(mutex_);
    for (auto& [raw, weak] : sessions_) {
      if (auto session = weak.lock()) sessions.push_back(std::move(session));
    }
  }
  for (auto& session : sessions) session->abort_from_server();
}

// ---- HttpServer --------------------------------------------------------------------------

HttpServer::HttpServer(asio::any_io_executor executor, HttpServerOptions options, HttpHandler handler)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(options), std::move(handler))) {}

HttpServer::~HttpServer() { impl_->stop(); }

Status HttpServer::start() { return impl_->start(); }
std::uint16_t HttpServer::port() const { return impl_->port_; }
std::string HttpServer::address() const { return impl_->address_; }
void HttpServer::stop() { impl_->stop(); }
std::size_t HttpServer::open_connections() const { return impl_->open_connections(); }
void HttpServer::close_all_connections() { impl_->close_all(); }

}  // namespace berth::net
