#pragma once
// The JSON API of the status page (GET /api/v1/...), apart from the HTTP server that serves it:
// parsing a request into a StatusQuery, and answering it from the Engine for one caller. The
// documents are built from the berth.v1 messages in proto3's JSON mapping, the same as
// `berthctl -o json` prints (camelCase names, 64-bit integers as strings, fields at their default
// value omitted), so that scripts read one vocabulary.
//
//   GET /api/v1/status
//       {"daemon": StatusResponse, "caller": {"tenant", "operator", "anonymous"},
//        "pools": [Pool] (operators only), "applications": [Application without its launch spec]}
//   GET /api/v1/apps/<app id or key>[?limit=N]
//       {"application": Application, "executors": [Executor], "truncated": bool}
//       the newest N executors (default 500, at most 5000), in id order
//   GET /api/v1/events[?from=REV][&limit=N][&app=ID]
//       {"revision": "REV", "events": [Event], "resync": bool, "more": bool}
//       events after revision REV, oldest first, at most N (default 100, at most 1000); without
//       `from`, the newest N. `more`: ask again from the last event's revision. `resync`: REV is
//       no longer (or not yet) in the event window, the newest N follow instead.
//
// Applications are named as in the gRPC API (daemon/app_lookup.h): operators by Application.key.
// A caller sees what the gRPC API lets it see: operators and anonymous callers (no tokens
// configured) everything, a tenant its own applications and their events, and no pools.
//
// Threading: parse_status_query is pure; answer() reads the Engine and must run on its strand.

#include <optional>
#include <regex>
#include <string>

#include "base/status.h"
#include "core/engine.h"
#include "daemon/auth.h"

namespace berth {

struct StatusQuery {
  enum class Kind { kStatus, kApp, kEvents };
  Kind kind = Kind::kStatus;
  AppId app;                        // kApp; kEvents: an optional filter
  std::optional<Revision> from;     // kEvents
  std::size_t limit = 0;            // kApp, kEvents: the default when not asked
};

inline constexpr std::size_t kDefaultExecutorLimit = 500;
inline constexpr std::size_t kMaxExecutorLimit = 5000;
inline constexpr std::size_t kDefaultEventLimit = 100;
inline constexpr std::size_t kMaxEventLimit = 1000;

// `path` is the decoded path under /api/v1/ ("status", "apps/<id>", "events"); `query` the
// decoded parameters. Errors: kNotFound for an unknown path, kInvalidArgument naming the
// parameter for a bad value or an unknown parameter.
StatusOr<StatusQuery> parse_status_query(const std::string& path,
                                         const std::vector<std::pair<std::string, std::string>>& query);

// Whether an HTTP Host header names this host by address: an IPv4 or [IPv6] literal, or
// localhost (or a name under .localhost), with or without a port. Without tokens, a loopback
// status server answers its API only to such requests, so that a web page the operator visits
// cannot read it through a name it rebinds to 127.0.0.1 (DNS rebinding).
bool is_address_host(const std::string& host_header);

struct DaemonInfo {
  std::string daemon_id;
  std::string version;
  Timestamp started;
  std::shared_ptr<const std::regex> redact_env;  // launch env names whose values are hidden
  TenantName default_tenant;                     // whose applications are named by id alone
};

// The JSON document answering `query` for `caller`. On the strand.
// Errors: kNotFound for an application the caller may not see or that does not exist.
StatusOr<std::string> answer(const Engine& engine, const DaemonInfo& info, const Caller& caller,
                             const StatusQuery& query);

}  // namespace berth
