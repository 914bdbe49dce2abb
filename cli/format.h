// Rendering of berth.v1 responses for berthctl, and the small text parsers its options need.
//
// Nothing here talks to the network: every function is pure and unit-tested on its own.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "berth/v1/berth.pb.h"

namespace berth::cli {

enum class OutputFormat { kTable, kJson };

// Splits "KEY=VALUE" at the first '='. The key must not be empty; the value may be, and may
// itself contain '='. Returns nullopt when the text is not of that form.
std::optional<std::pair<std::string, std::string>> parse_key_value(std::string_view text);

// Parses an executor state name such as "RUNNING" or "running". Rejects the UNSPECIFIED value.
std::optional<v1::ExecutorState> parse_executor_state(std::string_view name);

// An aligned text table, as kubectl prints them: a header row, then one row per item, columns
// separated by three spaces, no trailing blanks. An empty cell prints as "-" so that every row
// has the same number of whitespace-separated fields.
class Table {
 public:
  explicit Table(std::vector<std::string> header);

  // A row with fewer cells than the header is padded with empty cells; extra cells are dropped.
  void add_row(std::vector<std::string> cells);

  std::string render() const;

 private:
  std::vector<std::vector<std::string>> rows_;  // rows_[0] is the header
};

// RFC 3339 in UTC, e.g. "2024-05-01T12:00:00Z"; "-" for an unset (zero) timestamp.
std::string format_timestamp(const google::protobuf::Timestamp& timestamp);

// The canonical name of a gRPC status code ("INVALID_ARGUMENT", "UNAVAILABLE" ...).
std::string status_code_name(int code);

// The line berthctl prints to stderr for a failed call: "berthctl: <CODE>: <message>".
std::string format_error(int code, std::string_view message);

// Where berthctl took the daemon's address from.
enum class AddressSource { kDefault, kOption, kEnvironment };

// What berthctl adds after an UNAVAILABLE error when it could not connect at all: which address
// it tried, where that came from, and how to give another one. One line, no newline.
std::string unreachable_hint(const std::string& address, AddressSource source);

// Protobuf's standard JSON mapping (lowerCamelCase names, enums by name, 64-bit integers as
// strings). Pretty output spans several lines; compact output is exactly one line. Both end with
// a newline.
std::string to_json(const google::protobuf::Message& message, bool pretty);

// Table renderings, one per response type. Each ends with a newline.
std::string render_table(const v1::StatusResponse& response);
std::string render_table(const v1::ListPoolsResponse& response);
std::string render_table(const v1::DrainPoolResponse& response);
std::string render_table(const v1::ListApplicationsResponse& response);
std::string render_table(const v1::Application& application);  // a detailed description
std::string render_table(const v1::RequestTotalExecutorsResponse& response);
std::string render_table(const v1::ListExecutorsResponse& response);
std::string render_table(const v1::KillExecutorsResponse& response);
std::string render_table(const v1::DecommissionExecutorsResponse& response);
std::string render_table(const v1::KeepAliveResponse& response);

// One line (with its newline) per watched event, as key=value pairs after the revision and type:
//   42 EXECUTOR app=a1 executor=3 profile=0 state=RUNNING pool=local host=h1 backend=a1-exec-3
std::string render_event_line(const v1::Event& event);

// The result of a health check: "SERVING" in a table, {"status":"SERVING"} in JSON.
std::string render_health(std::string_view status_name, OutputFormat format);

}  // namespace berth::cli
