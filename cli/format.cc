#include "cli/format.h"

#include <algorithm>
#include <cctype>
#include <map>

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

namespace berth::cli {

namespace {

using CountMap = google::protobuf::Map<std::string, google::protobuf::int32>;

// States that are live but not yet running: what an operator calls "pending".
constexpr v1::ExecutorState kNotYetRunning[] = {v1::REQUESTED, v1::LAUNCHING, v1::PENDING};

std::string yes_no(bool value) { return value ? "yes" : "no"; }

std::string join(const google::protobuf::RepeatedPtrField<std::string>& items,
                 std::string_view separator) {
  std::string joined;
  for (const std::string& item : items) {
    if (!joined.empty()) joined += separator;
    joined += item;
  }
  return joined;
}

int count_of(const CountMap& counts, v1::ExecutorState state) {
  auto it = counts.find(v1::ExecutorState_Name(state));
  return it == counts.end() ? 0 : it->second;
}

int pending_of(const CountMap& counts) {
  int pending = 0;
  for (v1::ExecutorState state : kNotYetRunning) pending += count_of(counts, state);
  return pending;
}

// "RUNNING=3,PENDING=1" in lifecycle order; names this build does not know come last, sorted.
std::string format_counts(const CountMap& counts) {
  std::map<std::pair<int, std::string>, int> ordered;
  for (const auto& [name, count] : counts) {
    v1::ExecutorState state;
    int rank = v1::ExecutorState_Parse(name, &state) ? static_cast<int>(state) : 1000;
    ordered[{rank, name}] = count;
  }
  std::string joined;
  for (const auto& [key, count] : ordered) {
    if (!joined.empty()) joined += ',';
    joined += key.second + "=" + std::to_string(count);
  }
  return joined;
}

// "K1=V1,K2=V2" sorted by key (protobuf maps have no stable order).
std::string format_map(const google::protobuf::Map<std::string, std::string>& map) {
  std::map<std::string, std::string> sorted(map.begin(), map.end());
  std::string joined;
  for (const auto& [key, value] : sorted) {
    if (!joined.empty()) joined += ',';
    joined += key + "=" + value;
  }
  return joined;
}

// Cells and event fields are single-line and blank-free where the value allows it.
std::string one_line(std::string text) {
  std::replace_if(text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r' || c == '\t'; }, ' ');
  return text;
}

// A word as a POSIX shell would need it: single-quoted unless it has only safe characters.
std::string shell_quote(const std::string& word) {
  const bool safe = !word.empty() && std::all_of(word.begin(), word.end(), [](unsigned char c) {
    return std::isalnum(c) || std::string_view("@%+=:,./_-").find(static_cast<char>(c)) !=
                                  std::string_view::npos;
  });
  if (safe) return word;
  std::string quoted = "'";
  for (char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::string format_resources(const v1::ResourceProfile& profile) {
  std::string joined;
  for (const v1::CustomResource& resource : profile.resources()) {
    if (!joined.empty()) joined += ',';
    if (!resource.vendor().empty()) joined += resource.vendor() + "/";
    joined += resource.name() + "=" + std::to_string(resource.amount());
  }
  return joined;
}

std::string format_overhead(const v1::ResourceProfile& profile) {
  if (profile.overhead_mib() > 0) return std::to_string(profile.overhead_mib());
  return "auto";
}

int application_target(const v1::Application& application) {
  int target = 0;
  for (const v1::ProfileStatus& status : application.profile_status()) target += status.target();
  return target;
}

int application_count(const v1::Application& application, v1::ExecutorState state) {
  int count = 0;
  for (const v1::ProfileStatus& status : application.profile_status()) {
    count += count_of(status.counts(), state);
  }
  return count;
}

int application_pending(const v1::Application& application) {
  int pending = 0;
  for (const v1::ProfileStatus& status : application.profile_status()) {
    pending += pending_of(status.counts());
  }
  return pending;
}

Table pool_table() {
  return Table({"POOL", "TYPE", "HEALTHY", "SYNCED", "DRAINING", "RUNNING", "PENDING",
                "MAX PENDING", "BACKOFF UNTIL", "LAST ERROR"});
}

void add_pool_row(Table& table, const v1::Pool& pool) {
  table.add_row({pool.name(), pool.type(), yes_no(pool.healthy()), yes_no(pool.synced()),
                 yes_no(pool.draining()), std::to_string(count_of(pool.counts(), v1::RUNNING)),
                 std::to_string(pending_of(pool.counts())), std::to_string(pool.max_pending()),
                 format_timestamp(pool.backoff_until()), one_line(pool.last_error())});
}

// "  Key:   value" lines with the values aligned.
class Description {
 public:
  void add(std::string key, std::string value) {
    items_.emplace_back(std::move(key), std::move(value));
  }
  std::string render() const {
    size_t width = 0;
    for (const auto& [key, value] : items_) width = std::max(width, key.size());
    std::string text;
    for (const auto& [key, value] : items_) {
      text += key + ":" + std::string(width - key.size() + 2, ' ') + (value.empty() ? "-" : value);
      text += '\n';
    }
    return text;
  }

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

}  // namespace

std::optional<std::pair<std::string, std::string>> parse_key_value(std::string_view text) {
  size_t equals = text.find('=');
  if (equals == std::string_view::npos || equals == 0) return std::nullopt;
  return std::make_pair(std::string(text.substr(0, equals)), std::string(text.substr(equals + 1)));
}

std::optional<v1::ExecutorState> parse_executor_state(std::string_view name) {
  std::string upper(name);
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  v1::ExecutorState state;
  if (!v1::ExecutorState_Parse(upper, &state) || state == v1::EXECUTOR_STATE_UNSPECIFIED) {
    return std::nullopt;
  }
  return state;
}

Table::Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }

void Table::add_row(std::vector<std::string> cells) {
  cells.resize(rows_.front().size());
  rows_.push_back(std::move(cells));
}

std::string Table::render() const {
  const size_t columns = rows_.front().size();
  std::vector<size_t> widths(columns, 1);
  for (const auto& row : rows_) {
    for (size_t i = 0; i < columns; ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string text;
  for (const auto& row : rows_) {
    std::string line;
    for (size_t i = 0; i < columns; ++i) {
      const std::string& cell = row[i].empty() ? std::string("-") : row[i];
      line += cell;
      if (i + 1 < columns) line += std::string(widths[i] - cell.size() + 3, ' ');
    }
    text += line + '\n';
  }
  return text;
}

std::string format_timestamp(const google::protobuf::Timestamp& timestamp) {
  if (timestamp.seconds() == 0 && timestamp.nanos() == 0) return "-";
  return google::protobuf::util::TimeUtil::ToString(timestamp);
}

std::string status_code_name(int code) {
  static constexpr const char* kNames[] = {
      "OK",           "CANCELLED",        "UNKNOWN",           "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED", "NOT_FOUND",   "ALREADY_EXISTS",    "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",  "OUT_OF_RANGE",
      "UNIMPLEMENTED", "INTERNAL",        "UNAVAILABLE",       "DATA_LOSS",
      "UNAUTHENTICATED"};
  if (code >= 0 && code < static_cast<int>(std::size(kNames))) return kNames[code];
  return "CODE_" + std::to_string(code);
}

std::string format_error(int code, std::string_view message) {
  return "berthctl: " + status_code_name(code) + ": " + one_line(std::string(message));
}

std::string unreachable_hint(const std::string& address, AddressSource source) {
  const char* from = source == AddressSource::kOption        ? "from --addr"
                     : source == AddressSource::kEnvironment ? "from BERTH_ADDR"
                                                             : "the default";
  return "berthctl: could not connect to berthd at " + address + " (" + from +
         "): is berthd running and listening there? Give its address with --addr or BERTH_ADDR "
         "(the packaged service listens on unix:/run/berthd/berthd.sock)";
}

std::string to_json(const google::protobuf::Message& message, bool pretty) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = pretty;
  std::string json;
  // Printing a valid message with the default options cannot fail.
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  while (!json.empty() && json.back() == '\n') json.pop_back();
  return json + '\n';
}

std::string render_table(const v1::StatusResponse& response) {
  Table table({"VERSION", "DAEMON ID", "STARTED", "REVISION", "APPLICATIONS", "LIVE EXECUTORS",
               "SERVING"});
  table.add_row({response.version(), response.daemon_id(), format_timestamp(response.started()),
                 std::to_string(response.revision()), std::to_string(response.applications()),
                 std::to_string(response.live_executors()), yes_no(response.serving())});
  return table.render();
}

std::string render_table(const v1::ListPoolsResponse& response) {
  Table table = pool_table();
  for (const v1::Pool& pool : response.pools()) add_pool_row(table, pool);
  return table.render();
}

std::string render_table(const v1::DrainPoolResponse& response) {
  Table table = pool_table();
  add_pool_row(table, response.pool());
  return table.render();
}

std::string render_table(const v1::ListApplicationsResponse& response) {
  Table table({"APP", "TENANT", "PHASE", "TARGET", "RUNNING", "PENDING", "POOLS",
               "LEASE DEADLINE", "CONDITIONS"});
  for (const v1::Application& application : response.applications()) {
    table.add_row({application.app_id(), application.tenant(),
                   v1::ApplicationPhase_Name(application.phase()),
                   std::to_string(application_target(application)),
                   std::to_string(application_count(application, v1::RUNNING)),
                   std::to_string(application_pending(application)),
                   join(application.pools(), ","), format_timestamp(application.lease_deadline()),
                   one_line(join(application.conditions(), "; "))});
  }
  return table.render();
}

std::string render_table(const v1::Application& application) {
  Description description;
  description.add("App", application.app_id());
  description.add("Tenant", application.tenant());
  description.add("Phase", v1::ApplicationPhase_Name(application.phase()));
  if (!application.end_reason().empty()) description.add("End reason", application.end_reason());
  description.add("Pools", join(application.pools(), ","));
  description.add("Driver URL", application.driver().url());
  if (application.driver().has_pod()) {
    const v1::DriverPod& pod = application.driver().pod();
    description.add("Driver pod", pod.namespace_() + "/" + pod.name());
  }
  description.add("Image", application.launch().image());
  std::string command;
  for (const auto* words : {&application.launch().command(), &application.launch().args()}) {
    for (const std::string& word : *words) {
      command += (command.empty() ? "" : " ") + shell_quote(word);
    }
  }
  description.add("Command", command);
  description.add("Env", format_map(application.launch().env()));
  description.add("Labels", format_map(application.launch().labels()));
  description.add("Lease TTL", application.lease_ttl_seconds() > 0
                                   ? std::to_string(application.lease_ttl_seconds()) + "s"
                                   : "none");
  description.add("Lease deadline", format_timestamp(application.lease_deadline()));
  description.add("Next executor ID", std::to_string(application.next_executor_id()));
  description.add("Launch failures", std::to_string(application.launch_failures()));
  description.add("Conditions", one_line(join(application.conditions(), "; ")));
  description.add("Revision", std::to_string(application.revision()));

  // One row per profile, whether the daemon reported it as a definition, a status, or both.
  std::map<int, std::pair<const v1::ResourceProfile*, const v1::ProfileStatus*>> profiles;
  for (const v1::ResourceProfile& profile : application.profiles()) {
    profiles[profile.id()].first = &profile;
  }
  for (const v1::ProfileStatus& status : application.profile_status()) {
    profiles[status.profile_id()].second = &status;
  }
  Table table({"PROFILE", "CORES", "HEAP MIB", "OVERHEAD MIB", "RESOURCES", "TARGET", "EXECUTORS"});
  for (const auto& [id, entry] : profiles) {
    const auto& [profile, status] = entry;
    table.add_row({std::to_string(id), profile ? std::to_string(profile->cores()) : "",
                   profile ? std::to_string(profile->heap_mib()) : "",
                   profile ? format_overhead(*profile) : "",
                   profile ? format_resources(*profile) : "",
                   status ? std::to_string(status->target()) : "0",
                   status ? format_counts(status->counts()) : ""});
  }
  return description.render() + "\n" + table.render();
}

std::string render_table(const v1::RequestTotalExecutorsResponse& response) {
  Table table({"ACCEPTED", "REVISION"});
  table.add_row({yes_no(response.accepted()), std::to_string(response.revision())});
  return table.render();
}

std::string render_table(const v1::ListExecutorsResponse& response) {
  // MESSAGE last: it has blanks, and every column before it stays one word.
  Table table({"ID", "PROFILE", "STATE", "POOL", "HOST", "EXIT", "REASON", "BACKEND NAME", "MESSAGE"});
  for (const v1::Executor& executor : response.executors()) {
    table.add_row({std::to_string(executor.executor_id()), std::to_string(executor.profile_id()),
                   v1::ExecutorState_Name(executor.state()), executor.pool(), executor.host(),
                   executor.has_exit_code() ? std::to_string(executor.exit_code()) : "",
                   one_line(executor.loss().reason()), executor.backend_name(),
                   one_line(executor.loss().message())});
  }
  return table.render();
}

std::string render_table(const v1::KillExecutorsResponse& response) {
  Table table({"ID", "RESULT"});
  for (google::protobuf::int64 id : response.killed()) table.add_row({std::to_string(id), "killed"});
  for (google::protobuf::int64 id : response.unknown()) {
    table.add_row({std::to_string(id), "unknown"});
  }
  return table.render();
}

std::string render_table(const v1::DecommissionExecutorsResponse& response) {
  Table table({"ID", "RESULT"});
  for (google::protobuf::int64 id : response.accepted()) {
    table.add_row({std::to_string(id), "decommissioning"});
  }
  for (google::protobuf::int64 id : response.unknown()) {
    table.add_row({std::to_string(id), "unknown"});
  }
  return table.render();
}

std::string render_table(const v1::KeepAliveResponse& response) {
  Table table({"LEASE DEADLINE"});
  table.add_row({format_timestamp(response.lease_deadline())});
  return table.render();
}

std::string render_event_line(const v1::Event& event) {
  std::string line = std::to_string(event.revision()) + " " + v1::Event_Type_Name(event.type());
  auto field = [&line](std::string_view key, const std::string& value) {
    if (value.empty()) return;
    line += " ";
    line += key;
    line += "=";
    // Values with blanks (messages, reasons from backends) are quoted to keep the line parseable.
    if (value.find(' ') == std::string::npos) {
      line += value;
    } else {
      line += '"' + value + '"';
    }
  };
  switch (event.type()) {
    case v1::Event::EXECUTOR: {
      const v1::Executor& executor = event.executor();
      field("app", executor.app_id());
      field("executor", std::to_string(executor.executor_id()));
      field("profile", std::to_string(executor.profile_id()));
      field("state", v1::ExecutorState_Name(executor.state()));
      field("pool", executor.pool());
      field("host", executor.host());
      if (executor.has_exit_code()) field("exit", std::to_string(executor.exit_code()));
      field("reason", one_line(executor.loss().reason()));
      field("backend", executor.backend_name());
      break;
    }
    case v1::Event::APPLICATION: {
      const v1::Application& application = event.application();
      field("app", application.app_id());
      field("phase", v1::ApplicationPhase_Name(application.phase()));
      field("target", std::to_string(application_target(application)));
      field("running", std::to_string(application_count(application, v1::RUNNING)));
      field("pending", std::to_string(application_pending(application)));
      field("conditions", one_line(join(application.conditions(), "; ")));
      field("end_reason", one_line(application.end_reason()));
      break;
    }
    default:
      break;
  }
  field("message", one_line(event.message()));
  return line + '\n';
}

std::string render_health(std::string_view status_name, OutputFormat format) {
  if (format == OutputFormat::kJson) return "{\"status\":\"" + std::string(status_name) + "\"}\n";
  return std::string(status_name) + '\n';
}

}  // namespace berth::cli
