#pragma once
// The HTTP client options of an adapter's connection to its backend, from the TLS and pooling
// settings of the pool's config (every adapter's connection section carries the same ones).
// net::HttpClient adds berthd's User-Agent itself. Pure; thread-safe.

#include <cstddef>
#include <string>

#include "core/types.h"
#include "net/http_client.h"

namespace berth::adapters {

struct TlsSettings {
  std::string ca_pem;           // empty: the system's roots
  std::string client_cert_pem;  // mTLS, with client_key_pem (empty: none)
  std::string client_key_pem;
  std::string server_name;      // SNI and verification name (empty: the URL's host)
  bool insecure_skip_verify = false;
};

net::HttpClientOptions http_client_options(std::string base_url, const TlsSettings& tls, std::size_t max_connections,
                                           Duration request_timeout);

// The same settings from a connection section that names them as TlsSettings does.
template <typename Connection>
TlsSettings tls_settings_of(const Connection& connection) {
  return TlsSettings{connection.ca_pem, connection.client_cert_pem, connection.client_key_pem,
                     connection.server_name, connection.insecure_skip_verify};
}

}  // namespace berth::adapters
