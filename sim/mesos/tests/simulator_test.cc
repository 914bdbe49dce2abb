// The Mesos master simulator over real loopback HTTP with net::HttpClient: the SUBSCRIBE stream
// and its RecordIO framing, offers and filters, launches with status updates held back until
// acknowledged, kills, scripted exits, agent loss, reconciliation, failover, the standby and the
// exact answers to bad calls. Waits are for conditions with deadlines; simulated time moves
// through POST /sim/advance (the clock runs at real speed otherwise).
#include <catch2/catch.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "net/http_client.h"
#include "sim/mesos/simulator.h"

// Options are written as designated initializers naming only what a test sets; gcc 12 warns
// about the fields left to their defaults, clang does not.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using berth::net::Headers;
using berth::net::HttpClient;
using berth::net::HttpClientRequest;
using berth::net::HttpResponse;
using berth::sim::mesos::Simulator;
using berth::sim::mesos::SimulatorOptions;

namespace {

constexpr auto kDeadline = 5s;

std::string str(const json::value& value, std::initializer_list<const char*> path) {
  const json::value* current = &value;
  for (const char* key : path) {
    if (!current->is_object() || !current->as_object().contains(key)) return {};
    current = &current->as_object().at(key);
  }
  if (current->is_string()) return std::string(current->as_string());
  return json::serialize(*current);
}

std::string header(const Headers& headers, const std::string& name) {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

// A SUBSCRIBE stream: headers, then the events decoded from RecordIO as they arrive. The
// stream's callbacks may run after the Subscription is gone, so they share `state_` with it.
class Subscription {
 public:
  Subscription(HttpClient& client, const std::string& body, Headers headers = {}) : state_(std::make_shared<State>()) {
    HttpClientRequest request;
    request.method = "POST";
    request.target = "/api/v1/scheduler";
    request.headers = std::move(headers);
    request.headers.emplace("content-type", "application/json");
    request.body = body;
    berth::net::StreamCallbacks callbacks;
    callbacks.on_headers = [state = state_](int status, const Headers& h) {
      std::lock_guard lock(state->mutex);
      state->status = status;
      state->headers = h;
      state->changed.notify_all();
    };
    callbacks.on_data = [state = state_](std::string_view bytes) {
      std::lock_guard lock(state->mutex);
      state->raw += bytes;
      state->buffer += bytes;
      state->decode();
      state->changed.notify_all();
    };
    callbacks.on_end = [state = state_](berth::Status) {
      std::lock_guard lock(state->mutex);
      state->ended = true;
      state->changed.notify_all();
    };
    stream_ = client.stream(std::move(request), std::move(callbacks));
  }
  ~Subscription() { stream_->cancel(); }

  int status() {
    std::unique_lock lock(state_->mutex);
    state_->changed.wait_for(lock, kDeadline, [&] { return state_->status != 0 || state_->ended; });
    return state_->status;
  }
  std::string head(const std::string& name) {
    status();
    std::lock_guard lock(state_->mutex);
    return header(state_->headers, name);
  }
  // Removes and returns the first event (in arrival order) that satisfies `predicate`.
  json::object next(const std::function<bool(const json::object&)>& predicate) {
    std::unique_lock lock(state_->mutex);
    std::optional<json::object> found;
    auto& events = state_->events;
    state_->changed.wait_for(lock, kDeadline, [&] {
      for (auto it = events.begin(); it != events.end(); ++it) {
        if (predicate(*it)) {
          found = std::move(*it);
          events.erase(it);
          return true;
        }
      }
      return false;
    });
    if (!found) {
      std::string queued;
      for (const auto& event : events) queued += json::serialize(event) + "\n";
      FAIL("no matching event (stream ended: " << state_->ended << "); queued:\n" << queued);
    }
    return *found;
  }
  json::object next(const std::string& type) {
    return next([&](const json::object& e) { return str(e, {"type"}) == type; });
  }
  // The next UPDATE for `task_id` (any state, or `state`).
  json::object update(const std::string& task_id, const std::string& state = "") {
    return next([&](const json::object& e) {
      return str(e, {"type"}) == "UPDATE" && str(e, {"update", "status", "task_id", "value"}) == task_id &&
             (state.empty() || str(e, {"update", "status", "state"}) == state);
    });
  }
  bool has(const std::function<bool(const json::object&)>& predicate) {
    std::lock_guard lock(state_->mutex);
    return std::any_of(state_->events.begin(), state_->events.end(), predicate);
  }
  bool wait_ended() {
    std::unique_lock lock(state_->mutex);
    return state_->changed.wait_for(lock, kDeadline, [&] { return state_->ended; });
  }
  std::string raw() {
    std::lock_guard lock(state_->mutex);
    return state_->raw;
  }
  std::string framework_id;
  std::string stream_id;

 private:
  struct State {
    std::mutex mutex;
    std::condition_variable changed;
    int status = 0;
    Headers headers;
    std::string raw;
    std::string buffer;
    std::deque<json::object> events;
    bool ended = false;
    // RecordIO: "<decimal length>\n<that many bytes>", repeated, independent of chunk boundaries.
    void decode() {
      while (true) {
        const auto eol = buffer.find('\n');
        if (eol == std::string::npos) return;
        const std::size_t length = std::stoul(buffer.substr(0, eol));
        if (buffer.size() < eol + 1 + length) return;
        events.push_back(json::parse(buffer.substr(eol + 1, length)).as_object());
        buffer.erase(0, eol + 1 + length);
      }
    }
  };
  std::shared_ptr<State> state_;
  std::shared_ptr<berth::net::HttpStream> stream_;
};

std::string framework_info(const std::string& extra = R"("failover_timeout":3600)") {
  return R"({"user":"svc","name":"berth-test")" + (extra.empty() ? "" : "," + extra) + "}";
}

std::string subscribe_body(const std::string& info = framework_info(), const std::string& framework_id = "") {
  if (framework_id.empty()) return R"({"type":"SUBSCRIBE","subscribe":{"framework_info":)" + info + "}}";
  return R"({"framework_id":{"value":")" + framework_id + R"("},"type":"SUBSCRIBE","subscribe":{"framework_info":)" +
         info + "}}";
}

struct Fixture {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work{asio::make_work_guard(io)};
  std::unique_ptr<Simulator> simulator;
  std::unique_ptr<HttpClient> client;
  std::unique_ptr<HttpClient> standby_client;
  std::vector<std::thread> threads;
  Headers auth;

  explicit Fixture(SimulatorOptions options = defaults()) {
    simulator = std::make_unique<Simulator>(io.get_executor(), options);
    auto status = simulator->start();
    INFO(status.to_string());
    REQUIRE(status.ok());
    for (int i = 0; i < 2; ++i) threads.emplace_back([this] { io.run(); });
    // The clients deliver each piece of a stream by posting it to their executor: with two
    // threads on `io`, only a strand keeps the pieces in order.
    client = std::make_unique<HttpClient>(asio::make_strand(io), berth::net::HttpClientOptions{
                                                                  .base_url = "http://" + simulator->address()});
    REQUIRE(client->init().ok());
    if (!simulator->standby_address().empty()) {
      standby_client = std::make_unique<HttpClient>(
          asio::make_strand(io), berth::net::HttpClientOptions{.base_url = "http://" + simulator->standby_address()});
      REQUIRE(standby_client->init().ok());
    }
  }
  ~Fixture() {
    simulator->stop();
    work.reset();
    io.stop();
    for (auto& t : threads) t.join();
  }
  static SimulatorOptions defaults() {
    SimulatorOptions options;
    options.agents = 2;
    options.heartbeat_interval = 200ms;
    return options;
  }

  HttpResponse request(HttpClient& via, const std::string& method, const std::string& target, const std::string& body,
                       Headers headers) {
    for (const auto& [k, v] : auth) headers.emplace(k, v);
    HttpClientRequest request;
    request.method = method;
    request.target = target;
    request.headers = std::move(headers);
    request.body = body;
    std::promise<berth::StatusOr<HttpResponse>> promise;
    auto future = promise.get_future();
    via.request(std::move(request), [&](berth::StatusOr<HttpResponse> r) { promise.set_value(std::move(r)); });
    REQUIRE(future.wait_for(10s) == std::future_status::ready);
    auto result = future.get();
    INFO(result.status().to_string());
    REQUIRE(result.ok());
    return *result;
  }
  HttpResponse post(const std::string& body, Headers headers = {{"content-type", "application/json"}}) {
    return request(*client, "POST", "/api/v1/scheduler", body, std::move(headers));
  }
  // A call on behalf of a subscription (its framework id and stream id are filled in).
  HttpResponse call(const Subscription& s, const std::string& type, const std::string& payload = "") {
    std::string body = R"({"framework_id":{"value":")" + s.framework_id + R"("},"type":")" + type + "\"";
    if (!payload.empty()) {
      std::string field = type;
      for (auto& c : field) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      body += ",\"" + field + "\":" + payload;
    }
    body += "}";
    auto response = post(body, {{"content-type", "application/json"}, {"mesos-stream-id", s.stream_id}});
    INFO(type << " -> " << response.status << " " << response.body);
    CHECK(response.status == 202);
    return response;
  }
  json::object admin(const std::string& method, const std::string& path, const std::string& body = "") {
    auto response = request(*client, method, path, body, {{"content-type", "application/json"}});
    INFO(path << " -> " << response.body);
    REQUIRE(response.status == 200);
    return json::parse(response.body).as_object();
  }
  json::object state() { return admin("GET", "/sim/state"); }
  void advance(double seconds) { admin("POST", "/sim/advance", R"({"seconds":)" + std::to_string(seconds) + "}"); }

  // Subscribes and reads SUBSCRIBED.
  std::unique_ptr<Subscription> subscribe(const std::string& info = framework_info(), const std::string& id = "") {
    auto s = std::make_unique<Subscription>(*client, subscribe_body(info, id), auth);
    REQUIRE(s->status() == 200);
    auto subscribed = s->next("SUBSCRIBED");
    s->framework_id = str(subscribed, {"subscribed", "framework_id", "value"});
    s->stream_id = s->head("mesos-stream-id");
    return s;
  }
  // Polls the state until `predicate` holds.
  json::object wait_state(const std::function<bool(const json::object&)>& predicate) {
    const auto deadline = std::chrono::steady_clock::now() + kDeadline;
    json::object last;
    while (std::chrono::steady_clock::now() < deadline) {
      last = state();
      if (predicate(last)) return last;
      std::this_thread::sleep_for(5ms);
    }
    FAIL("state did not reach the expected condition: " << json::serialize(last));
    return last;
  }
};

json::array offers_of(const json::object& event) { return event.at("offers").as_object().at("offers").as_array(); }

std::string labels_json(const std::map<std::string, std::string>& labels) {
  json::array list;
  for (const auto& [k, v] : labels) list.push_back(json::object{{"key", k}, {"value", v}});
  return json::serialize(json::object{{"labels", list}});
}

// A TaskInfo for the command executor using cpus/mem (with the offer's allocation_info if `role`).
std::string task_info(const std::string& task_id, const json::object& offer, std::map<std::string, std::string> labels = {},
                      double cpus = 1, double mem = 128, const std::string& role = "", const std::string& extra = "") {
  labels.emplace("sim.berth.dev/start-delay", "0s");
  const std::string allocation = role.empty() ? "" : R"(,"allocation_info":{"role":")" + role + R"("})";
  return R"({"name":")" + task_id + R"(","task_id":{"value":")" + task_id + R"("},"agent_id":{"value":")" +
         str(offer, {"agent_id", "value"}) + R"("},"resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":)" +
         std::to_string(cpus) + "}" + allocation + R"(},{"name":"mem","type":"SCALAR","scalar":{"value":)" +
         std::to_string(mem) + "}" + allocation + R"(}],"command":{"value":"sleep 1000"},"labels":)" +
         labels_json(labels) + extra + "}";
}

