#pragma once
// The simulator's state and the functions of its parts: the state store with its one index,
// writes that become event-stream entries and wake blocking queries (store.cc); job specs,
// their validation and the job endpoints' writes (jobs.cc); the scheduler with nodes and
// blocked evaluations (scheduler.cc); the simulated client that runs tasks as scripted
// (client.cc); JSON documents (documents.cc); the HTTP API with blocking queries and
// administration (api.cc); the event stream (stream.cc).
//
// Thread-safety: everything here runs on SimulatorImpl::strand_.

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "net/http_server.h"
#include "sim/common/admin.h"
#include "sim/common/faults.h"
#include "sim/common/request_counter.h"
#include "sim/common/sim_clock.h"
#include "sim/nomad/filter.h"
#include "sim/nomad/simulator.h"

namespace berth::sim::nomad {

namespace json = boost::json;

inline constexpr const char* kMetaPrefix = "sim.berth.dev/";
inline constexpr const char* kZeroTime = "0001-01-01T00:00:00Z";
inline constexpr std::int64_t kSecond = 1'000'000'000;  // ns

// Scripted behaviour of one task, from its merged Meta (job < group < task) and behaviour rules.
struct Behaviour {
  double start_delay = 1.0;       // placed -> Started
  std::optional<double> run_for;  // Started -> exits; unset: runs until stopped
  int exit_code = 0;
  bool oom = false;               // exits 137 with oom_killed (after run-for, default 1s)
  bool driver_failure = false;    // Driver Failure at start: never starts, alloc failed
  double shutdown_delay = 1.0;    // SIGTERM -> exit when stopped (killed at KillTimeout)
};

struct Constraint {
  std::string ltarget;
  std::string operand = "=";
  std::string rtarget;
  std::string key() const { return ltarget + " " + operand + " " + rtarget; }  // FailedTGAllocs key
};

struct DeviceRequest {
  std::string name;  // gpu, nvidia/gpu, nvidia/gpu/<model>
  int count = 1;
};

struct TaskSpec {
  std::string name;
  std::string driver;
  std::string image;  // docker Config.image, for messages
  std::int64_t cpu = 100;
  int cores = 0;
  std::int64_t memory_mb = 300;
  std::vector<DeviceRequest> devices;
  std::int64_t kill_timeout_ns = 5 * kSecond;
  std::vector<Constraint> constraints;
  Behaviour behaviour;
};

struct GroupSpec {
  std::string name;
  int count = 1;
  int restart_attempts = 0;
  std::int64_t restart_delay_ns = 15 * kSecond;
  std::int64_t restart_interval_ns = 24 * 3600 * kSecond;
  std::string restart_mode = "fail";
  int reschedule_attempts = 0;
  bool reschedule_unlimited = false;
  std::int64_t reschedule_delay_ns = 5 * kSecond;
  std::vector<Constraint> constraints;
  std::vector<TaskSpec> tasks;
  std::string fingerprint;  // the group's JSON: a change means a destructive update
};

struct Job {
  std::string namespace_name;
  std::string id;
  json::object spec;  // canonical job JSON without the server-set fields
  std::string type = "service";
  int priority = 50;
  std::vector<std::string> datacenters;
  std::string node_pool = "default";
  std::vector<Constraint> constraints;
  std::vector<GroupSpec> groups;
  bool stop = false;
  std::uint64_t version = 0;
  std::uint64_t create_index = 0;
  std::uint64_t modify_index = 0;
  std::uint64_t job_modify_index = 0;
  std::uint64_t summary_index = 0;  // ModifyIndex of the job's summary
  std::int64_t submit_time = 0;
  std::string status = "pending";
  double dead_since = 0;  // simulated seconds; while status is "dead"
  std::map<std::string, int> queued;  // group -> allocations the last evaluation could not place
  std::uint64_t generation = 0;       // a job registered again after a purge starts afresh

