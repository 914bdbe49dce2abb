#include "adapters/common/http_options.h"

#include <catch2/catch.hpp>

namespace berth::adapters {
namespace {

struct Connection {
  std::string ca_pem = "ca";
  std::string client_cert_pem = "cert";
  std::string client_key_pem = "key";
  std::string server_name = "api.internal";
  bool insecure_skip_verify = true;
};

TEST_CASE("client options carry the connection's TLS and pooling settings") {
  const net::HttpClientOptions options =
      http_client_options("https://10.0.0.1:6443", tls_settings_of(Connection{}), 7, std::chrono::seconds(12));
  CHECK(options.base_url == "https://10.0.0.1:6443");
  CHECK(options.ca_pem == "ca");
  CHECK(options.client_cert_pem == "cert");
  CHECK(options.client_key_pem == "key");
  CHECK(options.server_name == "api.internal");
  CHECK(options.insecure_skip_verify);
  CHECK(options.max_connections == 7);
  CHECK(options.request_timeout == std::chrono::milliseconds(12000));
  CHECK(options.user_agent == kBerthdUserAgent);
}

}  // namespace
}  // namespace berth::adapters