std::string launch_payload(const json::object& offer, const std::string& tasks, const std::string& filters = "") {
  return R"({"offer_ids":[{"value":")" + str(offer, {"id", "value"}) +
         R"("}],"operations":[{"type":"LAUNCH","launch":{"task_infos":[)" + tasks + "]}}]" +
         (filters.empty() ? "" : ",\"filters\":" + filters) + "}";
}

std::string ack_payload(const json::object& update) {
  const auto& status = update.at("update").as_object().at("status").as_object();
  return R"({"agent_id":{"value":")" + str(status, {"agent_id", "value"}) + R"("},"task_id":{"value":")" +
         str(status, {"task_id", "value"}) + R"("},"uuid":")" + str(status, {"uuid"}) + "\"}";
}

// Acknowledges the updates of `task_id` until one in `state` has been acknowledged; returns it.
json::object ack_until(Fixture& f, Subscription& s, const std::string& task_id, const std::string& state) {
  for (int i = 0; i < 10; ++i) {
    auto update = s.update(task_id);
    f.call(s, "ACKNOWLEDGE", ack_payload(update));
    if (str(update, {"update", "status", "state"}) == state) return update;
  }
  FAIL("task " << task_id << " never reached " << state);
  return {};
}

const json::object& framework_state(const json::object& state, const std::string& id) {
  for (const auto& framework : state.at("frameworks").as_array()) {
    if (str(framework, {"id"}) == id) return framework.as_object();
  }
  FAIL("no framework " << id << " in the state");
  throw std::logic_error("unreachable");
}

