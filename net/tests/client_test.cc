// HttpClient against a small scripted server: keep-alive pooling, transparent reconnect of a
// connection the server closed, the connection limit, timeouts, streaming (chunked and not),
// default headers and the User-Agent, transport errors, and TLS (CA, client certificate, server-name override,
// insecure-skip-verify).

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <atomic>
#include <future>
#include <thread>

#include "net/http_client.h"
#include "net/http_server.h"
#include "net/tests/client_test_pki.h"
#include "net/tests/client_test_server.h"
#include "net/tls.h"

// Options are written as designated initializers naming only what a test sets; gcc 12 warns
// about the fields left to their defaults, clang does not.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace berth::net {
namespace {

using namespace std::chrono_literals;
using testing::TestReply;
using testing::TestServer;

// An io_context run by one thread for the client's callbacks.
class ClientLoop {
 public:
  ClientLoop() : work_(boost::asio::make_work_guard(io_)), thread_([this] { io_.run(); }) {}
  ~ClientLoop() {
    work_.reset();
    io_.stop();
    thread_.join();
  }
  boost::asio::any_io_executor executor() { return io_.get_executor(); }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
};

StatusOr<HttpResponse> fetch(HttpClient& client, HttpClientRequest request) {
  std::promise<StatusOr<HttpResponse>> promise;
  auto future = promise.get_future();
  client.request(std::move(request), [&promise](StatusOr<HttpResponse> response) { promise.set_value(std::move(response)); });
  REQUIRE(future.wait_for(20s) == std::future_status::ready);
  return future.get();
}

HttpClientRequest get(const std::string& target) {
  HttpClientRequest request;
  request.target = target;
  return request;
}

std::shared_ptr<boost::asio::ssl::context> server_tls(const testing::TestPki& pki, bool require_client_cert) {
  TlsServerConfig config{pki.server.cert_pem, pki.server.key_pem, require_client_cert ? pki.ca.cert_pem : ""};
  auto context = make_server_tls_context(config);
  REQUIRE(context.ok());
  return *context;
}

TEST_CASE("a GET and a POST come back with status, headers and body") {
  TestServer server([](const HttpRequest& request) {
    TestReply reply;
    reply.status = request.method == "POST" ? 201 : 200;
    reply.headers["Content-Type"] = "application/json";
    reply.headers["X-Echo"] = request.body;
    reply.body = request.method + " " + request.target;
    return reply;
  });
  ClientLoop loop;
  HttpClient client(loop.executor(), {.base_url = server.url()});
  REQUIRE(client.init().ok());

  auto response = fetch(client, get("/api/v1/pods?labelSelector=a%3Db"));
  REQUIRE(response.ok());
  CHECK(response->status == 200);
  CHECK(response->body == "GET /api/v1/pods?labelSelector=a%3Db");
  CHECK(response->headers.at("content-type") == "application/json");

  HttpClientRequest post;
  post.method = "POST";
  post.target = "/api/v1/namespaces/ns/pods";
  post.headers["content-type"] = "application/json";
  post.body = R"({"kind":"Pod"})";
  response = fetch(client, post);
  REQUIRE(response.ok());
  CHECK(response->status == 201);
  CHECK(response->headers.at("x-echo") == R"({"kind":"Pod"})");
  CHECK(server.last_request().headers.at("host") == "127.0.0.1:" + std::to_string(server.port()));
}

TEST_CASE("error statuses are responses, not failures") {
  TestServer server([](const HttpRequest&) {
    TestReply reply;
    reply.status = 429;
    reply.headers["Retry-After"] = "3";
    reply.body = "Too many requests, please try again later.";
    return reply;
  });
  ClientLoop loop;
  HttpClient client(loop.executor(), {.base_url = server.url()});
  REQUIRE(client.init().ok());
  auto response = fetch(client, get("/x"));
  REQUIRE(response.ok());
  CHECK(response->status == 429);
  CHECK(response->headers.at("retry-after") == "3");
}

TEST_CASE("sequential requests reuse one kept-alive connection") {
  TestServer server([](const HttpRequest&) { return TestReply{.body = "ok"}; });
  ClientLoop loop;
  HttpClient client(loop.executor(), {.base_url = server.url()});
  REQUIRE(client.init().ok());
  for (int i = 0; i < 5; ++i) REQUIRE(fetch(client, get("/")).ok());
  CHECK(server.accepted() == 1);
  CHECK(server.requests() == 5);
}

TEST_CASE("a pooled connection closed by the server is replaced once, transparently") {
  TestServer server([](const HttpRequest&) { return TestReply{.body = "ok"}; });
  ClientLoop loop;
  HttpClient client(loop.executor(), {.base_url = server.url()});
  REQUIRE(client.init().ok());
  REQUIRE(fetch(client, get("/")).ok());
  server.close_all();  // as a server's keep-alive timeout would
  auto response = fetch(client, get("/"));
  REQUIRE(response.ok());
  CHECK(response->body == "ok");
  CHECK(server.accepted() == 2);
}

TEST_CASE("a server that drops a fresh connection is a retryable error naming the URL") {
  TestServer server([](const HttpRequest&) { return TestReply{.drop = true}; });
  ClientLoop loop;
  HttpClient client(loop.executor(), {.base_url = server.url()});
  REQUIRE(client.init().ok());
  auto response = fetch(client, get("/api/v1/pods"));
  REQUIRE_FALSE(response.ok());
  CHECK(response.status().retryable());
  CHECK_THAT(response.status().message(), Catch::Contains(server.url() + "/api/v1/pods"));
  CHECK(server.accepted() == 1);  // a fresh connection is not retried
}

TEST_CASE("connection refused is kUnavailable naming the URL") {
  std::uint16_t port = 0;
  {
    TestServer gone([](const HttpRequest&) { return TestReply{}; });
    port = gone.port();
  }
  ClientLoop loop;
  HttpClient client(loop.executor(), {.base_url = "http://127.0.0.1:" + std::to_string(port)});
  REQUIRE(client.init().ok());
  auto response = fetch(client, get("/version"));
  REQUIRE_FALSE(response.ok());
  CHECK(response.status().code() == StatusCode::kUnavailable);
  CHECK_THAT(response.status().message(), Catch::Contains("127.0.0.1:" + std::to_string(port) + "/version"));
}

TEST_CASE("a request that outlives its timeout is kDeadlineExceeded") {
  TestServer server([](const HttpRequest&) { return TestReply{.body = "late", .delay = 2000ms}; });
  ClientLoop loop;
  HttpClient client(loop.executor(), {.base_url = server.url()});
  REQUIRE(client.init().ok());
  HttpClientRequest request = get("/slow");
  request.timeout = 200ms;
  const auto started = std::chrono::steady_clock::now();
  auto response = fetch(client, request);
  REQUIRE_FALSE(response.ok());
  CHECK(response.status().code() == StatusCode::kDeadlineExceeded);
  CHECK(std::chrono::steady_clock::now() - started < 1500ms);
}

TEST_CASE("max_connections bounds concurrent connections; requests queue for a free one") {
  TestServer server([](const HttpRequest&) { return TestReply{.body = "ok", .delay = 50ms}; });
  ClientLoop loop;
  HttpClient client(loop.executor(), {.base_url = server.url(), .max_connections = 2});
  REQUIRE(client.init().ok());
  std::vector<std::promise<StatusOr<HttpResponse>>> promises(6);
  for (auto& promise : promises) {
    client.request(get("/"), [&promise](StatusOr<HttpResponse> r) { promise.set_value(std::move(r)); });
  }
  for (auto& promise : promises) {
    auto future = promise.get_future();
    REQUIRE(future.wait_for(20s) == std::future_status::ready);
    CHECK(future.get().ok());
  }
  CHECK(server.accepted() == 2);
  CHECK(server.requests() == 6);
}

// Regression: a request's wait for a pooled connection could time out at the moment a release
// handed it a connection; the timeout path then erased it from the waiter list a second time and
// crashed berthd under a burst of launches. Many short deadlines around busy connections make
// the two coincide; every request must end exactly once, OK or kDeadlineExceeded.
TEST_CASE("queued requests whose deadline meets a released connection end once (pool waiter race)") {
  TestServer server([](const HttpRequest&) { return TestReply{.body = "ok", .delay = 2ms}; });
  ClientLoop loop;
  HttpClient client(loop.executor(), {.base_url = server.url(), .max_connections = 2});
  REQUIRE(client.init().ok());
  constexpr int kRequests = 400;
  std::atomic<int> ok{0}, timed_out{0}, other{0};
  std::vector<std::promise<void>> done(kRequests);
  for (int i = 0; i < kRequests; ++i) {
    HttpClientRequest request = get("/");
    request.timeout = std::chrono::milliseconds(5 + (i % 100));
    client.request(std::move(request), [&, i](StatusOr<HttpResponse> r) {
      if (r.ok()) {
        ok++;
      } else if (r.status().code() == StatusCode::kDeadlineExceeded) {
        timed_out++;
      } else {
        other++;
      }
      done[static_cast<std::size_t>(i)].set_value();
    });
  }
  for (auto& d : done) REQUIRE(d.get_future().wait_for(30s) == std::future_status::ready);
  CHECK(ok + timed_out + other == kRequests);
  CHECK(other == 0);
  // Both outcomes are what makes the race likely; on a very busy machine one may not occur,
  // which weakens this run but is not a failure.
  if (ok == 0 || timed_out == 0) WARN("only one outcome occurred: ok " << ok << ", timed out " << timed_out);
}

// A handler that answers with the value of the request's header `name`, or `absent`.
TestServer::Handler echo_header(std::string name, std::string absent = "") {
  return [name = std::move(name), absent = std::move(absent)](const HttpRequest& request) {
    auto it = request.headers.find(name);
    return TestReply{.body = it == request.headers.end() ? absent : it->second};
  };
}

TEST_CASE("set_default_header applies to later requests, request headers win") {
  TestServer server(echo_header("authorization"));
  ClientLoop loop;
  HttpClient client(loop.executor(), {.base_url = server.url()});
  REQUIRE(client.init().ok());
  client.set_default_header("authorization", "Bearer one");
  CHECK(fetch(client, get("/"))->body == "Bearer one");
  client.set_default_header("Authorization", "Bearer two");  // rotated
  CHECK(fetch(client, get("/"))->body == "Bearer two");
  HttpClientRequest own = get("/");
  own.headers["authorization"] = "Bearer mine";
  CHECK(fetch(client, own)->body == "Bearer mine");
}

TEST_CASE("every request carries User-Agent berthd/<version> unless the options name another") {
  TestServer server(echo_header("user-agent", "(none)"));
  ClientLoop loop;
  HttpClient client(loop.executor(), {.base_url = server.url()});
  REQUIRE(client.init().ok());
  CHECK(fetch(client, get("/"))->body == std::string("berthd/") + kBerthVersion);
  CHECK(std::string(kBerthdUserAgent) == std::string("berthd/") + kBerthVersion);
  CHECK_FALSE(std::string(kBerthVersion).empty());

  HttpClient other(loop.executor(), {.base_url = server.url(), .user_agent = "berth-bench/1"});
  REQUIRE(other.init().ok());
  CHECK(fetch(other, get("/"))->body == "berth-bench/1");
  HttpClient none(loop.executor(), {.base_url = server.url(), .user_agent = ""});
  REQUIRE(none.init().ok());
  CHECK(fetch(none, get("/"))->body == "(none)");
}

struct StreamResult {
  int status = 0;
  Headers headers;
  std::vector<std::string> pieces;
  std::promise<Status> ended;
  std::promise<void> first_data;
  bool got_first = false;
};

StreamCallbacks collect(StreamResult& result) {
  return {
      [&result](int status, const Headers& headers) {
        result.status = status;
        result.headers = headers;
      },
      [&result](std::string_view bytes) {
        result.pieces.emplace_back(bytes);
        if (!result.got_first) {
          result.got_first = true;
          result.first_data.set_value();
        }
      },
      [&result](Status status) { result.ended.set_value(std::move(status)); },
  };
}

std::string joined(const std::vector<std::string>& pieces) {
  std::string out;
  for (const auto& piece : pieces) out += piece;
  return out;
}

TEST_CASE("a chunked stream is delivered while it arrives, then ends cleanly") {
  TestServer server([](const HttpRequest&) {
    TestReply reply;
    reply.headers["Content-Type"] = "application/json";
    reply.chunks = {{0ms, "{\"type\":\"ADDED\"}\n"}, {300ms, "{\"type\":\"MOD"}, {50ms, "IFIED\"}\n"}};
    return reply;
  });
  ClientLoop loop;
  HttpClient client(loop.executor(), {.base_url = server.url()});
  REQUIRE(client.init().ok());
  StreamResult result;
  auto first = result.first_data.get_future();
  auto ended = result.ended.get_future();
  const auto started = std::chrono::steady_clock::now();
  auto stream = client.stream(get("/api/v1/pods?watch=true"), collect(result));
  REQUIRE(first.wait_for(10s) == std::future_status::ready);
  CHECK(std::chrono::steady_clock::now() - started < 250ms);  // before the later chunks were sent
  REQUIRE(ended.wait_for(10s) == std::future_status::ready);
  CHECK(ended.get().ok());
  CHECK(result.status == 200);
  CHECK(joined(result.pieces) == "{\"type\":\"ADDED\"}\n{\"type\":\"MODIFIED\"}\n");
}

TEST_CASE("a stream carries the User-Agent too") {
  TestServer server(echo_header("user-agent", "(none)"));
  ClientLoop loop;
  HttpClient client(loop.executor(), {.base_url = server.url()});
  REQUIRE(client.init().ok());
  StreamResult result;
  auto ended = result.ended.get_future();
  auto stream = client.stream(get("/"), collect(result));
  REQUIRE(ended.wait_for(10s) == std::future_status::ready);
  CHECK(joined(result.pieces) == kBerthdUserAgent);
}

TEST_CASE("a stream with a Content-Length body is delivered too") {
  TestServer server([](const HttpRequest&) { return TestReply{.status = 410, .body = "{\"code\":410}"}; });
  ClientLoop loop;
  HttpClient client(loop.executor(), {.base_url = server.url()});
  REQUIRE(client.init().ok());
  StreamResult result;
  auto ended = result.ended.get_future();
  auto stream = client.stream(get("/"), collect(result));
  REQUIRE(ended.wait_for(10s) == std::future_status::ready);
  CHECK(ended.get().ok());
  CHECK(result.status == 410);
  CHECK(joined(result.pieces) == "{\"code\":410}");
}

TEST_CASE("cancel() ends a stream once; an idle timeout ends a silent one") {
  TestServer server([](const HttpRequest&) {
    TestReply reply;
    reply.chunks = {{0ms, "first\n"}, {5000ms, "never\n"}};
    return reply;
  });
  ClientLoop loop;
  HttpClient client(loop.executor(), {.base_url = server.url()});
  REQUIRE(client.init().ok());

  SECTION("cancel") {
    StreamResult result;
    auto first = result.first_data.get_future();
    auto ended = result.ended.get_future();
    auto stream = client.stream(get("/"), collect(result));
    REQUIRE(first.wait_for(10s) == std::future_status::ready);
    stream->cancel();
    REQUIRE(ended.wait_for(2s) == std::future_status::ready);
    CHECK_FALSE(ended.get().ok());
  }
  SECTION("idle timeout") {
    StreamResult result;
    auto ended = result.ended.get_future();
    auto stream = client.stream(get("/"), collect(result), 200ms);
    REQUIRE(ended.wait_for(3s) == std::future_status::ready);
    Status status = ended.get();
    CHECK(status.code() == StatusCode::kDeadlineExceeded);
    CHECK(joined(result.pieces) == "first\n");
  }
}

TEST_CASE("init() refuses bad URLs and bad PEMs") {
  ClientLoop loop;
  CHECK(HttpClient(loop.executor(), {.base_url = "ftp://x"}).init().code() == StatusCode::kInvalidArgument);
  CHECK(HttpClient(loop.executor(), {.base_url = "not a url"}).init().code() == StatusCode::kInvalidArgument);
  CHECK(HttpClient(loop.executor(), {.base_url = "https://x", .ca_pem = "garbage"}).init().code() ==
        StatusCode::kInvalidArgument);
}

TEST_CASE("TLS: verified against the CA, with SNI override, client certificates and skip-verify") {
  const auto pki = testing::make_test_pki({"kubernetes.default.svc"});
  ClientLoop loop;

  SECTION("trusted CA") {
    TestServer server([](const HttpRequest&) { return TestReply{.body = "secure"}; }, server_tls(pki, false));
    HttpClient client(loop.executor(), {.base_url = server.url(), .ca_pem = pki.ca.cert_pem});
    REQUIRE(client.init().ok());
    auto response = fetch(client, get("/"));
    REQUIRE(response.ok());
    CHECK(response->body == "secure");
    REQUIRE(fetch(client, get("/")).ok());
    CHECK(server.accepted() == 1);
  }
  SECTION("unknown CA is a retryable failure; skip-verify connects") {
    const auto other = testing::make_test_pki();
    TestServer server([](const HttpRequest&) { return TestReply{.body = "secure"}; }, server_tls(pki, false));
    HttpClient strict(loop.executor(), {.base_url = server.url(), .ca_pem = other.ca.cert_pem});
    REQUIRE(strict.init().ok());
    auto refused = fetch(strict, get("/"));
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.status().code() == StatusCode::kUnavailable);
    CHECK_THAT(refused.status().message(), Catch::Contains("TLS"));

    HttpClient lax(loop.executor(), {.base_url = server.url(), .insecure_skip_verify = true});
    REQUIRE(lax.init().ok());
    CHECK(fetch(lax, get("/")).ok());
  }
  SECTION("server name override") {
    TestServer server([](const HttpRequest&) { return TestReply{.body = "secure"}; }, server_tls(pki, false));
    HttpClient named(loop.executor(), {.base_url = server.url(), .ca_pem = pki.ca.cert_pem,
                                       .server_name = "kubernetes.default.svc"});
    REQUIRE(named.init().ok());
    CHECK(fetch(named, get("/")).ok());
    HttpClient wrong(loop.executor(), {.base_url = server.url(), .ca_pem = pki.ca.cert_pem,
                                       .server_name = "elsewhere.example"});
    REQUIRE(wrong.init().ok());
    CHECK_FALSE(fetch(wrong, get("/")).ok());
  }
  SECTION("client certificate") {
    TestServer server([](const HttpRequest& request) { return TestReply{.body = request.client_cert_subject}; },
                      server_tls(pki, true));
    HttpClient with_cert(loop.executor(), {.base_url = server.url(), .ca_pem = pki.ca.cert_pem,
                                           .client_cert_pem = pki.client.cert_pem,
                                           .client_key_pem = pki.client.key_pem});
    REQUIRE(with_cert.init().ok());
    auto response = fetch(with_cert, get("/"));
    REQUIRE(response.ok());
    CHECK_THAT(response->body, Catch::Contains("CN=test-client"));
    HttpClient without(loop.executor(), {.base_url = server.url(), .ca_pem = pki.ca.cert_pem});
    REQUIRE(without.init().ok());
    CHECK_FALSE(fetch(without, get("/")).ok());
  }
  SECTION("a TLS stream") {
    TestServer server(
        [](const HttpRequest&) {
          TestReply reply;
          reply.chunks = {{0ms, "a"}, {20ms, "b"}};
          return reply;
        },
        server_tls(pki, false));
    HttpClient client(loop.executor(), {.base_url = server.url(), .ca_pem = pki.ca.cert_pem});
    REQUIRE(client.init().ok());
    StreamResult result;
    auto ended = result.ended.get_future();
    auto stream = client.stream(get("/"), collect(result));
    REQUIRE(ended.wait_for(10s) == std::future_status::ready);
    CHECK(ended.get().ok());
    CHECK(joined(result.pieces) == "ab");
  }
}

