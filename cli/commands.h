// berthctl's command line: every command and option, turned into one typed Invocation.
//
// Parsing builds the exact request message that will be sent, so tests can check what a command
// line asks of the daemon without a daemon. Calling it is client.h's job.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "berth/v1/berth.pb.h"
#include "cli/format.h"

namespace CLI {
class App;
}

namespace berth::cli {

// Where the daemon is and how to authenticate to it.
struct ConnectionOptions {
  std::string address = "127.0.0.1:7433";
  AddressSource address_source = AddressSource::kDefault;
  std::string token_file;   // empty = no bearer token
  bool tls = false;         // true when --tls, --ca-file or --cert-file is given
  std::string ca_file;      // empty with tls = the system's roots
  std::string cert_file;    // client certificate for mTLS, with key_file
  std::string key_file;
  std::string server_name;  // TLS target name override
  double timeout_seconds = 10;  // deadline of each unary call; 0 = none
};

// `health`: grpc.health.v1.Health/Check for one service ("" = the whole server).
struct HealthCheck {
  std::string service;
};

// `watch`: stream events until interrupted, until max_events live events have been printed (0 =
// no limit; live: after the snapshot's SYNCED, or with from_revision after that revision), or,
// with until_synced, until the snapshot's SYNCED.
struct WatchEvents {
  v1::WatchEventsRequest request;
  std::uint64_t max_events = 0;
  bool until_synced = false;
};

// What one command line asks for. Each alternative names one RPC.
using Request = std::variant<HealthCheck, v1::StatusRequest, v1::ListPoolsRequest,
                             v1::ListApplicationsRequest, v1::DrainPoolRequest,
                             v1::RegisterApplicationRequest, v1::GetApplicationRequest,
                             v1::UnregisterApplicationRequest, v1::KeepAliveRequest,
                             v1::RequestTotalExecutorsRequest, v1::ListExecutorsRequest,
                             v1::KillExecutorsRequest, v1::DecommissionExecutorsRequest,
                             WatchEvents>;

struct Invocation {
  ConnectionOptions connection;
  OutputFormat output = OutputFormat::kTable;
  Request request;
};

// The parser for berthctl's arguments. One CommandLine parses one command line.
class CommandLine {
 public:
  CommandLine();
  ~CommandLine();
  CommandLine(const CommandLine&) = delete;
  CommandLine& operator=(const CommandLine&) = delete;

  // The underlying CLI11 application, for help and for CLI::App::exit on a parse error.
  CLI::App& app();

  // Parses argv (argv[0] is the program name). Throws CLI::ParseError, as CLI::App::parse does,
  // for --help, --version and every usage error.
  Invocation parse(int argc, const char* const* argv);

  // The same, for arguments without the program name (tests).
  Invocation parse(const std::vector<std::string>& args);

 private:
  struct Values;
  std::unique_ptr<Values> values_;
  std::unique_ptr<CLI::App> app_;
};

}  // namespace berth::cli