const json::object* task_state(const json::object& state, const std::string& id) {
  for (const auto& task : state.at("tasks").as_array()) {
    if (str(task, {"id"}) == id) return &task.as_object();
  }
  return nullptr;
}

// Launches one task on the first offer and acknowledges it up to TASK_RUNNING.
json::object launch_running(Fixture& f, Subscription& s, const std::string& task_id,
                            const std::map<std::string, std::string>& labels = {}) {
  auto offer = offers_of(s.next("OFFERS")).at(0).as_object();
  f.call(s, "ACCEPT", launch_payload(offer, task_info(task_id, offer, labels)));
  ack_until(f, s, task_id, "TASK_RUNNING");
  return offer;
}

}  // namespace

TEST_CASE("SUBSCRIBE opens a RecordIO stream: SUBSCRIBED first, heartbeats, one offer per agent") {
  Fixture f;
  Subscription s(*f.client, subscribe_body());
  REQUIRE(s.status() == 200);
  CHECK(s.head("content-type") == "application/json");
  CHECK(s.head("transfer-encoding") == "chunked");
  const std::string stream_id = s.head("mesos-stream-id");
  CHECK(stream_id.size() == 36);

  auto subscribed = s.next([](const json::object&) { return true; });  // the very first event
  REQUIRE(str(subscribed, {"type"}) == "SUBSCRIBED");
  const std::string framework_id = str(subscribed, {"subscribed", "framework_id", "value"});
  CHECK(framework_id.size() == 41);  // <master uuid>-0000
  CHECK(framework_id.substr(36) == "-0000");
  CHECK(subscribed.at("subscribed").as_object().at("heartbeat_interval_seconds").to_number<double>() == 0.2);
  CHECK_FALSE(str(subscribed, {"subscribed", "master_info", "id"}).empty());

  auto offers = offers_of(s.next("OFFERS"));
  std::set<std::string> agents;
  std::set<std::string> ids;
  for (const auto& offer : offers) {
    agents.insert(str(offer, {"agent_id", "value"}));
    ids.insert(str(offer, {"id", "value"}));
    CHECK(str(offer, {"framework_id", "value"}) == framework_id);
    CHECK(str(offer, {"allocation_info", "role"}) == "*");
    CHECK(str(offer, {"hostname"}).rfind("sim-agent-", 0) == 0);
    std::set<std::string> names;
    for (const auto& resource : offer.at("resources").as_array()) names.insert(str(resource, {"name"}));
    CHECK(names == std::set<std::string>{"cpus", "disk", "mem", "ports"});
  }
  CHECK(agents.size() == 2);
  CHECK(ids.size() == 2);
  s.next("HEARTBEAT");
  s.next("HEARTBEAT");

  // Every record is "<length>\n<exactly length bytes of JSON>".
  std::string raw = s.raw();
  std::size_t records = 0;
  while (!raw.empty()) {
    const auto eol = raw.find('\n');
    REQUIRE(eol != std::string::npos);
    const std::size_t length = std::stoul(raw.substr(0, eol));
    REQUIRE(raw.size() >= eol + 1 + length);
    CHECK(json::parse(raw.substr(eol + 1, length)).is_object());
    raw.erase(0, eol + 1 + length);
    ++records;
  }
  CHECK(records >= 4);
  auto framework = framework_state(f.state(), framework_id);
  CHECK(framework.at("subscribed").as_bool());
  CHECK(str(framework, {"stream_id"}) == stream_id);
  CHECK(framework.at("outstanding_offers").as_int64() == 2);
}

TEST_CASE("ACCEPT LAUNCH: STAGING, STARTING, RUNNING with uuids, each held back until acknowledged") {
  Fixture f;
  auto s = f.subscribe();
  auto offer = offers_of(s->next("OFFERS")).at(0).as_object();
  f.call(*s, "ACCEPT", launch_payload(offer, task_info("t1", offer)));

  auto staging = s->update("t1");
  const auto& status = staging.at("update").as_object().at("status").as_object();
  CHECK(str(status, {"state"}) == "TASK_STAGING");
  CHECK(str(status, {"agent_id", "value"}) == str(offer, {"agent_id", "value"}));
  CHECK(str(status, {"uuid"}).size() == 24);  // base64 of 16 bytes
  CHECK(status.at("timestamp").is_number());

  // The agent has the task running, but nothing after STAGING reaches the scheduler yet.
  auto state = f.wait_state([](const json::object& st) {
    const auto* task = task_state(st, "t1");
    return task && str(*task, {"state"}) == "TASK_RUNNING";
  });
  CHECK(json::serialize(task_state(state, "t1")->at("unacked")) ==
        R"(["TASK_STAGING","TASK_STARTING","TASK_RUNNING"])");
  CHECK(framework_state(state, s->framework_id).at("unacked_updates").as_int64() == 3);
  CHECK_FALSE(s->has([](const json::object& e) { return str(e, {"type"}) == "UPDATE"; }));

  // Not acknowledged: the same update (same uuid) comes again after the retry interval.
  f.advance(10);
  auto again = s->update("t1");
  CHECK(str(again, {"update", "status", "uuid"}) == str(status, {"uuid"}));
  CHECK(str(again, {"update", "status", "state"}) == "TASK_STAGING");

  f.call(*s, "ACKNOWLEDGE", ack_payload(staging));
  auto starting = s->update("t1");
  CHECK(str(starting, {"update", "status", "state"}) == "TASK_STARTING");
  CHECK(str(starting, {"update", "status", "source"}) == "SOURCE_EXECUTOR");
  f.call(*s, "ACKNOWLEDGE", ack_payload(starting));
  auto running = s->update("t1");
  CHECK(str(running, {"update", "status", "state"}) == "TASK_RUNNING");
  CHECK_FALSE(str(running, {"update", "status", "container_status", "container_id", "value"}).empty());
  CHECK(str(running, {"update", "status", "uuid"}) != str(status, {"uuid"}));
  f.call(*s, "ACKNOWLEDGE", ack_payload(running));
  state = f.wait_state([&](const json::object& st) {
    return framework_state(st, s->framework_id).at("unacked_updates").as_int64() == 0;
  });
  // The task's resources are used on its agent.
  for (const auto& agent : state.at("agents").as_array()) {
    if (str(agent, {"id"}) == str(offer, {"agent_id", "value"})) {
      CHECK(agent.at("used").at("cpus").to_number<double>() == 1);
      CHECK(agent.at("used").at("mem").to_number<double>() == 128);
    }
  }
}