// The same client against the project's own server (the simulators run on it).
TEST_CASE("against net::HttpServer: keep-alive, a chunked stream, reconnect after the server drops connections") {
  boost::asio::io_context server_io;
  HttpServer server(server_io.get_executor(), {}, [&](HttpRequest request, std::shared_ptr<ResponseWriter> writer) {
    if (request.path == "/watch") {
      writer->start_stream(200, {{"content-type", "application/json"}});
      writer->write("{\"type\":\"ADDED\"}\n");
      writer->write("{\"type\":\"DELETED\"}\n");
      writer->end();
      return;
    }
    writer->respond(HttpResponse{200, {{"content-type", "text/plain"}}, request.method + " " + request.target});
  });
  REQUIRE(server.start().ok());
  auto guard = boost::asio::make_work_guard(server_io);
  std::thread server_thread([&] { server_io.run(); });

  {
    ClientLoop loop;
    HttpClient client(loop.executor(), {.base_url = "http://" + server.address()});
    REQUIRE(client.init().ok());
    for (int i = 0; i < 3; ++i) {
      auto response = fetch(client, get("/api/v1/pods?i=" + std::to_string(i)));
      REQUIRE(response.ok());
      CHECK(response->body == "GET /api/v1/pods?i=" + std::to_string(i));
    }
    CHECK(server.open_connections() == 1);

    StreamResult result;
    auto ended = result.ended.get_future();
    auto stream = client.stream(get("/watch"), collect(result));
    REQUIRE(ended.wait_for(10s) == std::future_status::ready);
    CHECK(ended.get().ok());
    CHECK(joined(result.pieces) == "{\"type\":\"ADDED\"}\n{\"type\":\"DELETED\"}\n");

    server.close_all_connections();
    auto again = fetch(client, get("/after"));
    REQUIRE(again.ok());
    CHECK(again->body == "GET /after");
  }
  server.stop();
  guard.reset();
  server_io.stop();
  server_thread.join();
}

