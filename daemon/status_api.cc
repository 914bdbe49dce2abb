#include "daemon/status_api.h"

#include <google/protobuf/util/json_util.h>

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "daemon/app_lookup.h"
#include "daemon/convert.h"

namespace berth {

namespace {

constexpr std::size_t kMaxAppIdBytes = 253;

std::string json_of(const google::protobuf::Message& message) {
  std::string json;
  // Printing a valid message with the default options cannot fail.
  (void)google::protobuf::util::MessageToJsonString(message, &json, google::protobuf::util::JsonPrintOptions());
  return json;
}

std::string quote(const std::string& text) { return boost::json::serialize(boost::json::string(text)); }

const char* boolean(bool value) { return value ? "true" : "false"; }

StatusOr<std::uint64_t> parse_number(const std::string& name, const std::string& text, std::uint64_t min,
                                     std::uint64_t max) {
  std::uint64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value < min || value > max) {
    return Status::InvalidArgument(name + ": expected an integer from " + std::to_string(min) + " to " +
                                   std::to_string(max) + ", got \"" + text.substr(0, 40) + "\"");
  }
  return value;
}

bool visible(const Caller& caller, const AppId& app_filter, const Event& event) {
  return caller.may_access(event.tenant) && (app_filter.empty() || event.app_id() == app_filter);
}

void event_to_proto(const Event& event, v1::Event* out) {
  out->set_revision(event.revision);
  if (event.type == Event::Type::kExecutor) {
    out->set_type(v1::Event::EXECUTOR);
    to_proto(event.executor, out->mutable_executor());
  } else {
    out->set_type(v1::Event::APPLICATION);
    to_proto(*event.app, event.counts, out->mutable_application());
    out->mutable_application()->clear_launch();  // the spec is in /api/v1/apps/<id>
  }
}

std::string status_document(const Engine& engine, const DaemonInfo& info, const Caller& caller) {
  v1::StatusResponse daemon;
  daemon.set_version(info.version);
  daemon.set_daemon_id(info.daemon_id);
  to_proto(info.started, daemon.mutable_started());
  daemon.set_revision(engine.revision());
  daemon.set_serving(engine.ready());
  std::int32_t apps = 0;
  std::string applications;
  for (const Application* app : engine.apps()) {
    if (!caller.may_access(app->spec.tenant)) continue;
    ++apps;
    v1::Application out;
    to_proto(*app, engine.counts(app->spec.id), &out);
    out.clear_launch();
    if (!applications.empty()) applications += ',';
    applications += json_of(out);
  }
  daemon.set_applications(apps);
  if (caller.is_operator) daemon.set_live_executors(engine.live_executors());

  std::string out = "{\"daemon\":" + json_of(daemon);
  out += ",\"caller\":{\"tenant\":" + quote(caller.tenant) + ",\"operator\":" + boolean(caller.is_operator) +
         ",\"anonymous\":" + boolean(caller.anonymous) + "}";
  if (caller.is_operator) {
    out += ",\"pools\":[";
    bool first = true;
    for (const PoolStatus& pool : engine.pools()) {
      v1::Pool proto;
      to_proto(pool, &proto);
      if (!first) out += ',';
      first = false;
      out += json_of(proto);
    }
    out += "]";
  }
  out += ",\"applications\":[" + applications + "]}";
  return out;
}

StatusOr<std::string> app_document(const Engine& engine, const DaemonInfo& info, const Caller& caller,
                                   const StatusQuery& query) {
  auto found = visible_app(engine, info.default_tenant, caller, query.app);
  if (!found.ok()) return found.status();
  const Application* app = *found;
  v1::Application application;
  to_proto(*app, engine.counts(app->spec.id), &application);
  if (info.redact_env) redact_env(*info.redact_env, &application);
  std::vector<const Executor*> executors = engine.executors(app->spec.id);
  std::sort(executors.begin(), executors.end(), [](const Executor* a, const Executor* b) { return a->id < b->id; });
  const bool truncated = executors.size() > query.limit;
  std::string out = "{\"application\":" + json_of(application) + ",\"executors\":[";
  for (std::size_t i = truncated ? executors.size() - query.limit : 0; i < executors.size(); ++i) {
    v1::Executor proto;
    to_proto(*executors[i], &proto);
    if (out.back() != '[') out += ',';
    out += json_of(proto);
  }
  out += "],\"truncated\":";
  out += boolean(truncated);
  out += "}";
  return out;
}

std::string events_document(const Engine& engine, const DaemonInfo& info, const Caller& caller,
                            StatusQuery query) {
  if (!query.app.empty()) query.app = resolve_app(engine, info.default_tenant, caller, query.app);
  std::vector<const Event*> events;
  bool more = false;
  bool resync = false;
  const auto collect_since = [&](const Event& event) {
    if (!visible(caller, query.app, event)) return true;
    if (events.size() == query.limit) {
      more = true;
      return false;
    }
    events.push_back(&event);
    return true;
  };
  const auto collect_newest = [&](const Event& event) {
    if (visible(caller, query.app, event)) events.push_back(&event);
    return events.size() < query.limit;
  };
  if (query.from && *query.from <= engine.revision() && engine.event_log().visit_since(*query.from, collect_since)) {
    // the events after `from`
  } else {
    resync = query.from.has_value();
    events.clear();
    more = false;
    engine.event_log().visit_newest(collect_newest);
    std::reverse(events.begin(), events.end());
  }
  std::string out = "{\"revision\":\"" + std::to_string(engine.revision()) + "\",\"events\":[";
  for (const Event* event : events) {
    v1::Event proto;
    event_to_proto(*event, &proto);
    if (out.back() != '[') out += ',';
    out += json_of(proto);
  }
  out += "],\"resync\":";
  out += boolean(resync);
  out += ",\"more\":";
  out += boolean(more);
  out += "}";
  return out;
}

}  // namespace