TEST_CASE("invalid launches: TASK_ERROR for bad tasks, TASK_DROPPED / TASK_LOST for used offers") {
  Fixture f;
  SECTION("PARTITION_AWARE framework") {
    auto s = f.subscribe(framework_info(R"("capabilities":[{"type":"PARTITION_AWARE"}])"));
    auto offers = offers_of(s->next("OFFERS"));
    auto offer = offers.at(0).as_object();
    auto other = offers.at(1).as_object();
    const std::string too_big = task_info("big", offer, {}, 1000);
    const std::string both = task_info("both", offer, {}, 1, 32, "", R"(,"executor":{"executor_id":{"value":"e"}})");
    const std::string wrong_agent = task_info("wrong", other);
    f.call(*s, "ACCEPT", launch_payload(offer, too_big + "," + both + "," + wrong_agent + "," + task_info("ok", offer)));
    auto big = s->update("big");
    CHECK(str(big, {"update", "status", "state"}) == "TASK_ERROR");
    CHECK(str(big, {"update", "status", "reason"}) == "REASON_TASK_INVALID");
    CHECK(str(big, {"update", "status", "source"}) == "SOURCE_MASTER");
    CHECK(str(big, {"update", "status", "message"}).rfind("Total resources cpus(*):1000; mem(*):128 required by task "
                                                           "and its executor is more than available ", 0) == 0);
    CHECK(str(big, {"update", "status", "uuid"}).empty());
    CHECK(str(s->update("both"), {"update", "status", "message"}) ==
          "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present");
    CHECK(str(s->update("wrong"), {"update", "status", "message"}) ==
          "Task uses invalid agent: " + str(other, {"agent_id", "value"}));
    s->update("ok", "TASK_STAGING");

    // The offer is used up: launching on it again drops the task.
    f.call(*s, "ACCEPT", launch_payload(offer, task_info("late", offer)));
    auto late = s->update("late");
    CHECK(str(late, {"update", "status", "state"}) == "TASK_DROPPED");
    CHECK(str(late, {"update", "status", "reason"}) == "REASON_INVALID_OFFERS");
    CHECK(str(late, {"update", "status", "message"}) ==
          "Task launched with invalid offers: Offer " + str(offer, {"id", "value"}) + " is no longer valid");
  }
  SECTION("without PARTITION_AWARE the same is TASK_LOST, duplicate task ids are TASK_ERROR") {
    auto s = f.subscribe();
    auto offers = offers_of(s->next("OFFERS"));
    auto offer = offers.at(0).as_object();
    f.call(*s, "ACCEPT", launch_payload(offer, task_info("a", offer) + "," + task_info("a", offer)));
    s->update("a", "TASK_STAGING");
    CHECK(str(s->update("a", "TASK_ERROR"), {"update", "status", "message"}) == "Task has duplicate ID: a");
    f.call(*s, "ACCEPT", launch_payload(offer, task_info("b", offer)));
    CHECK(str(s->update("b"), {"update", "status", "state"}) == "TASK_LOST");
  }
}

TEST_CASE("LAUNCH_GROUP: executor and tasks share the offer, killing one task kills the group") {
  Fixture f;
  auto s = f.subscribe();
  auto offer = offers_of(s->next("OFFERS")).at(0).as_object();
  auto group_task = [&](const std::string& id) {
    std::string task = task_info(id, offer);
    const auto command = task.find(R"(,"command":{"value":"sleep 1000"})");
    return task.erase(command, std::string(R"(,"command":{"value":"sleep 1000"})").size());
  };
  f.call(*s, "ACCEPT",
         R"({"offer_ids":[{"value":")" + str(offer, {"id", "value"}) +
             R"("}],"operations":[{"type":"LAUNCH_GROUP","launch_group":{"executor":{"type":"DEFAULT",)"
             R"("executor_id":{"value":"exec-1"},"resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":0.1}}]},)"
             R"("task_group":{"tasks":[)" + group_task("g1") + "," + group_task("g2") + "]}}}]}");
  auto g1 = ack_until(f, *s, "g1", "TASK_RUNNING");
  CHECK(str(g1, {"update", "status", "executor_id", "value"}) == "exec-1");
  ack_until(f, *s, "g2", "TASK_RUNNING");
  auto state = f.state();
  CHECK(str(*task_state(state, "g1"), {"resources", "cpus"}) == "1.1E0");  // the executor's share goes with the first
  f.call(*s, "KILL", R"({"task_id":{"value":"g2"}})");
  f.advance(1);
  ack_until(f, *s, "g1", "TASK_KILLED");
  ack_until(f, *s, "g2", "TASK_KILLED");
}

TEST_CASE("MULTI_ROLE: offers carry the role, task resources must keep allocation_info, reserved resources") {
  SimulatorOptions options = Fixture::defaults();
  options.agents = 0;
  berth::sim::mesos::AgentSpec agent;
  agent.hostname = "reserved-1";
  agent.cpus = 8;
  agent.reserved["batch"] = {{"cpus", 2}};
  options.agent_specs = {agent};
  Fixture f(options);
  auto s = f.subscribe(framework_info(R"("roles":["batch"],"capabilities":[{"type":"MULTI_ROLE"}])"));
  auto offer = offers_of(s->next("OFFERS")).at(0).as_object();
  CHECK(str(offer, {"allocation_info", "role"}) == "batch");
  std::set<std::string> roles;
  for (const auto& resource : offer.at("resources").as_array()) {
    if (str(resource, {"name"}) == "cpus") roles.insert(str(resource, {"role"}));
    CHECK(str(resource, {"allocation_info", "role"}) == "batch");
  }
  CHECK(roles == std::set<std::string>{"*", "batch"});
  f.call(*s, "ACCEPT", launch_payload(offer, task_info("no-role", offer)));
  auto error = s->update("no-role");
  CHECK(str(error, {"update", "status", "state"}) == "TASK_ERROR");
  CHECK(str(error, {"update", "status", "message"}) == "The resources are not allocated to a role");

  f.call(*s, "REVIVE");  // clears the filter on what the failed ACCEPT left unused
  auto again = offers_of(s->next("OFFERS")).at(0).as_object();
  // Unreserved cpus asked for are taken from the unreserved part only (6 of the 8).
  f.call(*s, "ACCEPT", launch_payload(again, task_info("too-many", again, {}, 7, 128, "batch")));
  CHECK(str(s->update("too-many"), {"update", "status", "state"}) == "TASK_ERROR");
  f.call(*s, "REVIVE");
  again = offers_of(s->next("OFFERS")).at(0).as_object();
  f.call(*s, "ACCEPT", launch_payload(again, task_info("with-role", again, {}, 6, 128, "batch")));
  s->update("with-role", "TASK_STAGING");
}

TEST_CASE("DECLINE with refuse_seconds keeps the agent from the framework until then, SUPPRESS and REVIVE") {
  SimulatorOptions options = Fixture::defaults();
  options.agents = 1;
  Fixture f(options);
  auto s = f.subscribe();
  auto offer = offers_of(s->next("OFFERS")).at(0).as_object();

  SECTION("DECLINE") {
    f.call(*s, "DECLINE", R"({"offer_ids":[{"value":")" + str(offer, {"id", "value"}) +
                              R"("}],"filters":{"refuse_seconds":30}})");
    auto state = f.state();
    CHECK(framework_state(state, s->framework_id).at("outstanding_offers").as_int64() == 0);
    f.advance(20);
    CHECK(framework_state(f.state(), s->framework_id).at("outstanding_offers").as_int64() == 0);
    CHECK_FALSE(s->has([](const json::object& e) { return str(e, {"type"}) == "OFFERS"; }));
    f.advance(11);
    auto again = offers_of(s->next("OFFERS")).at(0).as_object();
    CHECK(str(again, {"agent_id", "value"}) == str(offer, {"agent_id", "value"}));
    CHECK(str(again, {"id", "value"}) != str(offer, {"id", "value"}));
  }
  SECTION("SUPPRESS, then REVIVE clears filters and suppression") {
    f.call(*s, "SUPPRESS");
    f.call(*s, "DECLINE", R"({"offer_ids":[{"value":")" + str(offer, {"id", "value"}) +
                              R"("}],"filters":{"refuse_seconds":0}})");
    auto state = f.state();
    auto framework = framework_state(state, s->framework_id);
    CHECK(json::serialize(framework.at("suppressed_roles")) == R"(["*"])");
    CHECK(framework.at("outstanding_offers").as_int64() == 0);
    f.advance(60);
    CHECK(framework_state(f.state(), s->framework_id).at("outstanding_offers").as_int64() == 0);
    f.call(*s, "REVIVE", "{}");
    s->next("OFFERS");
    CHECK(json::serialize(framework_state(f.state(), s->framework_id).at("suppressed_roles")) == "[]");
  }
}

