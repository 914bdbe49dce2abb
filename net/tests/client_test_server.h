#pragma once
// A deliberately small scripted HTTP/1.1 server for HttpClient's tests: each request is answered
// by a handler that says what to do (respond, stream chunks with pauses, stall, drop the
// connection). Runs on its own thread. Test-only; the real server is net::HttpServer.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "net/http.h"
#include "net/tls.h"

namespace berth::net::testing {

struct TestReply {
  int status = 200;
  Headers headers;
  std::string body;
  // Non-empty: a chunked response whose chunks are sent one by one, each after its pause.
  std::vector<std::pair<std::chrono::milliseconds, std::string>> chunks;
  bool chunked = false;       // chunked even when `chunks` is empty
  bool close_after = false;   // close the connection after this response
  bool drop = false;          // close the connection without answering
  std::chrono::milliseconds delay{0};  // pause before answering
};

class TestServer {
 public:
  using Handler = std::function<TestReply(const HttpRequest&)>;

  explicit TestServer(Handler handler, std::shared_ptr<boost::asio::ssl::context> tls = nullptr)
      : handler_(std::move(handler)), tls_(std::move(tls)), acceptor_(io_) {
    namespace asio = boost::asio;
    asio::ip::tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    asio::co_spawn(io_, accept_loop(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }

  ~TestServer() {
    boost::asio::post(io_, [this] {
      boost::system::error_code ec;
      acceptor_.close(ec);
      close_all_now();
    });
    io_.stop();
    thread_.join();
  }

  std::uint16_t port() const { return port_; }
  std::string url() const { return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_); }
  int accepted() const { return accepted_.load(); }
  int requests() const { return requests_.load(); }
  HttpRequest last_request() {
    std::lock_guard lock(mutex_);
    return last_;
  }
  // Closes every open connection (kept-alive idle ones included), as a server's idle timeout would.
  void close_all() {
    std::promise<void> done;
    boost::asio::post(io_, [this, &done] {
      close_all_now();
      done.set_value();
    });
    done.get_future().wait();
  }

 private:
  using tcp = boost::asio::ip::tcp;

  void close_all_now() {
    for (auto* socket : sockets_) {
      boost::system::error_code ec;
      socket->shutdown(tcp::socket::shutdown_both, ec);
      socket->close(ec);
    }
  }

  boost::asio::awaitable<void> accept_loop() {
    namespace asio = boost::asio;
    for (;;) {
      boost::system::error_code ec;
      tcp::socket socket = co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      ++accepted_;
      asio::co_spawn(io_, serve(std::move(socket)), asio::detached);
    }
  }

  boost::asio::awaitable<void> serve(tcp::socket socket) {
    namespace asio = boost::asio;
    namespace beast = boost::beast;
    if (tls_) {
      beast::ssl_stream<tcp::socket> stream(std::move(socket), *tls_);
      sockets_.insert(&stream.next_layer());
      boost::system::error_code ec;
      co_await stream.async_handshake(asio::ssl::stream_base::server, asio::redirect_error(asio::use_awaitable, ec));
      if (!ec) {
        peer_subject_ = peer_certificate_subject(stream.native_handle());
        co_await session(stream);
      }
      sockets_.erase(&stream.next_layer());
    } else {
      sockets_.insert(&socket);
      co_await session(socket);
      sockets_.erase(&socket);
    }
  }

  template <typename Stream>
  boost::asio::awaitable<void> session(Stream& stream) {
    namespace asio = boost::asio;
    namespace beast = boost::beast;
    namespace http = beast::http;
    beast::flat_buffer buffer;
    for (;;) {
      boost::system::error_code ec;
      http::request<http::string_body> message;
      co_await http::async_read(stream, buffer, message, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      ++requests_;
      HttpRequest request;
      request.method = std::string(message.method_string());
      request.target = std::string(message.target());
      request.path = request.target.substr(0, request.target.find('?'));
      for (const auto& field : message) {
        std::string name(field.name_string());
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        request.headers[name] = std::string(field.value());
      }
      request.body = message.body();
      request.client_cert_subject = peer_subject_;
      {
        std::lock_guard lock(mutex_);
        last_ = request;
      }
      TestReply reply = handler_(request);
      if (reply.delay.count() > 0) {
        asio::steady_timer timer(co_await asio::this_coro::executor, reply.delay);
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      }
      if (reply.drop) co_return;
      if (reply.chunks.empty() && !reply.chunked) {
        http::response<http::string_body> response{static_cast<http::status>(reply.status), 11};
        for (const auto& [name, value] : reply.headers) response.set(name, value);
        response.body() = reply.body;
        response.keep_alive(!reply.close_after && message.keep_alive());
        response.prepare_payload();
        co_await http::async_write(stream, response, asio::redirect_error(asio::use_awaitable, ec));
        if (ec || !response.keep_alive()) co_return;
        continue;
      }
      http::response<http::empty_body> response{static_cast<http::status>(reply.status), 11};
      for (const auto& [name, value] : reply.headers) response.set(name, value);
      response.chunked(true);
      response.keep_alive(!reply.close_after);
      http::response_serializer<http::empty_body> serializer{response};
      co_await http::async_write_header(stream, serializer, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      for (const auto& [pause, data] : reply.chunks) {
        if (pause.count() > 0) {
          asio::steady_timer timer(co_await asio::this_coro::executor, pause);
          co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        }
        co_await asio::async_write(stream, http::make_chunk(asio::buffer(data)),
                                   asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return;
      }
      co_await asio::async_write(stream, http::make_chunk_last(), asio::redirect_error(asio::use_awaitable, ec));
      if (ec || reply.close_after) co_return;
    }
  }

  Handler handler_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  boost::asio::io_context io_;
  tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<int> accepted_{0};
  std::atomic<int> requests_{0};
  std::set<tcp::socket*> sockets_;
  std::mutex mutex_;
  HttpRequest last_;
  std::string peer_subject_;  // of the latest TLS connection
};

}  // namespace berth::net::testing