  std::string key() const { return namespace_name + "/" + id; }
  const GroupSpec* group(const std::string& name) const;
};

struct TaskRun {
  std::string name;
  std::string state = "pending";  // pending | running | dead
  bool failed = false;
  int restarts = 0;
  std::string started_at = kZeroTime;
  std::string finished_at = kZeroTime;
  std::string last_restart = kZeroTime;
  json::array events;  // the last 10, as Nomad keeps them
  // From the task's spec at placement (the job may change or be purged meanwhile).
  std::string driver;
  std::string image;
  std::int64_t kill_timeout_ns = 5 * kSecond;
  Behaviour behaviour;
};

struct Alloc {
  std::string id;
  std::string eval_id;
  std::string name;  // <job>.<group>[<n>]
  int name_index = 0;
  std::string namespace_name;
  std::string node_id;
  std::string node_name;
  std::string job_id;
  std::string job_type;
  std::uint64_t job_version = 0;
  std::uint64_t job_generation = 0;
  std::string group;
  std::string group_fingerprint;
  std::string desired_status = "run";  // run | stop | evict
  std::string desired_description;
  std::string client_status = "pending";  // pending | running | complete | failed | lost
  std::string client_description;
  std::vector<TaskRun> tasks;
  int restart_attempts = 0;  // the group's RestartPolicy at placement
  std::int64_t restart_delay_ns = 0;
  std::int64_t restart_interval_ns = 0;
  std::string previous_allocation;
  std::string next_allocation;
  json::array reschedule_events;
  bool replace_when_stopped = true;  // alloc stop without reschedule=false
  bool migrate = false;              // DesiredTransition.Migrate: stopped through the API, to be replaced
  std::int64_t cpu = 0;              // reserved on the node
  std::int64_t memory_mb = 0;
  int cores = 0;
  std::map<std::string, int> devices;  // node device group ("vendor/type/model") -> count
  json::object metrics;
  json::object allocated_resources;
  std::uint64_t create_index = 0;
  std::uint64_t modify_index = 0;
  std::int64_t create_time = 0;
  std::int64_t modify_time = 0;
  std::uint64_t epoch = 0;  // bumped when scheduled client actions become stale

  bool client_terminal() const {
    return client_status == "complete" || client_status == "failed" || client_status == "lost";
  }
  // Nomad's TerminalStatus: the scheduler no longer counts it (and its resources are free).
  bool terminal() const { return desired_status != "run" || client_terminal(); }
};

struct Eval {
  std::string id;
  std::string namespace_name;
  std::string job_id;
  std::string type;
  std::string triggered_by;
  std::string status = "pending";  // pending | blocked | complete | failed | canceled
  std::string status_description;
  int priority = 50;
  std::uint64_t job_modify_index = 0;
  std::string node_id;
  std::string previous_eval;
  std::string blocked_eval;
  json::object failed_tg_allocs;
  json::object queued_allocations;
  std::uint64_t create_index = 0;
  std::uint64_t modify_index = 0;
  std::uint64_t snapshot_index = 0;
  std::int64_t create_time = 0;
  std::int64_t modify_time = 0;