TEST_CASE("two frameworks share the agents fairly") {
  SimulatorOptions options = Fixture::defaults();
  options.agents = 4;
  Fixture f(options);
  auto a = f.subscribe();
  json::array offers = offers_of(a->next("OFFERS"));
  CHECK(offers.size() == 4);
  auto b = f.subscribe();
  CHECK(framework_state(f.state(), b->framework_id).at("outstanding_offers").as_int64() == 0);
  // Declined for a long time by a, the agents go to b.
  std::string ids;
  for (std::size_t i = 0; i < offers.size(); ++i) {
    ids += (i ? "," : "") + std::string(R"({"value":")") + str(offers[i], {"id", "value"}) + "\"}";
  }
  f.call(*a, "DECLINE", R"({"offer_ids":[)" + ids + R"(],"filters":{"refuse_seconds":1000}})");
  CHECK(offers_of(b->next("OFFERS")).size() == 4);
}

TEST_CASE("KILL: TASK_KILLING with the capability, TASK_KILLED after the shutdown delay, unknown tasks reconcile") {
  Fixture f;
  auto s = f.subscribe(framework_info(R"("failover_timeout":60,"capabilities":[{"type":"TASK_KILLING_STATE"}])"));
  launch_running(f, *s, "k1", {{"sim.berth.dev/shutdown-delay", "2s"}});
  f.call(*s, "KILL", R"({"task_id":{"value":"k1"}})");
  auto killing = s->update("k1");
  CHECK(str(killing, {"update", "status", "state"}) == "TASK_KILLING");
  f.call(*s, "ACKNOWLEDGE", ack_payload(killing));
  f.advance(2);
  auto killed = s->update("k1");
  CHECK(str(killed, {"update", "status", "state"}) == "TASK_KILLED");
  CHECK(str(killed, {"update", "status", "message"}) == "Command terminated with signal Terminated");
  f.call(*s, "ACKNOWLEDGE", ack_payload(killed));
  auto state = f.wait_state([&](const json::object& st) { return task_state(st, "k1") == nullptr; });
  CHECK(str(framework_state(state, s->framework_id), {"completed_tasks", "TASK_KILLED"}) == "1");

  SECTION("a grace shorter than the shutdown delay kills at the grace") {
    launch_running(f, *s, "k2", {{"sim.berth.dev/shutdown-delay", "30s"}});
    f.call(*s, "KILL", R"({"task_id":{"value":"k2"},"kill_policy":{"grace_period":{"nanoseconds":1000000000}}})");
    f.call(*s, "ACKNOWLEDGE", ack_payload(s->update("k2", "TASK_KILLING")));
    f.advance(1);
    CHECK(str(s->update("k2", "TASK_KILLED"), {"update", "status", "message"}) == "Command terminated with signal Killed");
  }
  SECTION("an unknown task is answered as reconciliation, without uuid") {
    f.call(*s, "KILL", R"({"task_id":{"value":"nope"}})");
    auto lost = s->update("nope");
    CHECK(str(lost, {"update", "status", "state"}) == "TASK_LOST");
    CHECK(str(lost, {"update", "status", "reason"}) == "REASON_RECONCILIATION");
    CHECK(str(lost, {"update", "status", "uuid"}).empty());
  }
}

TEST_CASE("scripted exits: exit code, OOM, run-for, and POST /sim/tasks/{id}/exit") {
  Fixture f;
  auto s = f.subscribe();
  auto offers = offers_of(s->next("OFFERS"));
  auto offer = offers.at(0).as_object();
  f.call(*s, "ACCEPT",
         launch_payload(offer, task_info("fail", offer, {{"sim.berth.dev/run-for", "0s"}, {"sim.berth.dev/exit-code", "3"}}) +
                                   "," + task_info("oom", offer, {{"sim.berth.dev/oom", "true"}}, 1, 512) + "," +
                                   task_info("done", offer, {{"sim.berth.dev/run-for", "5s"}}) + "," +
                                   task_info("manual", offer)));
  auto failed = ack_until(f, *s, "fail", "TASK_FAILED");
  CHECK(str(failed, {"update", "status", "message"}) == "Command exited with status 3");
  CHECK(str(failed, {"update", "status", "reason"}) == "REASON_COMMAND_EXECUTOR_FAILED");
  CHECK(str(failed, {"update", "status", "source"}) == "SOURCE_EXECUTOR");

  ack_until(f, *s, "oom", "TASK_RUNNING");
  ack_until(f, *s, "done", "TASK_RUNNING");
  ack_until(f, *s, "manual", "TASK_RUNNING");
  f.advance(5);
  auto oom = ack_until(f, *s, "oom", "TASK_FAILED");
  CHECK(str(oom, {"update", "status", "reason"}) == "REASON_CONTAINER_LIMITATION_MEMORY");
  CHECK(str(oom, {"update", "status", "source"}) == "SOURCE_AGENT");
  auto done = ack_until(f, *s, "done", "TASK_FINISHED");
  CHECK(str(done, {"update", "status", "message"}) == "Command exited with status 0");

  f.admin("POST", "/sim/tasks/manual/exit", R"({"code":137})");
  CHECK(str(ack_until(f, *s, "manual", "TASK_FAILED"), {"update", "status", "message"}) ==
        "Command exited with status 137");
  auto state = f.wait_state([](const json::object& st) { return st.at("tasks").as_array().empty(); });
  for (const auto& agent : state.at("agents").as_array()) CHECK(agent.at("used").at("cpus").to_number<double>() == 0);
  CHECK(f.request(*f.client, "POST", "/sim/tasks/manual/exit", "{}", {}).status == 404);
}

