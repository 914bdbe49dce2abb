// HttpServer over real loopback sockets: plain and TLS (with a client certificate), keep-alive,
// chunked streams arriving chunk by chunk, abort / close_all_connections, client disconnects.
// The client side is a small blocking Asio/Beast client; certificates come from the openssl CLI.
#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <thread>

#include "net/http_server.h"
#include "net/tls.h"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using berth::net::HttpRequest;
using berth::net::HttpResponse;
using berth::net::HttpServer;
using berth::net::HttpServerOptions;
using berth::net::ResponseWriter;

namespace {

template <class Predicate>
bool wait_until(Predicate predicate, std::chrono::milliseconds deadline = 10s) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    if (predicate()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return predicate();
}

// A server on its own io_context thread.
struct ServerFixture {
  asio::io_context io;
  std::unique_ptr<HttpServer> server;
  std::thread thread;
  std::mutex mutex;
  std::vector<HttpRequest> seen;
  std::vector<std::shared_ptr<ResponseWriter>> stream_writers;  // kept: dropping one ends its stream
  std::atomic<int> closes{0};

  explicit ServerFixture(HttpServerOptions options = {}) {
    server = std::make_unique<HttpServer>(io.get_executor(), options,
                                          [this](HttpRequest request, std::shared_ptr<ResponseWriter> writer) {
                                            handle(std::move(request), std::move(writer));
                                          });
    auto status = server->start();
    INFO(status.to_string());
    REQUIRE(status.ok());
    thread = std::thread([this] {
      auto guard = asio::make_work_guard(io);
      io.run();
    });
  }
  ~ServerFixture() {
    server->stop();
    io.stop();
    thread.join();
  }

  void handle(HttpRequest request, std::shared_ptr<ResponseWriter> writer) {
    {
      std::lock_guard lock(mutex);
      seen.push_back(request);
    }
    if (request.path == "/stream") {
      writer->on_close([this] { ++closes; });
      writer->start_stream(200, {{"content-type", "application/json"}});
      writer->write("first\n");
      std::lock_guard lock(mutex);
      stream_writers.push_back(writer);
      return;
    }
    HttpResponse response;
    response.headers["content-type"] = "text/plain";
    response.headers["x-remote-subject"] = request.client_cert_subject;
    std::string body = request.method + " " + request.path;
    for (const auto& [key, value] : request.query) body += " [" + key + "=" + value + "]";
    if (!request.body.empty()) body += " body=" + request.body;
    response.body = body;
    writer->respond(std::move(response));
  }

  std::shared_ptr<ResponseWriter> current_stream() {
    std::lock_guard lock(mutex);
    return stream_writers.empty() ? nullptr : stream_writers.back();
  }
  std::string port() const { return std::to_string(server->port()); }
};

http::response<http::string_body> roundtrip(beast::tcp_stream& stream, const std::string& target,
                                            http::verb verb = http::verb::get, std::string body = {}) {
  http::request<http::string_body> request{verb, target, 11};
  request.set(http::field::host, "localhost");
  if (!body.empty()) {
    request.body() = std::move(body);
    request.prepare_payload();
  }
  http::write(stream, request);
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(stream, buffer, response);
  return response;
}

beast::tcp_stream connect(asio::io_context& io, const std::string& port) {
  beast::tcp_stream stream(io);
  stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<std::uint16_t>(std::stoi(port))));
  return stream;
}

// Reads raw bytes until `needle` has arrived (or the deadline passes).
bool read_until_contains(beast::tcp_stream& stream, std::string& raw, const std::string& needle) {
  stream.expires_after(10s);
  char buffer[4096];
  while (raw.find(needle) == std::string::npos) {
    beast::error_code ec;
    const auto n = stream.read_some(asio::buffer(buffer), ec);
    if (ec) return false;
    raw.append(buffer, n);
  }
  return true;
}

struct Pki {
  std::filesystem::path dir;
  Pki() {
    dir = std::filesystem::temp_directory_path() /
          ("berth-net-test-" + std::to_string(::getpid()) + "-" + std::to_string(std::rand()));
    std::filesystem::create_directories(dir);
    const std::string d = dir.string();
    const std::string key = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    const std::string script =
        "set -e; cd '" + d + "'; "
        "openssl req -x509" + key + " -keyout ca.key -out ca.crt -days 2 -subj /CN=test-ca "
        "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign; "
        "openssl req" + key + " -keyout server.key -out server.csr -subj /CN=localhost; "
        "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > server.ext; "
        "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
        "-extfile server.ext -out server.crt; "
        "openssl req" + key + " -keyout client.key -out client.csr -subj '/O=team-a/CN=alice'; "
        "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -out client.crt";
    const std::string command = "sh -c \"" + script + "\" >/dev/null 2>&1";
    REQUIRE(std::system(command.c_str()) == 0);
  }
  ~Pki() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::string file(const char* name) const { return (dir / name).string(); }
};

}  // namespace