  bool terminal() const { return status == "complete" || status == "failed" || status == "canceled"; }
};

struct Node {
  NodeSpec spec;
  std::string id;
  std::string status = "ready";  // ready | down
  std::uint64_t create_index = 0;
  std::uint64_t modify_index = 0;
};

// What one write changed; end_write() turns it into event-stream events of one index.
struct Changes {
  std::vector<std::string> jobs;          // Job::key()
  std::vector<json::object> removed_jobs;  // purged: the last state, for the JobDeregistered event
  std::vector<std::string> evals;
  std::vector<std::string> allocs;
  std::vector<std::string> nodes;         // node IDs
  std::vector<std::string> summaries;     // Job::key() whose summary changed
  bool allocs_removed = false;            // garbage collected: the tables' indexes move
  bool evals_removed = false;
};

struct StreamEvent {
  std::string topic;
  std::string key;
  std::string namespace_name;  // "" for topics without a namespace (Node)
  std::vector<std::string> filter_keys;
  json::object rendered;  // the whole event object
};

struct BufferEntry {
  std::uint64_t index = 0;
  std::vector<StreamEvent> events;
};

struct Subscriber {
  std::uint64_t id = 0;
  std::map<std::string, std::set<std::string>> topics;  // topic ("*" = any) -> keys ("*" = any)
  std::string namespace_name;                           // "*" = every namespace
  std::uint64_t sent_through = 0;                       // last index sent
  std::shared_ptr<net::ResponseWriter> writer;
  std::unique_ptr<boost::asio::steady_timer> heartbeat;
};

// The answer of a read, recomputed while a blocking query waits.
struct ReadResult {
  int code = 200;
  std::uint64_t index = 1;
  json::value body;
  std::string error;  // plain-text body when code != 200
  std::string next_token;
};
using Query = std::function<ReadResult()>;

struct Waiter {
  std::uint64_t id = 0;
  std::uint64_t min_index = 0;
  Query query;
  std::shared_ptr<net::ResponseWriter> writer;
  std::unique_ptr<boost::asio::steady_timer> timeout;
};

// A plain-text API error.
struct ApiError {
  int code = 500;
  std::string message;
};

// Documents (documents.cc).
std::string format_go_duration(std::int64_t ns);
// Go's time.ParseDuration ("300ms", "1m30s", "2h"); nullopt when malformed.
std::optional<std::int64_t> parse_go_duration(const std::string& text);
// "2s", "500ms", "1m" or a bare number of seconds, for scripting Meta.
std::optional<double> parse_seconds(const std::string& text);
// go-multierror's list format: "1 error occurred:\n\t* x\n\n".
std::string multierror(const std::vector<std::string>& errors);
json::object strip_job(json::object alloc);  // event payloads carry allocations without Job

class SimulatorImpl : public std::enable_shared_from_this<SimulatorImpl> {
 public:
  SimulatorImpl(boost::asio::any_io_executor executor, SimulatorOptions options);

  Status start();
  void stop();

  // ---- store.cc ----
  double now() const;                               // simulated seconds since start
  std::int64_t unix_nanos(double sim_seconds) const;
  std::string rfc3339(double sim_seconds) const;    // with nanoseconds
  void after(double sim_delay, std::function<void()> action);
  void advance(double sim_seconds);
  std::string new_uuid();
  std::uint64_t begin_write();  // the index of the write being made
  void end_write(const std::string& type, Changes changes);
  Job* find_job(const std::string& namespace_name, const std::string& id);
  Alloc* find_alloc(const std::string& id);
  Eval* find_eval(const std::string& id);
  Node* find_node_by_name(const std::string& name);
  Node* find_node(const std::string& id);
  std::vector<const Alloc*> allocs_of(const Job& job) const;  // this generation, by CreateIndex
  std::vector<const Eval*> evals_of(const Job& job) const;
  std::string job_status(const Job& job) const;
  json::object job_summary(const Job& job) const;

  // ---- documents.cc ----
  json::object job_document(const Job& job) const;
  json::object job_stub(const Job& job, bool with_meta) const;
  json::object alloc_document(const Alloc& alloc, bool full) const;
  json::object eval_document(const Eval& eval) const;
  json::object node_document(const Node& node) const;
  json::object state_document() const;

  // ---- jobs.cc ----
  // Register or update (POST /v1/jobs, /v1/job/:id). `url_id` empty for /v1/jobs.
  void register_job(const std::string& url_id, const std::string& query_namespace, const std::string& body,
                    ReadResult& out);
  void deregister_job(const std::string& namespace_name, const std::string& id, bool purge, ReadResult& out);
  void stop_alloc(const std::string& id, bool reschedule, ReadResult& out);
  void scale_job(const std::string& namespace_name, const std::string& id, const std::string& body, ReadResult& out);
  Behaviour behaviour_for(const std::string& job_id, const std::map<std::string, std::string>& meta) const;

  // ---- scheduler.cc ----
  Eval& create_eval(const Job& job, const std::string& triggered_by, Changes& changes);
  void schedule_eval(const std::string& eval_id);  // processes it soon, on the strand
  void process_eval(const std::string& eval_id);
  void unblock_evals();  // capacity changed: blocked evaluations run again

