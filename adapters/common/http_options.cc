#include "adapters/common/http_options.h"

namespace berth::adapters {

net::HttpClientOptions http_client_options(std::string base_url, const TlsSettings& tls, std::size_t max_connections,
                                           Duration request_timeout) {
  net::HttpClientOptions options;
  options.base_url = std::move(base_url);
  options.ca_pem = tls.ca_pem;
  options.client_cert_pem = tls.client_cert_pem;
  options.client_key_pem = tls.client_key_pem;
  options.server_name = tls.server_name;
  options.insecure_skip_verify = tls.insecure_skip_verify;
  options.max_connections = max_connections;
  options.request_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(request_timeout);
  return options;
}

}  // namespace berth::adapters