TEST_CASE("agent loss: TASK_UNREACHABLE / TASK_GONE_BY_OPERATOR (PARTITION_AWARE) or TASK_LOST, FAILURE, RESCIND") {
  SimulatorOptions options = Fixture::defaults();
  options.agents = 1;
  Fixture f(options);
  const std::string mode = GENERATE(as<std::string>{}, "unreachable", "gone", "lost");
  const bool aware = GENERATE(true, false);
  auto s = f.subscribe(framework_info(aware ? R"("capabilities":[{"type":"PARTITION_AWARE"}])" : ""));
  auto offer = offers_of(s->next("OFFERS")).at(0).as_object();
  f.call(*s, "ACCEPT", launch_payload(offer, task_info("t", offer, {}, 1, 128), R"({"refuse_seconds":0})"));
  ack_until(f, *s, "t", "TASK_RUNNING");
  auto leftover = offers_of(s->next("OFFERS")).at(0).as_object();
  f.admin("POST", "/sim/agents/sim-agent-1/remove", R"({"mode":")" + mode + "\"}");
  auto rescind = s->next("RESCIND");
  CHECK(str(rescind, {"rescind", "offer_id", "value"}) == str(leftover, {"id", "value"}));
  auto update = s->update("t");
  const auto& status = update.at("update").as_object().at("status").as_object();
  const std::string expected = !aware              ? "TASK_LOST"
                               : mode == "unreachable" ? "TASK_UNREACHABLE"
                               : mode == "gone"        ? "TASK_GONE_BY_OPERATOR"
                                                       : "TASK_GONE";
  CHECK(str(status, {"state"}) == expected);
  CHECK(str(status, {"source"}) == "SOURCE_MASTER");
  CHECK(str(status, {"reason"}) == (mode == "gone" ? "REASON_AGENT_REMOVED_BY_OPERATOR" : "REASON_AGENT_REMOVED"));
  CHECK(str(status, {"uuid"}).empty());
  CHECK(str(s->next("FAILURE"), {"failure", "agent_id", "value"}) == str(offer, {"agent_id", "value"}));

  // Explicit reconciliation of the task names the agent's fate.
  f.call(*s, "RECONCILE", R"({"tasks":[{"task_id":{"value":"t"},"agent_id":{"value":")" + str(offer, {"agent_id", "value"}) + "\"}}]}");
  auto answer = s->update("t");
  const std::string reconciled = !aware              ? "TASK_LOST"
                                 : mode == "unreachable" ? "TASK_UNREACHABLE"
                                 : mode == "gone"        ? "TASK_GONE_BY_OPERATOR"
                                                         : "TASK_UNKNOWN";
  CHECK(str(answer, {"update", "status", "state"}) == reconciled);
  CHECK(str(answer, {"update", "status", "reason"}) == "REASON_RECONCILIATION");
  CHECK(f.request(*f.client, "POST", "/sim/agents/sim-agent-1/remove", R"({"mode":"lost"})", {}).status == 409);
}

TEST_CASE("RECONCILE: explicit answers per task, implicit lists every known task, no uuid") {
  Fixture f;
  auto s = f.subscribe(framework_info(R"("capabilities":[{"type":"PARTITION_AWARE"}])"));
  auto offer = launch_running(f, *s, "r1");
  const std::string agent = str(offer, {"agent_id", "value"});
  f.call(*s, "RECONCILE",
         R"({"tasks":[{"task_id":{"value":"r1"}},{"task_id":{"value":"ghost"},"agent_id":{"value":")" + agent +
             R"("}},{"task_id":{"value":"nowhere"}}]})");
  auto known = s->update("r1");
  CHECK(str(known, {"update", "status", "state"}) == "TASK_RUNNING");
  CHECK(str(known, {"update", "status", "reason"}) == "REASON_RECONCILIATION");
  CHECK(str(known, {"update", "status", "source"}) == "SOURCE_MASTER");
  CHECK(str(known, {"update", "status", "uuid"}).empty());
  CHECK(str(s->update("ghost"), {"update", "status", "state"}) == "TASK_GONE");
  CHECK(str(s->update("nowhere"), {"update", "status", "state"}) == "TASK_UNKNOWN");

  f.call(*s, "RECONCILE", R"({"tasks":[]})");
  auto implicit = s->update("r1");
  CHECK(str(implicit, {"update", "status", "state"}) == "TASK_RUNNING");
  CHECK(str(implicit, {"update", "status", "agent_id", "value"}) == agent);
}