  // ---- gc.cc ----
  struct Collected {
    std::size_t jobs = 0, evals = 0, allocs = 0;
  };
  void schedule_gc();                   // the periodic pass, every gc_interval
  Collected collect_garbage(bool forced);  // forced: thresholds aside (PUT /v1/system/gc)
  void init_nodes();
  Status add_node(const NodeSpec& spec);
  Status set_node_status(const std::string& name, bool up);

  // ---- client.cc ----
  void client_receive(const std::string& alloc_id);  // a new allocation reached its node
  void client_stop(const std::string& alloc_id);     // DesiredStatus became stop
  Status client_exit(const std::string& alloc_id, int code, bool oom);  // admin: the tasks exit now

  // ---- api.cc ----
  void handle(net::HttpRequest request, std::shared_ptr<net::ResponseWriter> writer);
  void wake_waiters();

  // ---- stream.cc ----
  void serve_stream(net::HttpRequest& request, std::shared_ptr<net::ResponseWriter>& writer);
  void publish(const BufferEntry& entry);
  void drop_streams();

 private:
  friend class Simulator;
  // store.cc
  // jobs.cc
  std::optional<ApiError> parse_job(const json::object& object, Job& job, std::vector<std::string>& errors) const;
  // scheduler.cc
  void place_group(Job& job, const GroupSpec& group, const std::vector<int>& name_indexes, Eval& eval,
                   const std::map<int, const Alloc*>& previous, Changes& changes, int& unplaced,
                   json::object& failure);
  // client.cc
  void task_event(Alloc& alloc, TaskRun& task, const std::string& type, json::object fields);
  void start_task(const std::string& alloc_id, std::uint64_t epoch, std::size_t task_index);
  void task_exited(const std::string& alloc_id, std::size_t task_index, int code, bool oom, bool killed);
  void update_client_status(Alloc& alloc);
  void alloc_updated(Alloc& alloc, const std::string& type);
  // api.cc
  void serve(net::HttpRequest& request, std::shared_ptr<net::ResponseWriter>& writer);
  void serve_admin(net::HttpRequest& request, std::shared_ptr<net::ResponseWriter>& writer);
  void serve_read(const net::HttpRequest& request, std::shared_ptr<net::ResponseWriter>& writer, Query query);
  bool leader_lost() const;
  void end_waiters_without_leader();
  void go_down(std::chrono::milliseconds duration);
  Status bring_up();
  // stream.cc
  void send_heartbeat(std::uint64_t subscriber_id);
  std::string frame_for(const Subscriber& subscriber, const BufferEntry& entry) const;

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
  sim_common::Outage outage_;
  sim_common::RandomSource rng_;  // ids, blocking-query jitter and fault draws

  std::uint64_t index_ = 1;
  std::map<std::string, std::uint64_t> table_index_;  // jobs, evals, allocs, nodes, job_summary
  std::map<std::string, Job> jobs_;                   // by Job::key()
  std::map<std::string, std::uint64_t> generations_;  // Job::key() -> last generation used
  std::map<std::string, Eval> evals_;
  std::map<std::string, Alloc> allocs_;
  std::map<std::string, Node> nodes_;  // by ID
  std::set<std::string> namespaces_;

  std::deque<BufferEntry> buffer_;
  std::map<std::uint64_t, Subscriber> subscribers_;
  std::uint64_t next_subscriber_ = 1;
  std::map<std::uint64_t, Waiter> waiters_;
  std::uint64_t next_waiter_ = 1;
  bool wake_posted_ = false;
  // Keyed by the endpoint's verb; a failure is Nomad's plain-text answer for its code (500 "No
  // cluster leader", 429, 502, 503, 504).
  sim_common::Faults faults_{500};
  sim_common::RequestCounter requests_;  // per route, administration excepted
  std::chrono::steady_clock::time_point leader_back_at_{};
  std::map<std::string, int> list_requests_;  // GET /v1/jobs ("Jobs"), /v1/allocations ("Allocations")
};

}  // namespace berth::sim::nomad