// On an io_context run by several threads, a stream's callbacks must still come one at a time and
// in order (adapters parse what arrives as a byte stream).
TEST_CASE("stream callbacks stay in order and never overlap on a multi-threaded io_context") {
  boost::asio::io_context server_io;
  constexpr int kChunks = 3000;
  HttpServer server(server_io.get_executor(), {}, [&](HttpRequest, std::shared_ptr<ResponseWriter> writer) {
    writer->start_stream(200, {{"content-type", "text/plain"}});
    for (int i = 0; i < kChunks; ++i) writer->write(std::to_string(i) + "\n");
    writer->end();
  });
  REQUIRE(server.start().ok());
  auto server_guard = boost::asio::make_work_guard(server_io);
  std::thread server_thread([&] { server_io.run(); });

  boost::asio::io_context client_io;
  auto client_guard = boost::asio::make_work_guard(client_io);
  std::vector<std::thread> client_threads;
  for (int i = 0; i < 4; ++i) client_threads.emplace_back([&] { client_io.run(); });
  {
    HttpClient client(client_io.get_executor(), {.base_url = "http://" + server.address()});
    REQUIRE(client.init().ok());
    std::string received;
    std::atomic<int> inside{0};
    std::atomic<bool> overlapped{false};
    std::promise<Status> ended;
    StreamCallbacks callbacks;
    callbacks.on_data = [&](std::string_view bytes) {
      if (inside.fetch_add(1) != 0) overlapped = true;
      std::this_thread::sleep_for(20us);  // a handler that takes a moment, as a parser does
      received.append(bytes);
      inside.fetch_sub(1);
    };
    callbacks.on_end = [&](Status status) { ended.set_value(std::move(status)); };
    auto stream = client.stream(get("/"), std::move(callbacks));
    auto future = ended.get_future();
    REQUIRE(future.wait_for(20s) == std::future_status::ready);
    CHECK(future.get().ok());
    CHECK_FALSE(overlapped);
    std::string expected;
    for (int i = 0; i < kChunks; ++i) expected += std::to_string(i) + "\n";
    CHECK(received == expected);
  }
  client_guard.reset();
  client_io.stop();
  for (auto& t : client_threads) t.join();
  server.stop();
  server_guard.reset();
  server_io.stop();
  server_thread.join();
}

}  // namespace
}  // namespace berth::net