bool is_address_host(const std::string& host_header) {
  std::string host;
  if (!host_header.empty() && host_header.front() == '[') {
    const auto close = host_header.find(']');
    if (close == std::string::npos) return false;
    const std::string rest = host_header.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return false;
    host = host_header.substr(1, close - 1);
    in6_addr v6{};
    return inet_pton(AF_INET6, host.c_str(), &v6) == 1;
  }
  const auto colon = host_header.find(':');
  host = host_header.substr(0, colon);
  if (colon != std::string::npos && host_header.find(':', colon + 1) != std::string::npos) return false;
  std::string lower;
  for (char c : host) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!lower.empty() && lower.back() == '.') lower.pop_back();
  constexpr std::string_view kLocalhost = ".localhost";
  if (lower == "localhost" ||
      (lower.size() > kLocalhost.size() && lower.compare(lower.size() - kLocalhost.size(), kLocalhost.size(), kLocalhost) == 0)) {
    return true;
  }
  in_addr v4{};
  return inet_pton(AF_INET, host.c_str(), &v4) == 1;
}

StatusOr<StatusQuery> parse_status_query(const std::string& path,
                                         const std::vector<std::pair<std::string, std::string>>& query) {
  StatusQuery parsed;
  std::vector<std::string> allowed;
  constexpr std::string_view kApps = "apps/";
  if (path == "status") {
    parsed.kind = StatusQuery::Kind::kStatus;
  } else if (path.rfind(kApps, 0) == 0) {
    parsed.kind = StatusQuery::Kind::kApp;
    parsed.app = path.substr(kApps.size());
    parsed.limit = kDefaultExecutorLimit;
    if (parsed.app.empty() || parsed.app.size() > kMaxAppIdBytes || parsed.app.find('/') != std::string::npos) {
      return Status::NotFound("no such API path: /api/v1/" + path.substr(0, 300));
    }
    allowed = {"limit"};
  } else if (path == "events") {
    parsed.kind = StatusQuery::Kind::kEvents;
    parsed.limit = kDefaultEventLimit;
    allowed = {"from", "limit", "app"};
  } else {
    return Status::NotFound("no such API path: /api/v1/" + path.substr(0, 300) +
                            " (there are /api/v1/status, /api/v1/apps/<id> and /api/v1/events)");
  }
  for (const auto& [name, value] : query) {
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      return Status::InvalidArgument("unknown query parameter \"" + name.substr(0, 40) + "\"" +
                                     (allowed.empty() ? std::string(" (this path takes none)") : std::string()));
    }
    if (name == "limit") {
      const std::size_t max = parsed.kind == StatusQuery::Kind::kApp ? kMaxExecutorLimit : kMaxEventLimit;
      auto limit = parse_number("limit", value, 1, max);
      if (!limit.ok()) return limit.status();
      parsed.limit = static_cast<std::size_t>(*limit);
    } else if (name == "from") {
      auto from = parse_number("from", value, 0, std::numeric_limits<std::int64_t>::max());
      if (!from.ok()) return from.status();
      parsed.from = *from;
    } else if (name == "app") {
      if (value.empty() || value.size() > kMaxAppIdBytes) {
        return Status::InvalidArgument("app: expected an application id of 1 to 253 bytes");
      }
      parsed.app = value;
    }
  }
  return parsed;
}

StatusOr<std::string> answer(const Engine& engine, const DaemonInfo& info, const Caller& caller,
                             const StatusQuery& query) {
  switch (query.kind) {
    case StatusQuery::Kind::kStatus: return status_document(engine, info, caller);
    case StatusQuery::Kind::kApp: return app_document(engine, info, caller, query);
    case StatusQuery::Kind::kEvents: return events_document(engine, info, caller, query);
  }
  return Status::Internal("unknown query");
}

}  // namespace berth