TEST_CASE("plain request: method, decoded path and query, body, remote") {
  ServerFixture fixture;
  asio::io_context io;
  auto stream = connect(io, fixture.port());
  auto response = roundtrip(stream, "/a%20b/c?x=1&y=hello%2Fworld&z=a+b&flag", http::verb::post, "payload");
  CHECK(response.result_int() == 200);
  CHECK(response.body() == "POST /a b/c [x=1] [y=hello/world] [z=a b] [flag=] body=payload");
  std::lock_guard lock(fixture.mutex);
  REQUIRE(fixture.seen.size() == 1);
  CHECK(fixture.seen[0].target == "/a%20b/c?x=1&y=hello%2Fworld&z=a+b&flag");
  CHECK(fixture.seen[0].remote.rfind("127.0.0.1:", 0) == 0);
  CHECK(fixture.seen[0].header("host") == "localhost");
  CHECK(fixture.seen[0].param("y") == "hello/world");
}

TEST_CASE("keep-alive: several requests reuse one connection") {
  ServerFixture fixture;
  asio::io_context io;
  auto stream = connect(io, fixture.port());
  for (int i = 0; i < 5; ++i) {
    auto response = roundtrip(stream, "/n/" + std::to_string(i));
    CHECK(response.body() == "GET /n/" + std::to_string(i));
    CHECK(response.keep_alive());
  }
  CHECK(fixture.server->open_connections() == 1);
  std::lock_guard lock(fixture.mutex);
  CHECK(fixture.seen.size() == 5);
}

TEST_CASE("Connection: close is honoured and the server closes") {
  ServerFixture fixture;
  asio::io_context io;
  auto stream = connect(io, fixture.port());
  http::request<http::string_body> request{http::verb::get, "/bye", 11};
  request.set(http::field::host, "localhost");
  request.keep_alive(false);
  http::write(stream, request);
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(stream, buffer, response);
  CHECK(response.body() == "GET /bye");
  CHECK_FALSE(response.keep_alive());
  beast::error_code ec;
  char byte;
  stream.expires_after(5s);
  stream.read_some(asio::buffer(&byte, 1), ec);
  CHECK(ec == asio::error::eof);
  CHECK(wait_until([&] { return fixture.server->open_connections() == 0; }));
}

TEST_CASE("streaming: chunks arrive one by one, then the connection is reused") {
  ServerFixture fixture;
  asio::io_context io;
  auto stream = connect(io, fixture.port());
  http::request<http::empty_body> request{http::verb::get, "/stream", 11};
  request.set(http::field::host, "localhost");
  http::write(stream, request);

  std::string raw;
  REQUIRE(read_until_contains(stream, raw, "first\n"));
  CHECK(raw.find("transfer-encoding: chunked") != std::string::npos);
  CHECK(raw.find("second") == std::string::npos);
  REQUIRE(wait_until([&] { return fixture.current_stream() != nullptr; }));
  auto writer = fixture.current_stream();

  std::atomic<int> acknowledged{0};
  writer->write("second\n", [&](bool ok) { acknowledged += ok ? 1 : 100; });
  REQUIRE(read_until_contains(stream, raw, "second\n"));
  CHECK(wait_until([&] { return acknowledged == 1; }));
  writer->end();
  REQUIRE(read_until_contains(stream, raw, "0\r\n\r\n"));
  CHECK(fixture.closes == 0);

  // The same connection serves the next request.
  auto response = roundtrip(stream, "/after");
  CHECK(response.body() == "GET /after");
  CHECK(fixture.server->open_connections() == 1);
  writer->write("late", [&](bool ok) { acknowledged += ok ? 1 : 100; });
  CHECK(wait_until([&] { return acknowledged == 101; }));  // a finished stream refuses writes
}

TEST_CASE("streaming: the client going away is reported through on_close and write(done)") {
  ServerFixture fixture;
  {
    asio::io_context io;
    auto stream = connect(io, fixture.port());
    http::request<http::empty_body> request{http::verb::get, "/stream", 11};
    request.set(http::field::host, "localhost");
    http::write(stream, request);
    std::string raw;
    REQUIRE(read_until_contains(stream, raw, "first\n"));
    REQUIRE(wait_until([&] { return fixture.current_stream() != nullptr; }));
  }  // the client closes its socket
  CHECK(wait_until([&] { return fixture.closes == 1; }));
  auto writer = fixture.current_stream();
  CHECK(writer->closed());
  std::atomic<int> failed{0};
  writer->write("nobody", [&](bool ok) { failed += ok ? 0 : 1; });
  CHECK(wait_until([&] { return failed == 1; }));
  CHECK(wait_until([&] { return fixture.server->open_connections() == 0; }));
}

