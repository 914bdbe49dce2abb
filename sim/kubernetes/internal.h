#pragma once
// The simulator's state and the functions of its three parts: the cluster (store, scheduler,
// kubelet, quotas, garbage collector: cluster.cc), the HTTP API with watches and administration
// (api.cc), and the documents kubectl needs (discovery, OpenAPI, Tables: documents.cc).
//
// Thread-safety: everything here runs on SimulatorImpl::strand_.

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "net/http_server.h"
#include "sim/common/admin.h"
#include "sim/common/faults.h"
#include "sim/common/request_counter.h"
#include "sim/common/sim_clock.h"
#include "sim/kubernetes/quantity.h"
#include "sim/kubernetes/selector.h"
#include "sim/kubernetes/simulator.h"

namespace berth::sim::kubernetes {

namespace json = boost::json;

inline constexpr const char* kAnnotationPrefix = "sim.berth.dev/";
inline constexpr const char* kGpuResource = "nvidia.com/gpu";

// Scripted behaviour of one pod, from its sim.berth.dev/* annotations (and behaviour rules).
struct Behaviour {
  double start_delay = 1.0;             // bound -> running (ContainerCreating meanwhile)
  std::optional<double> run_for;        // running -> main container exits; unset: runs until deleted
  int exit_code = 0;
  bool oom = false;                     // exit 137, reason OOMKilled (after run-for, default 1s)
  bool image_pull_error = false;        // ErrImagePull <-> ImagePullBackOff, stays Pending
  std::optional<int> crash_on_start;    // exits at once with this code (reason Error)
  double shutdown_delay = 1.0;          // SIGTERM -> exit on graceful delete (capped by the grace)
  std::string container;                // the scripted container; empty: the first
};

struct ContainerState {
  enum class Kind { kWaiting, kRunning, kTerminated };
  Kind kind = Kind::kWaiting;
  std::string reason = "ContainerCreating";
  std::string message;
  int exit_code = 0;
  std::string started_at;
  std::string finished_at;
};

struct ContainerRuntime {
  std::string name;
  std::string image;
  ContainerState state;
  std::optional<ContainerState> last_state;
  int restarts = 0;
  bool ready = false;
  bool started = false;
  std::string container_id;
};

struct Condition {
  std::string status;
  std::string reason;
  std::string message;
  std::string since;
};

using ResourceMap = std::map<std::string, std::int64_t>;  // resource name -> milli-units

struct Pod {
  std::string key;  // namespace/name
  std::string namespace_name;
  std::string name;
  std::string uid;
  json::object object;  // as stored: no kind/apiVersion
  Behaviour behaviour;
  ResourceMap requests;
  ResourceMap limits;
  std::string node;
  std::string phase = "Pending";
  std::string reason;   // pod-level status.reason / message
  std::string message;
  std::vector<ContainerRuntime> containers;
  std::map<std::string, Condition> conditions;
  std::string pod_ip;
  std::string host_ip;
  std::string start_time;
  bool terminating = false;
  std::uint64_t epoch = 0;  // bumped when scheduled kubelet actions become stale
  int image_pull_attempts = 0;
  std::string restart_policy = "Always";
  std::int64_t grace_seconds = 30;
  std::uint64_t created_rv = 0;           // creation order, for the scheduler queue
  std::string propagation = "Background";  // of the pending delete: dependents on removal