TEST_CASE("bad calls get the master's status codes and texts") {
  Fixture f;
  auto s = f.subscribe();
  const Headers json_type{{"content-type", "application/json"}};
  auto expect = [&](const HttpResponse& r, int code, const std::string& body) {
    INFO(r.body);
    CHECK(r.status == code);
    CHECK(r.body == body);
  };
  expect(f.post("{}", {}), 400, "Expecting 'Content-Type' to be present");
  expect(f.post("{}", {{"content-type", "application/json; charset=utf-8"}}), 415,
         "Expecting 'Content-Type' of application/json or application/x-protobuf");
  expect(f.post("{}", {{"content-type", "text/plain"}}), 415,
         "Expecting 'Content-Type' of application/json or application/x-protobuf");
  CHECK(f.post("{}", {{"content-type", "application/x-protobuf"}}).status == 415);
  CHECK(f.post("{nope", json_type).body.rfind("Failed to parse body into JSON: ", 0) == 0);
  expect(f.post("{}", json_type), 400, "Failed to validate scheduler::Call: Expecting 'type' to be present");
  expect(f.post(R"({"type":"SUBSCRIBE","subscribe":{"framework_info":{"name":"x"}}})", json_type), 400,
         "Failed to convert JSON into Call protobuf: Missing required fields: subscribe.framework_info.user");
  expect(f.post(R"({"type":"DECLINE","decline":{"offer_ids":[]}})", json_type), 400,
         "Failed to validate scheduler::Call: Expecting 'framework_id' to be present");
  expect(f.post(subscribe_body(framework_info(R"("id":{"value":"a"})"), "b"), json_type), 400,
         "Failed to validate scheduler::Call: 'framework_id' differs from 'subscribe.framework_info.id'");
  expect(f.post(subscribe_body(), {{"content-type", "application/json"}, {"mesos-stream-id", s->stream_id}}), 400,
         "Subscribe calls should not include the 'Mesos-Stream-Id' header");
  expect(f.post(subscribe_body(), {{"content-type", "application/json"}, {"accept", "text/html"}}), 406,
         "Expecting 'Accept' to allow 'application/x-protobuf' or 'application/json'");
  const std::string revive = R"({"framework_id":{"value":")" + s->framework_id + R"("},"type":"REVIVE"})";
  expect(f.post(revive, json_type), 400, "All non-subscribe calls should include the 'Mesos-Stream-Id' header");
  expect(f.post(revive, {{"content-type", "application/json"}, {"mesos-stream-id", "bogus"}}), 400,
         "The stream ID 'bogus' included in this request didn't match the stream ID currently associated with "
         "framework ID " + s->framework_id);
  expect(f.post(R"({"framework_id":{"value":"unknown"},"type":"REVIVE"})", json_type), 400, "Framework cannot be found");
  expect(f.post(R"({"framework_id":{"value":")" + s->framework_id + R"("},"type":"KILL"})",
                {{"content-type", "application/json"}, {"mesos-stream-id", s->stream_id}}),
         400, "Failed to validate scheduler::Call: Expecting 'kill' to be present");
  expect(f.post(R"({"framework_id":{"value":")" + s->framework_id + R"("},"type":"ACKNOWLEDGE","acknowledge":{"agent_id":{"value":"a"},"task_id":{"value":"t"},"uuid":"AAAA"}})",
                {{"content-type", "application/json"}, {"mesos-stream-id", s->stream_id}}),
         400, "Failed to validate scheduler::Call: Not a valid UUID");
  CHECK(f.post(R"({"framework_id":{"value":")" + s->framework_id + R"("},"type":"FROBNICATE"})",
               {{"content-type", "application/json"}, {"mesos-stream-id", s->stream_id}})
            .status == 501);
  auto get = f.request(*f.client, "GET", "/api/v1/scheduler", "", {});
  expect(get, 405, "Expecting one of { 'POST' }, but received 'GET'");
  CHECK(header(get.headers, "allow") == "POST");

  // Semantic SUBSCRIBE problems: 200, one ERROR event, then the stream ends.
  Subscription roles(*f.client, subscribe_body(framework_info(R"("roles":["batch"])")));
  CHECK(roles.status() == 200);
  CHECK(str(roles.next("ERROR"), {"error", "message"}) ==
        "'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable");
  CHECK(roles.wait_ended());
}

TEST_CASE("calls after the subscription broke get 403, re-subscribing with the framework id keeps the tasks") {
  Fixture f;
  auto s = f.subscribe();
  launch_running(f, *s, "keep");
  const std::string id = s->framework_id;
  const std::string old_stream = s->stream_id;

  SECTION("the connection drops, then the framework comes back within failover_timeout") {
    f.admin("POST", "/sim/faults", R"({"drop_streams":true})");
    CHECK(s->wait_ended());
    f.wait_state([&](const json::object& st) { return !framework_state(st, id).at("subscribed").as_bool(); });
    auto forbidden = f.post(R"({"framework_id":{"value":")" + id + R"("},"type":"REVIVE"})",
                            {{"content-type", "application/json"}, {"mesos-stream-id", old_stream}});
    CHECK(forbidden.status == 403);
    CHECK(forbidden.body == "Framework is not subscribed");
    f.advance(3000);  // within the 3600 s failover_timeout
    auto again = f.subscribe(framework_info(R"("id":{"value":")" + id + R"("},"failover_timeout":3600)"), id);
    CHECK(again->framework_id == id);
    CHECK(again->stream_id != old_stream);
    f.call(*again, "RECONCILE", R"({"tasks":[{"task_id":{"value":"keep"}}]})");
    CHECK(str(again->update("keep"), {"update", "status", "state"}) == "TASK_RUNNING");
  }
  SECTION("a second SUBSCRIBE fails the first stream over") {
    auto again = f.subscribe(framework_info(R"("id":{"value":")" + id + R"("},"failover_timeout":3600)"), id);
    CHECK(str(s->next("ERROR"), {"error", "message"}) == "Framework failed over");
    CHECK(s->wait_ended());
    CHECK(f.post(R"({"framework_id":{"value":")" + id + R"("},"type":"REVIVE"})",
                 {{"content-type", "application/json"}, {"mesos-stream-id", old_stream}})
              .status == 400);
    f.call(*again, "REVIVE");
  }
}

TEST_CASE("without a subscription for failover_timeout the framework is removed and its tasks killed") {
  Fixture f;
  auto s = f.subscribe(framework_info(R"("failover_timeout":30)"));
  auto offer = launch_running(f, *s, "doomed");
  const std::string id = s->framework_id;
  s.reset();  // closes the connection
  f.wait_state([&](const json::object& st) { return !framework_state(st, id).at("subscribed").as_bool(); });
  f.advance(31);
  auto state = f.wait_state([&](const json::object& st) { return framework_state(st, id).at("removed").as_bool(); });
  CHECK(str(framework_state(state, id), {"completed_tasks", "TASK_KILLED"}) == "1");
  for (const auto& agent : state.at("agents").as_array()) CHECK(agent.at("used").at("cpus").to_number<double>() == 0);

  Subscription again(*f.client, subscribe_body(framework_info(R"("id":{"value":")" + id + R"("})"), id));
  CHECK(again.status() == 200);
  CHECK(str(again.next("ERROR"), {"error", "message"}) == "Framework has been removed");
  CHECK(again.wait_ended());
}

TEST_CASE("TEARDOWN removes the framework, kills its tasks and ends the stream") {
  Fixture f;
  auto s = f.subscribe();
  launch_running(f, *s, "gone");
  f.call(*s, "TEARDOWN");
  CHECK(s->wait_ended());
  auto state = f.wait_state([&](const json::object& st) { return framework_state(st, s->framework_id).at("removed").as_bool(); });
  CHECK(state.at("tasks").as_array().empty());
  CHECK(f.post(R"({"framework_id":{"value":")" + s->framework_id + R"("},"type":"REVIVE"})",
               {{"content-type", "application/json"}, {"mesos-stream-id", s->stream_id}})
            .body == "Framework cannot be found");
}