TEST_CASE("abort and close_all_connections drop streams") {
  ServerFixture fixture;
  asio::io_context io;
  auto open_stream = [&] {
    auto stream = connect(io, fixture.port());
    http::request<http::empty_body> request{http::verb::get, "/stream", 11};
    request.set(http::field::host, "localhost");
    http::write(stream, request);
    std::string raw;
    REQUIRE(read_until_contains(stream, raw, "first\n"));
    return stream;
  };
  auto read_to_end = [](beast::tcp_stream& stream) {
    std::string raw;
    return !read_until_contains(stream, raw, "never-sent");
  };

  SECTION("abort") {
    auto stream = open_stream();
    REQUIRE(wait_until([&] { return fixture.current_stream() != nullptr; }));
    fixture.current_stream()->abort();
    CHECK(read_to_end(stream));
    CHECK(wait_until([&] { return fixture.closes == 1; }));
  }
  SECTION("close_all_connections") {
    auto first = open_stream();
    auto second = open_stream();
    auto idle = connect(io, fixture.port());
    CHECK(roundtrip(idle, "/x").result_int() == 200);
    CHECK(wait_until([&] { return fixture.server->open_connections() == 3; }));
    fixture.server->close_all_connections();
    CHECK(read_to_end(first));
    CHECK(read_to_end(second));
    CHECK(read_to_end(idle));
    CHECK(wait_until([&] { return fixture.closes == 2; }));
    CHECK(wait_until([&] { return fixture.server->open_connections() == 0; }));
    // Still accepting after the drop.
    auto again = connect(io, fixture.port());
    CHECK(roundtrip(again, "/y").body() == "GET /y");
  }
}

TEST_CASE("per-client connection limit: the connection over it gets a raw 429 and is closed") {
  HttpServerOptions options;
  options.max_connections_per_client = 2;
  options.too_many_connections_body = "slow down\n";
  ServerFixture fixture(options);
  asio::io_context io;
  auto first = connect(io, fixture.port());
  auto second = connect(io, fixture.port());
  CHECK(roundtrip(first, "/a").result_int() == 200);
  CHECK(roundtrip(second, "/b").result_int() == 200);

  auto third = connect(io, fixture.port());
  third.expires_after(10s);
  auto refused = roundtrip(third, "/c");
  CHECK(refused.result_int() == 429);
  CHECK(refused.body() == "slow down\n");
  CHECK_FALSE(refused.keep_alive());
  std::string raw;
  CHECK_FALSE(read_until_contains(third, raw, "never-sent"));  // closed

  // A slot frees when a connection closes; the first two were never affected.
  CHECK(roundtrip(first, "/d").result_int() == 200);
  second.close();
  CHECK(wait_until([&] { return fixture.server->open_connections() == 1; }));
  auto fourth = connect(io, fixture.port());
  CHECK(roundtrip(fourth, "/e").result_int() == 200);
  std::lock_guard lock(fixture.mutex);
  CHECK(fixture.seen.size() == 4);  // the refused request never reached the handler
}

TEST_CASE("a body over max_body_bytes is refused with 413 as soon as its length is known") {
  HttpServerOptions options;
  options.max_body_bytes = 10;
  ServerFixture fixture(options);
  asio::io_context io;
  auto fits = connect(io, fixture.port());
  CHECK(roundtrip(fits, "/small", http::verb::post, "0123456789").result_int() == 200);
  auto over = connect(io, fixture.port());
  over.expires_after(10s);
  auto refused = roundtrip(over, "/large", http::verb::post, std::string(11, 'x'));
  CHECK(refused.result_int() == 413);
  std::lock_guard lock(fixture.mutex);
  CHECK(fixture.seen.size() == 1);  // the refused request never reached the handler
}

TEST_CASE("a handler that drops its writer answers 500") {
  asio::io_context io;
  HttpServer server(io.get_executor(), {}, [](HttpRequest, std::shared_ptr<ResponseWriter>) {});
  REQUIRE(server.start().ok());
  std::thread thread([&] { io.run_for(5s); });
  asio::io_context client_io;
  auto stream = connect(client_io, std::to_string(server.port()));
  CHECK(roundtrip(stream, "/").result_int() == 500);
  server.stop();
  io.stop();
  thread.join();
}