  bool terminal() const { return phase == "Succeeded" || phase == "Failed"; }
  bool bound() const { return !node.empty(); }
};

struct Node {
  NodeSpec spec;
  ResourceMap allocatable;
  bool ready = true;
  int index = 0;
  int next_ip = 2;
};

struct Quota {
  QuotaSpec spec;
  std::map<std::string, Quantity> hard;
};

struct HistoryEvent {
  std::string type;  // ADDED, MODIFIED, DELETED
  std::uint64_t resource_version = 0;
  std::string namespace_name;
  std::shared_ptr<const json::object> object;    // new state (DELETED: last state)
  std::shared_ptr<const json::object> previous;  // MODIFIED: state before
};

struct Watcher {
  std::uint64_t id = 0;
  std::optional<std::string> namespace_name;
  LabelSelector labels;
  FieldSelector fields;
  bool table = false;
  bool table_full_object = false;
  bool bookmarks = false;
  std::uint64_t after_rv = 0;  // events at or below this resourceVersion are not sent
  std::shared_ptr<net::ResponseWriter> writer;
  std::unique_ptr<boost::asio::steady_timer> timeout;
};

// An API error, rendered as a Status object.
struct ApiError {
  int code = 500;
  std::string reason;
  std::string message;
  json::object details;
};

struct ApiResult {
  int code = 200;
  json::value body;
  std::optional<ApiError> error;
  static ApiResult ok(int code, json::value body) { return ApiResult{code, std::move(body), std::nullopt}; }
  static ApiResult fail(ApiError error) { return ApiResult{error.code, {}, std::move(error)}; }
};

struct DeleteOptions {
  std::optional<std::int64_t> grace_seconds;
  std::string propagation = "Background";
  std::optional<std::string> precondition_uid;
  std::optional<std::string> precondition_resource_version;
  bool dry_run = false;
};

// Documents (documents.cc).
json::object status_object(const ApiError& error);
json::value version_document();
json::value api_versions_document(const std::string& server_address);
json::value api_group_list_document();
json::value api_resource_list_document();
json::value openapi_v3_root();
json::value openapi_v3_core();
json::value namespace_object(const std::string& name, const std::string& created);
// A Table for pods (one row each); `full_object` puts the whole Pod in each row.
json::object pod_table(const std::vector<const json::object*>& pods, const std::string& resource_version,
                       bool full_object, double now_unix);
std::string pod_status_cell(const json::object& pod);
std::string format_age(double seconds);

// Field helpers.
Labels labels_of(const json::object& pod);
std::map<std::string, std::string> fields_of(const json::object& pod);
std::string string_at(const json::object& object, std::initializer_list<const char*> path);
json::object with_kind(const json::object& pod);  // adds kind/apiVersion first

class SimulatorImpl : public std::enable_shared_from_this<SimulatorImpl> {
 public:
  SimulatorImpl(boost::asio::any_io_executor executor, SimulatorOptions options);

  Status start();
  void stop();
  std::string address() const { return address_; }
  std::uint16_t port() const { return port_; }

  // ---- cluster.cc ----
  void init_cluster();
  double now() const;                       // simulated seconds since start
  std::string timestamp(double sim_seconds) const;  // RFC 3339, second precision
  double unix_time(double sim_seconds) const;
  void after(double sim_delay, std::function<void()> action);
  void advance(double sim_seconds);
  // `field_manager` is recorded in metadata.managedFields.
  ApiResult create_pod(const std::string& namespace_name, json::object body, bool dry_run,
                       const std::string& field_manager);
  ApiResult delete_pod(const std::string& namespace_name, const std::string& name, const DeleteOptions& options);
  ApiResult evict_pod_api(const std::string& namespace_name, const std::string& name);
  Status add_node(const NodeSpec& spec);
  Status kill_node(const std::string& name, const std::string& mode);
  Status restore_node(const std::string& name);
  Status add_quota(const QuotaSpec& spec);
  Status remove_quota(const std::string& namespace_name, const std::string& name);
  Status evict_pod_kubelet(const std::string& namespace_name, const std::string& name);
  Status exit_pod(const std::string& namespace_name, const std::string& name, int code, bool oom);
  json::object state_document() const;
  json::object quota_usage(const std::string& namespace_name) const;

  // ---- api.cc ----
  void handle(net::HttpRequest request, std::shared_ptr<net::ResponseWriter> writer);
  void publish(const HistoryEvent& event);  // to running watches