TEST_CASE("basic authentication: 401 with the realm, principal must match framework_info.principal") {
  SimulatorOptions options = Fixture::defaults();
  options.principal = "berth";
  options.secret = "s3cret";
  Fixture f(options);
  auto unauthenticated = f.post(subscribe_body());
  CHECK(unauthenticated.status == 401);
  CHECK(header(unauthenticated.headers, "www-authenticate") == "Basic realm=\"mesos-master-scheduler\"");
  CHECK(f.request(*f.client, "GET", "/sim/state", "", {}).status == 401);
  f.auth = {{"authorization", "Basic YmVydGg6d3Jvbmc="}};  // berth:wrong
  CHECK(f.post(subscribe_body()).status == 401);
  f.auth = {{"authorization", "Basic YmVydGg6czNjcmV0"}};  // berth:s3cret
  CHECK(f.post(subscribe_body(framework_info(R"("principal":"other")"))).body ==
        "Failed to validate scheduler::Call: Authenticated principal 'berth' does not match principal 'other' set in "
        "`FrameworkInfo`");
  auto s = f.subscribe();
  CHECK(str(framework_state(f.state(), s->framework_id), {"principal"}) == "berth");
  f.call(*s, "REVIVE");
}

TEST_CASE("the standby answers 307 to the leader, a leader swap breaks streams and the framework re-subscribes") {
  SimulatorOptions options = Fixture::defaults();
  options.standby_listen = "127.0.0.1:0";
  Fixture f(options);
  auto redirect = f.request(*f.standby_client, "POST", "/api/v1/scheduler", subscribe_body(),
                            {{"content-type", "application/json"}});
  CHECK(redirect.status == 307);
  CHECK(header(redirect.headers, "location") == "//" + f.simulator->address() + "/api/v1/scheduler");

  auto s = f.subscribe();
  launch_running(f, *s, "survivor");
  auto swapped = f.admin("POST", "/sim/leader");
  CHECK(str(swapped, {"leader"}) == f.simulator->standby_address());
  CHECK(s->wait_ended());
  auto moved = f.post(subscribe_body());
  CHECK(moved.status == 307);
  CHECK(header(moved.headers, "location") == "//" + f.simulator->standby_address() + "/api/v1/scheduler");

  const std::string id = s->framework_id;
  Subscription again(*f.standby_client, subscribe_body(framework_info(R"("id":{"value":")" + id + R"("})"), id));
  REQUIRE(again.status() == 200);
  CHECK(str(again.next("SUBSCRIBED"), {"subscribed", "framework_id", "value"}) == id);
  again.framework_id = id;
  again.stream_id = again.head("mesos-stream-id");
  again.next("OFFERS");
  auto reconcile = f.request(*f.standby_client, "POST", "/api/v1/scheduler",
                             R"({"framework_id":{"value":")" + id + R"("},"type":"RECONCILE","reconcile":{"tasks":[]}})",
                             {{"content-type", "application/json"}, {"mesos-stream-id", again.stream_id}});
  CHECK(reconcile.status == 202);
  CHECK(str(again.update("survivor"), {"update", "status", "state"}) == "TASK_RUNNING");
}

TEST_CASE("faults: fail_next per call type, latency, down_for_ms keeps state") {
  Fixture f;
  auto s = f.subscribe();
  auto faults = f.admin("POST", "/sim/faults", R"({"fail_next":{"REVIVE":1},"error_code":503})");
  CHECK(str(faults, {"fail_next", "REVIVE"}) == "1");
  const std::string revive = R"({"framework_id":{"value":")" + s->framework_id + R"("},"type":"REVIVE"})";
  const Headers headers{{"content-type", "application/json"}, {"mesos-stream-id", s->stream_id}};
  auto failed = f.post(revive, headers);
  CHECK(failed.status == 503);
  CHECK(failed.body == "Master has not finished recovery");
  CHECK(f.post(revive, headers).status == 202);

  f.admin("POST", "/sim/faults", R"({"latency_ms":100})");
  const auto started = std::chrono::steady_clock::now();
  CHECK(f.post(revive, headers).status == 202);
  CHECK(std::chrono::steady_clock::now() - started >= 100ms);
  f.admin("POST", "/sim/faults", R"({"reset":true})");

  f.admin("POST", "/sim/faults", R"({"down_for_ms":300})");
  CHECK(s->wait_ended());
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  bool came_back = false;
  while (!came_back && std::chrono::steady_clock::now() < deadline) {
    std::promise<berth::StatusOr<HttpResponse>> promise;
    auto future = promise.get_future();
    HttpClientRequest request;
    request.target = "/sim/state";
    f.client->request(request, [&](berth::StatusOr<HttpResponse> r) { promise.set_value(std::move(r)); });
    auto result = future.get();
    came_back = result.ok() && result->status == 200;
    if (!came_back) std::this_thread::sleep_for(20ms);
  }
  REQUIRE(came_back);
  CHECK(framework_state(f.state(), s->framework_id).at("removed").as_bool() == false);
}

TEST_CASE("POST /sim/agents adds an agent that is offered at once") {
  SimulatorOptions options = Fixture::defaults();
  options.agents = 0;
  Fixture f(options);
  auto s = f.subscribe();
  auto added = f.admin("POST", "/sim/agents",
                       R"({"hostname":"big-1","cpus":64,"mem":262144,"ports":"31000-31099","attributes":{"rack":"r9","gen":3}})");
  auto offer = offers_of(s->next("OFFERS")).at(0).as_object();
  CHECK(str(offer, {"agent_id", "value"}) == str(added, {"id"}));
  CHECK(str(offer, {"hostname"}) == "big-1");
  CHECK(json::serialize(offer.at("attributes")) ==
        R"([{"name":"gen","type":"SCALAR","scalar":{"value":3E0}},{"name":"rack","type":"TEXT","text":{"value":"r9"}}])");
  CHECK(f.request(*f.client, "POST", "/sim/agents", R"({"hostname":"big-1"})", {}).status == 409);
}

TEST_CASE("request counts per scheduler call type; admin is not counted") {
  Fixture f;
  auto s = f.subscribe();
  f.call(*s, "REVIVE");
  f.call(*s, "KILL", R"({"task_id":{"value":"t-unknown"}})");
  f.call(*s, "KILL", R"({"task_id":{"value":"t-other"}})");
  CHECK(f.post(R"({"type":"NOT_A_CALL"})").status == 400);
  CHECK(f.request(*f.client, "GET", "/master/state-summary", "", {}).status == 404);
  f.state();

  const json::object body = f.admin("GET", "/sim/requests?reset=1");
  std::map<std::string, std::int64_t> counts;
  for (const auto& entry : body.at("requests").as_array()) {
    counts[str(entry, {"method"}) + " " + str(entry, {"route"})] =
        entry.at("count").to_number<std::int64_t>();
  }
  const std::map<std::string, std::int64_t> expected = {{"POST /api/v1/scheduler SUBSCRIBE", 1},
                                                        {"POST /api/v1/scheduler REVIVE", 1},
                                                        {"POST /api/v1/scheduler KILL", 2},
                                                        {"POST /api/v1/scheduler UNKNOWN", 1},
                                                        {"GET {other}", 1}};
  CHECK(counts == expected);
  CHECK(f.admin("GET", "/sim/requests").at("total").to_number<std::int64_t>() == 0);
}
