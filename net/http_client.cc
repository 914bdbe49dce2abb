#include "net/http_client.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <algorithm>
#include <cctype>
#include <deque>
#include <list>
#include <mutex>
#include <optional>
#include <utility>

#include "net/tls.h"

namespace berth::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace ssl = boost::asio::ssl;
using boost::system::error_code;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxResponseBody = 512 * 1024 * 1024;  // a list of many thousand pods
constexpr std::uint32_t kMaxHeaderBytes = 64 * 1024;
constexpr std::size_t kStreamChunk = 64 * 1024;

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

Headers to_headers(const http::fields& fields) {
  Headers headers;
  for (const auto& field : fields) {
    std::string name = lower(field.name_string());
    auto [it, inserted] = headers.emplace(name, std::string(field.value()));
    if (!inserted) it->second += ", " + std::string(field.value());  // repeated header: RFC 9110 list
  }
  return headers;
}

// An error that means "the server closed a kept-alive connection before we used it": the request
// may be sent again on a fresh connection when no byte of a response was seen.
bool closed_by_peer(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::connection_aborted || ec == ssl::error::stream_truncated;
}

// One connection to the server: plain TCP or TLS over TCP, and its read buffer.
struct Connection {
  Connection(const asio::any_io_executor& executor, ssl::context* tls) {
    if (tls != nullptr) {
      secure.emplace(executor, *tls);
    } else {
      plain.emplace(executor);
    }
  }
  beast::tcp_stream& tcp() { return secure ? beast::get_lowest_layer(*secure) : *plain; }
  void close() {
    error_code ignored;
    tcp().socket().shutdown(tcp::socket::shutdown_both, ignored);
    tcp().close();
  }

  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer;
};

template <typename Stream, typename Message>
asio::awaitable<error_code> write_message(Stream& stream, Message& message) {
  error_code ec;
  co_await http::async_write(stream, message, asio::redirect_error(asio::use_awaitable, ec));
  co_return ec;
}

