#pragma once
// TLS helpers shared by net's server and client: SSL contexts built from PEM text (or files),
// and the subject of a peer certificate. Generic: nothing here knows about a backend.
//
// Thread-safety: free functions without shared state. A returned context may be shared by
// many streams once built (OpenSSL contexts are safe to use concurrently after set-up).

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>

#include "base/files.h"
#include "base/status.h"

typedef struct ssl_st SSL;

namespace berth::net {

struct TlsServerConfig {
  std::string cert_pem;       // server certificate chain, PEM
  std::string key_pem;        // its private key, PEM
  std::string client_ca_pem;  // non-empty: require a client certificate signed by one of these
};

struct TlsClientConfig {
  std::string ca_pem;          // PEM bundle to verify the server; empty = system default roots
  std::string cert_pem;        // client certificate for mTLS, PEM (optional)
  std::string key_pem;         // its private key, PEM
  bool insecure_skip_verify = false;
};

// Reads a whole PEM file: a regular file of at most kMaxPemFileBytes (base/files.h's
// read_regular_file and its errors, which name the path).
StatusOr<std::string> read_file(const std::string& path);

// TLS 1.2+ server context. kInvalidArgument if a PEM does not parse or the key does not match.
StatusOr<std::shared_ptr<boost::asio::ssl::context>> make_server_tls_context(const TlsServerConfig& config);
// Same, reading the three PEMs from files (client_ca_file may be empty).
StatusOr<std::shared_ptr<boost::asio::ssl::context>> make_server_tls_context_from_files(
    const std::string& cert_file, const std::string& key_file, const std::string& client_ca_file);

// TLS 1.2+ client context with peer verification (unless insecure_skip_verify). The caller still
// sets SNI and the expected host name per stream (see set_client_server_name).
StatusOr<std::shared_ptr<boost::asio::ssl::context>> make_client_tls_context(const TlsClientConfig& config);

// Sets SNI and host-name verification (DNS name or IP literal) on one client SSL handle.
Status set_client_server_name(SSL* ssl, const std::string& host, bool verify);

// The verified peer certificate's subject in RFC 2253 form ("CN=alice,O=team-a"); empty if none.
std::string peer_certificate_subject(SSL* ssl);

}  // namespace berth::net