 private:
  friend class Simulator;
  // cluster.cc
  Pod* find_pod(const std::string& namespace_name, const std::string& name);
  void commit(Pod& pod, const char* type, std::shared_ptr<const json::object> previous = nullptr);
  void remove_pod(const std::string& key);
  void render(Pod& pod);
  void change(Pod& pod);  // render + commit MODIFIED
  void run_scheduler();
  void schedule_scheduler();
  // What the pods bound to one node request.
  struct NodeUsage {
    int pods = 0;
    ResourceMap requests;
  };
  bool fits(const Node& node, const NodeUsage& usage, const Pod& pod, std::vector<std::string>& reasons) const;
  void bind(Pod& pod, Node& node);
  void kubelet_start(const std::string& key, std::uint64_t epoch);
  void image_pull_cycle(const std::string& key, std::uint64_t epoch);
  void container_exit(Pod& pod, int code, const std::string& reason);
  void restart_container(const std::string& key, std::uint64_t epoch);
  void finish_deletion(const std::string& key, std::uint64_t epoch, bool killed);
  void terminate_containers(Pod& pod, int code, const std::string& reason, const std::string& message);
  void collect_garbage(const std::string& owner_uid, const std::string& namespace_name);
  void check_missing_owners(const std::string& key);
  std::optional<ApiError> admit_quota(const Pod& pod, const std::string& display_name) const;
  Behaviour behaviour_for(const json::object& metadata) const;
  void record(HistoryEvent event);
  std::string new_uid();

  // api.cc
  void serve(net::HttpRequest& request, std::shared_ptr<net::ResponseWriter>& writer);
  void serve_pods(net::HttpRequest& request, std::shared_ptr<net::ResponseWriter>& writer,
                  const std::optional<std::string>& namespace_name, const std::string& name,
                  const std::string& subresource);
  void serve_list(net::HttpRequest& request, std::shared_ptr<net::ResponseWriter>& writer,
                  const std::optional<std::string>& namespace_name);
  void serve_watch(net::HttpRequest& request, std::shared_ptr<net::ResponseWriter>& writer,
                   const std::optional<std::string>& namespace_name);
  void serve_admin(net::HttpRequest& request, std::shared_ptr<net::ResponseWriter>& writer);
  std::string user_of(const net::HttpRequest& request) const;  // who authenticated, for RBAC
  void drop_watches(bool expire);
  void send_bookmarks();
  void arm_bookmarks();
  std::string event_line(const Watcher& watcher, const std::string& type, const json::object& object) const;
  void end_watch(std::uint64_t id, bool bookmark_first);
  void go_down(std::chrono::milliseconds duration);
  Status bring_up();

 public:
  boost::asio::any_io_executor executor_;
  boost::asio::strand<boost::asio::any_io_executor> strand_;
  SimulatorOptions options_;
  mutable std::mutex server_mutex_;  // server_ is replaced when the simulator comes back up
  std::unique_ptr<net::HttpServer> server_;
  std::string address_;
  std::uint16_t port_ = 0;
  bool stopped_ = false;

  sim_common::Agenda agenda_;  // the simulated clock and what is scheduled on it
  boost::asio::steady_timer bookmark_timer_;
  sim_common::Outage outage_;
  bool scheduler_pending_ = false;
  sim_common::RandomSource rng_;  // uids, names and fault draws

  std::uint64_t resource_version_ = 1;
  std::uint64_t compacted_ = 0;  // watches from an RV below this get 410
  std::deque<HistoryEvent> history_;
  std::map<std::string, Pod> pods_;
  std::map<std::string, Node> nodes_;
  int next_node_index_ = 0;
  std::map<std::string, Quota> quotas_;
  std::vector<std::pair<LabelSelector, std::map<std::string, std::string>>> behaviours_;
  std::map<std::uint64_t, Watcher> watchers_;
  std::uint64_t next_watcher_ = 1;
  // Keyed by verb (watch, list, get, create, delete, deletecollection, discovery); a failure is a
  // 429 (plain text + Retry-After) or a Status with the code set.
  sim_common::Faults faults_{429};
  bool expired_as_event_ = false;  // a too-old watch RV gets 200 + an ERROR event instead of 410
  sim_common::RequestCounter requests_;  // per route, administration excepted
};

}  // namespace berth::sim::kubernetes