template <typename Stream, typename Parser>
asio::awaitable<error_code> read_header(Stream& stream, beast::flat_buffer& buffer, Parser& parser) {
  error_code ec;
  co_await http::async_read_header(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
  co_return ec;
}

template <typename Stream, typename Parser>
asio::awaitable<error_code> read_rest(Stream& stream, beast::flat_buffer& buffer, Parser& parser) {
  error_code ec;
  co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
  co_return ec;
}

template <typename Parser>
asio::awaitable<error_code> read_header(Connection& c, Parser& parser) {
  if (c.secure) co_return co_await read_header(*c.secure, c.buffer, parser);
  co_return co_await read_header(*c.plain, c.buffer, parser);
}

template <typename Parser>
asio::awaitable<error_code> read_rest(Connection& c, Parser& parser) {
  if (c.secure) co_return co_await read_rest(*c.secure, c.buffer, parser);
  co_return co_await read_rest(*c.plain, c.buffer, parser);
}

template <typename Stream, typename Parser>
asio::awaitable<error_code> read_some(Stream& stream, beast::flat_buffer& buffer, Parser& parser) {
  error_code ec;
  co_await http::async_read_some(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
  co_return ec;
}

template <typename Parser>
asio::awaitable<error_code> read_some(Connection& c, Parser& parser) {
  if (c.secure) co_return co_await read_some(*c.secure, c.buffer, parser);
  co_return co_await read_some(*c.plain, c.buffer, parser);
}

asio::awaitable<error_code> write_request(Connection& c, http::request<http::string_body>& request) {
  if (c.secure) co_return co_await write_message(*c.secure, request);
  co_return co_await write_message(*c.plain, request);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Impl: the pool and the request coroutines. Pool state is touched only on strand_.
// ---------------------------------------------------------------------------------------------

class HttpClient::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(asio::any_io_executor executor, HttpClientOptions options)
      : executor_(std::move(executor)), strand_(asio::make_strand(executor_)), options_(std::move(options)) {
    if (options_.max_connections == 0) options_.max_connections = 1;
  }

  Status init() {
    auto url = boost::urls::parse_uri(options_.base_url);
    if (!url) return Status::InvalidArgument("base URL \"" + options_.base_url + "\" is not a URL: " + url.error().message());
    const std::string scheme = lower(url->scheme());
    if (scheme != "http" && scheme != "https") {
      return Status::InvalidArgument("base URL \"" + options_.base_url + "\" must start with http:// or https://");
    }
    host_ = std::string(url->host_address());
    if (host_.empty()) return Status::InvalidArgument("base URL \"" + options_.base_url + "\" has no host");
    const bool ipv6 = url->host_type() == boost::urls::host_type::ipv6;
    port_ = url->has_port() ? std::string(url->port()) : (scheme == "https" ? "443" : "80");
    const bool default_port = !url->has_port();
    host_header_ = (ipv6 ? "[" + host_ + "]" : host_) + (default_port ? "" : ":" + port_);
    origin_ = scheme + "://" + host_header_;
    if (scheme == "https") {
      TlsClientConfig tls;
      tls.ca_pem = options_.ca_pem;
      tls.cert_pem = options_.client_cert_pem;
      tls.key_pem = options_.client_key_pem;
      tls.insecure_skip_verify = options_.insecure_skip_verify;
      auto context = make_client_tls_context(tls);
      if (!context.ok()) return Status::InvalidArgument(origin_ + ": " + context.status().message());
      tls_ = std::move(*context);
    }
    initialized_ = true;
    return Status::Ok();
  }

  void set_default_header(const std::string& name, const std::string& value) {
    std::lock_guard lock(headers_mutex_);
    default_headers_[lower(name)] = value;
  }

  void request(HttpClientRequest request, std::function<void(StatusOr<HttpResponse>)> done) {
    auto self = shared_from_this();
    asio::co_spawn(
        strand_,
        [self, request = std::move(request), done = std::move(done)]() mutable -> asio::awaitable<void> {
          StatusOr<HttpResponse> result = Status::Internal("request did not run");
          try {
            result = co_await self->run_request(request);
          } catch (const std::exception& e) {
            result = Status::Internal(self->describe(request) + ": " + e.what());
          }
          asio::post(self->executor_, [done = std::move(done), result = std::move(result)]() mutable {
            done(std::move(result));
          });
        },
        asio::detached);
  }

  std::shared_ptr<HttpStream> stream(HttpClientRequest request, StreamCallbacks callbacks,
                                     std::chrono::milliseconds idle_timeout);

  class Stream;

  void shutdown() {
    asio::post(strand_, [self = shared_from_this()] {
      self->closed_ = true;
      for (auto& connection : self->idle_) connection->close();
      self->open_ -= self->idle_.size();
      self->idle_.clear();
    });
  }

  std::string describe(const HttpClientRequest& request) const {
    return request.method + " " + origin_ + request.target;
  }

  // Connects (and handshakes) `c` before `deadline`. Errors name the URL.
  asio::awaitable<Status> connect(Connection& c, const std::string& what, Clock::time_point deadline) {
    error_code ec;
    tcp::resolver resolver(c.tcp().get_executor());
    auto endpoints = co_await resolver.async_resolve(host_, port_, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return Status::Unavailable(what + ": cannot resolve " + host_ + ": " + ec.message());
    const auto connect_deadline = std::min(deadline, Clock::now() + options_.connect_timeout);
    c.tcp().expires_at(connect_deadline);
    co_await c.tcp().async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return transport_error(what, "connect", ec, connect_deadline);
    c.tcp().socket().set_option(tcp::no_delay(true), ec);
    if (c.secure) {
      const std::string& name = options_.server_name.empty() ? host_ : options_.server_name;
      Status named = set_client_server_name(c.secure->native_handle(), name, !options_.insecure_skip_verify);
      if (!named.ok()) co_return Status::Unavailable(what + ": " + named.message());
      co_await c.secure->async_handshake(ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return transport_error(what, "TLS handshake", ec, connect_deadline);
    }
    co_return Status::Ok();
  }

  Status transport_error(const std::string& what, const char* step, const error_code& ec,
                         Clock::time_point deadline) const {
    if (ec == beast::error::timeout || (ec == asio::error::operation_aborted && Clock::now() >= deadline)) {
      return Status::DeadlineExceeded(what + ": " + step + " timed out");
    }
    std::string detail = ec.message();
    if (ec.category() == asio::error::get_ssl_category()) {
      // OpenSSL's reason string ("certificate verify failed") is the useful part.
      detail = "TLS: " + detail;
    }
    return Status::Unavailable(what + ": " + step + ": " + detail);
  }

  http::request<http::string_body> build(const HttpClientRequest& request) {
    http::request<http::string_body> message;
    message.version(11);
    message.method_string(request.method);
    message.target(request.target.empty() ? "/" : request.target);
    message.set(http::field::host, host_header_);
    if (!options_.user_agent.empty()) message.set(http::field::user_agent, options_.user_agent);
    {
      std::lock_guard lock(headers_mutex_);
      for (const auto& [name, value] : default_headers_) message.set(name, value);
    }
    for (const auto& [name, value] : request.headers) message.set(name, value);
    message.keep_alive(true);
    if (!request.body.empty() || request.method == "POST" || request.method == "PUT" ||
        request.method == "PATCH") {
      message.body() = request.body;
      message.prepare_payload();
    }
    return message;
  }

 private:
  struct Lease {
    std::unique_ptr<Connection> connection;
    bool reused = false;
  };

  asio::awaitable<StatusOr<HttpResponse>> run_request(const HttpClientRequest& request) {
    const std::string what = describe(request);
    if (!initialized_) co_return Status::FailedPrecondition(what + ": HttpClient::init() was not called");
    if (closed_) co_return Status::Unavailable(what + ": client is shut down");
    const auto timeout = request.timeout.count() > 0 ? request.timeout : options_.request_timeout;
    const auto deadline = Clock::now() + timeout;
    auto message = build(request);

    for (int attempt = 0;; ++attempt) {
      auto lease = co_await acquire(what, deadline);
      if (!lease.ok()) co_return lease.status();
      Connection& c = *lease->connection;
      c.tcp().expires_at(deadline);
      error_code ec = co_await write_request(c, message);
      http::response_parser<http::string_body> parser;
      parser.header_limit(kMaxHeaderBytes);
      parser.body_limit(kMaxResponseBody);
      if (request.method == "HEAD") parser.skip(true);
      if (!ec) ec = co_await read_header(c, parser);
      if (!ec && !parser.is_done()) ec = co_await read_rest(c, parser);
      if (ec) {
        const bool retry = lease->reused && attempt == 0 && !parser.got_some() && closed_by_peer(ec);
        release(std::move(lease->connection), false);
        if (retry) continue;  // a kept-alive connection the server had closed: once more on a new one
        co_return transport_error(what, "request", ec, deadline);
      }
      HttpResponse response;
      response.status = static_cast<int>(parser.get().result_int());
      response.headers = to_headers(parser.get().base());
      response.body = std::move(parser.get().body());
      release(std::move(lease->connection), parser.get().keep_alive());
      co_return response;
    }
  }

  // A pooled connection: an idle one, a new one while fewer than max_connections exist, or the
  // next one released before `deadline`.
  asio::awaitable<StatusOr<Lease>> acquire(const std::string& what, Clock::time_point deadline) {
    for (;;) {
      while (!idle_.empty()) {
        auto connection = std::move(idle_.back());
        idle_.pop_back();
        if (connection->tcp().socket().is_open()) co_return Lease{std::move(connection), true};
        --open_;
      }
      if (open_ < options_.max_connections) {
        ++open_;
        auto connection = std::make_unique<Connection>(strand_, tls_.get());
        Status connected = co_await connect(*connection, what, deadline);
        if (!connected.ok()) {
          --open_;
          wake_one();
          co_return connected;
        }
        co_return Lease{std::move(connection), false};
      }
      Waiter waiter{asio::steady_timer(strand_, deadline), false};
      auto position = waiters_.insert(waiters_.end(), &waiter);
      error_code ec;
      co_await waiter.timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      // Woken by release() (wake_one() took us off the list; the timer may have expired at the
      // same moment, so the flag, not the error code, says which happened), else timed out.
      if (waiter.woken) continue;
      waiters_.erase(position);
      co_return Status::DeadlineExceeded(what + ": no connection free within the request timeout (" +
                                         std::to_string(options_.max_connections) + " in use)");
    }
  }

  void release(std::unique_ptr<Connection> connection, bool reusable) {
    if (reusable && !closed_ && connection->tcp().socket().is_open()) {
      connection->tcp().expires_never();
      idle_.push_back(std::move(connection));
    } else {
      connection->close();
      --open_;
    }
    wake_one();
  }

  void wake_one() {
    if (waiters_.empty()) return;
    Waiter* waiter = waiters_.front();
    waiters_.pop_front();
    waiter->woken = true;
    waiter->timer.cancel();
  }

  asio::any_io_executor executor_;
  asio::strand<asio::any_io_executor> strand_;
  HttpClientOptions options_;
  std::string host_;
  std::string port_;
  std::string host_header_;
  std::string origin_;
  std::shared_ptr<ssl::context> tls_;
  bool initialized_ = false;
  bool closed_ = false;

  std::mutex headers_mutex_;
  Headers default_headers_;

  std::deque<std::unique_ptr<Connection>> idle_;
  std::size_t open_ = 0;  // idle + in use
  // Requests waiting for a pooled connection, oldest first.
  struct Waiter {
    asio::steady_timer timer;  // expires at the request's deadline
    bool woken;                // a connection was handed over (set by wake_one)
  };
  std::list<Waiter*> waiters_;

 public:
  const asio::any_io_executor& executor() const { return executor_; }
  const HttpClientOptions& options() const { return options_; }
  ssl::context* tls() const { return tls_.get(); }
  bool initialized() const { return initialized_; }
};

// ---------------------------------------------------------------------------------------------
// Streams: one connection each, on a strand of their own; callbacks are posted in order through a
// second strand on the client's executor, so that they never overlap or overtake each other even
// when that executor is an io_context run by several threads.
// ---------------------------------------------------------------------------------------------

class HttpClient::Impl::Stream final : public HttpStream, public std::enable_shared_from_this<Stream> {
 public:
  Stream(std::shared_ptr<HttpClient::Impl> client, StreamCallbacks callbacks)
      : client_(std::move(client)),
        strand_(asio::make_strand(client_->executor())),
        delivery_(asio::make_strand(client_->executor())),
        callbacks_(std::move(callbacks)),
        connection_(strand_, client_->tls()) {}

  void cancel() override {
    asio::post(strand_, [self = shared_from_this()] {
      self->cancelled_ = true;
      self->connection_.close();
    });
  }

  void start(HttpClientRequest request, std::chrono::milliseconds idle_timeout) {
    auto self = shared_from_this();
    asio::co_spawn(
        strand_,
        [self, request = std::move(request), idle_timeout]() mutable -> asio::awaitable<void> {
          Status end;
          try {
            end = co_await self->run(request, idle_timeout);
          } catch (const std::exception& e) {
            end = Status::Internal(self->client_->describe(request) + ": " + e.what());
          }
          self->deliver([self, end = std::move(end)]() mutable {
            if (self->callbacks_.on_end) self->callbacks_.on_end(std::move(end));
          });
        },
        asio::detached);
  }

 private:
  template <typename Fn>
  void deliver(Fn fn) {
    asio::post(delivery_, std::move(fn));
  }

  asio::awaitable<Status> run(const HttpClientRequest& request, std::chrono::milliseconds idle_timeout) {
    const std::string what = client_->describe(request);
    if (!client_->initialized()) co_return Status::FailedPrecondition(what + ": HttpClient::init() was not called");
    const auto timeout = request.timeout.count() > 0 ? request.timeout : client_->options().request_timeout;
    auto deadline = Clock::now() + timeout;
    Status connected = co_await client_->connect(connection_, what, deadline);
    if (cancelled_) co_return Status(StatusCode::kAborted, what + ": cancelled");
    if (!connected.ok()) co_return connected;

    auto message = client_->build(request);
    connection_.tcp().expires_at(deadline);
    error_code ec = co_await write_request(connection_, message);
    http::response_parser<http::buffer_body> parser;
    parser.header_limit(kMaxHeaderBytes);
    parser.body_limit(boost::none);
    if (!ec) ec = co_await read_header(connection_, parser);
    if (cancelled_) co_return Status(StatusCode::kAborted, what + ": cancelled");
    if (ec) co_return client_->transport_error(what, "request", ec, deadline);

    const int status = static_cast<int>(parser.get().result_int());
    Headers headers = to_headers(parser.get().base());
    deliver([self = shared_from_this(), status, headers = std::move(headers)] {
      if (self->callbacks_.on_headers) self->callbacks_.on_headers(status, headers);
    });

    std::vector<char> chunk(kStreamChunk);
    while (!parser.is_done()) {
      parser.get().body().data = chunk.data();
      parser.get().body().size = chunk.size();
      if (idle_timeout.count() > 0) {
        deadline = Clock::now() + idle_timeout;
        connection_.tcp().expires_at(deadline);
      } else {
        deadline = Clock::time_point::max();
        connection_.tcp().expires_never();
      }
      ec = co_await read_some(connection_, parser);
      if (ec == http::error::need_buffer) ec = {};
      const std::size_t got = chunk.size() - parser.get().body().size;
      if (got > 0 && !cancelled_) {
        deliver([self = shared_from_this(), bytes = std::string(chunk.data(), got)] {
          if (self->callbacks_.on_data) self->callbacks_.on_data(bytes);
        });
      }
      if (cancelled_) co_return Status(StatusCode::kAborted, what + ": cancelled");
      if (ec) {
        connection_.close();
        if (ec == beast::error::timeout) {
          co_return Status::DeadlineExceeded(what + ": no data for " + std::to_string(idle_timeout.count()) + "ms");
        }
        co_return client_->transport_error(what, "stream", ec, deadline);
      }
    }
    connection_.close();
    co_return Status::Ok();
  }

  std::shared_ptr<HttpClient::Impl> client_;
  asio::strand<asio::any_io_executor> strand_;     // the connection
  asio::strand<asio::any_io_executor> delivery_;   // the callbacks, in order
  StreamCallbacks callbacks_;
  Connection connection_;
  bool cancelled_ = false;
};

std::shared_ptr<HttpStream> HttpClient::Impl::stream(HttpClientRequest request, StreamCallbacks callbacks,
                                                     std::chrono::milliseconds idle_timeout) {
  auto stream = std::make_shared<Stream>(shared_from_this(), std::move(callbacks));
  stream->start(std::move(request), idle_timeout);
  return stream;
}

// ---------------------------------------------------------------------------------------------

HttpClient::HttpClient(boost::asio::any_io_executor executor, HttpClientOptions options)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(options))) {}

HttpClient::~HttpClient() { impl_->shutdown(); }

Status HttpClient::init() { return impl_->init(); }

void HttpClient::request(HttpClientRequest request, std::function<void(StatusOr<HttpResponse>)> done) {
  impl_->request(std::move(request), std::move(done));
}

std::shared_ptr<HttpStream> HttpClient::stream(HttpClientRequest request, StreamCallbacks callbacks,
                                               std::chrono::milliseconds idle_timeout) {
  return impl_->stream(std::move(request), std::move(callbacks), idle_timeout);
}

void HttpClient::set_default_header(const std::string& lower_case_name, const std::string& value) {
  impl_->set_default_header(lower_case_name, value);
}

}  // namespace berth::net