TEST_CASE("listen errors name the address; port 0 picks a port") {
  asio::io_context io;
  HttpServer first(io.get_executor(), {}, [](HttpRequest, std::shared_ptr<ResponseWriter>) {});
  REQUIRE(first.start().ok());
  CHECK(first.port() != 0);
  CHECK(first.address() == "127.0.0.1:" + std::to_string(first.port()));
  HttpServerOptions options;
  options.listen = first.address();
  HttpServer second(io.get_executor(), options, [](HttpRequest, std::shared_ptr<ResponseWriter>) {});
  auto status = second.start();
  CHECK_FALSE(status.ok());
  CHECK(status.message().find(first.address()) != std::string::npos);
  options.listen = "127.0.0.1";
  HttpServer third(io.get_executor(), options, [](HttpRequest, std::shared_ptr<ResponseWriter>) {});
  CHECK_FALSE(third.start().ok());
}

TEST_CASE("TLS: server verified against the CA, client certificate subject exposed") {
  Pki pki;
  HttpServerOptions options;
  options.tls_cert_file = pki.file("server.crt");
  options.tls_key_file = pki.file("server.key");
  options.tls_client_ca_file = pki.file("ca.crt");
  ServerFixture fixture(options);

  auto make_client = [&](bool with_cert) {
    berth::net::TlsClientConfig config;
    config.ca_pem = *berth::net::read_file(pki.file("ca.crt"));
    if (with_cert) {
      config.cert_pem = *berth::net::read_file(pki.file("client.crt"));
      config.key_pem = *berth::net::read_file(pki.file("client.key"));
    }
    auto context = berth::net::make_client_tls_context(config);
    REQUIRE(context.ok());
    return *context;
  };

  asio::io_context io;
  auto context = make_client(true);
  beast::ssl_stream<beast::tcp_stream> stream(io, *context);
  REQUIRE(berth::net::set_client_server_name(stream.native_handle(), "127.0.0.1", true).ok());
  beast::get_lowest_layer(stream).connect(
      tcp::endpoint(asio::ip::make_address("127.0.0.1"), fixture.server->port()));
  stream.handshake(asio::ssl::stream_base::client);
  for (int i = 0; i < 2; ++i) {  // keep-alive over TLS
    http::request<http::empty_body> request{http::verb::get, "/secure?i=" + std::to_string(i), 11};
    request.set(http::field::host, "127.0.0.1");
    http::write(stream, request);
    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    http::read(stream, buffer, response);
    CHECK(response.body() == "GET /secure [i=" + std::to_string(i) + "]");
    CHECK(response["x-remote-subject"] == "CN=alice,O=team-a");
  }
  CHECK(fixture.server->open_connections() == 1);

  // Without a client certificate the handshake (or the first read) fails.
  auto anonymous_context = make_client(false);
  beast::ssl_stream<beast::tcp_stream> anonymous(io, *anonymous_context);
  beast::get_lowest_layer(anonymous).connect(
      tcp::endpoint(asio::ip::make_address("127.0.0.1"), fixture.server->port()));
  beast::error_code ec;
  anonymous.handshake(asio::ssl::stream_base::client, ec);
  if (!ec) {
    http::request<http::empty_body> request{http::verb::get, "/", 11};
    request.set(http::field::host, "127.0.0.1");
    http::write(anonymous, request, ec);
    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    if (!ec) http::read(anonymous, buffer, response, ec);
  }
  CHECK(ec);
}

TEST_CASE("TLS: a client that does not trust the server fails verification") {
  Pki pki;
  HttpServerOptions options;
  options.tls_cert_file = pki.file("server.crt");
  options.tls_key_file = pki.file("server.key");
  ServerFixture fixture(options);
  berth::net::TlsClientConfig config;
  config.ca_pem = *berth::net::read_file(pki.file("client.crt"));  // not the CA
  auto context = berth::net::make_client_tls_context(config);
  REQUIRE(context.ok());
  asio::io_context io;
  beast::ssl_stream<beast::tcp_stream> stream(io, **context);
  REQUIRE(berth::net::set_client_server_name(stream.native_handle(), "127.0.0.1", true).ok());
  beast::get_lowest_layer(stream).connect(
      tcp::endpoint(asio::ip::make_address("127.0.0.1"), fixture.server->port()));
  beast::error_code ec;
  stream.handshake(asio::ssl::stream_base::client, ec);
  CHECK(ec);
}

TEST_CASE("TLS helpers reject bad PEMs with a message") {
  berth::net::TlsServerConfig config;
  config.cert_pem = "not a pem";
  auto context = berth::net::make_server_tls_context(config);
  CHECK_FALSE(context.ok());
  CHECK(context.status().message().find("server certificate") != std::string::npos);
  CHECK_FALSE(berth::net::read_file("/nonexistent/file.pem").ok());
}
