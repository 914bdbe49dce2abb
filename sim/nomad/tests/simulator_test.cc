// The Nomad simulator over real loopback HTTP with net::HttpClient: the API semantics clients
// trip on (plain-text errors, go-multierror bodies, 200 on unknown deregister, namespaces, ACLs,
// the one index and blocking queries, the lossy event stream), placement failures with blocked
// evaluations, the scripted client, node loss, the connection limit and faults. Waits use
// blocking queries with deadlines; the simulated clock runs 20x faster than real time.
#include <catch2/catch.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

#include "net/http_client.h"
#include "sim/nomad/simulator.h"

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using berth::sim::nomad::Simulator;
using berth::sim::nomad::SimulatorOptions;

namespace {

struct Response {
  int status = 0;
  berth::net::Headers headers;
  std::string body;
  json::value json() const { return json::parse(body); }
  std::uint64_t index() const {
    auto it = headers.find("x-nomad-index");
    return it == headers.end() ? 0 : std::stoull(it->second);
  }
};

std::string str(const json::value& value, std::initializer_list<const char*> path) {
  const json::value* current = &value;
  for (const char* key : path) {
    if (!current->is_object() || !current->as_object().contains(key)) return {};
    current = &current->as_object().at(key);
  }
  if (current->is_string()) return std::string(current->as_string());
  return json::serialize(*current);
}

// An event stream read line by line as the client receives it. The callbacks share the state
// with the reader, so bytes that arrive while the stream is torn down find it alive.
class EventStream {
 public:
  EventStream(berth::net::HttpClient& client, const std::string& target) : state_(std::make_shared<State>()) {
    berth::net::HttpClientRequest request;
    request.target = target;
    berth::net::StreamCallbacks callbacks;
    callbacks.on_headers = [state = state_](int status, const berth::net::Headers&) {
      std::lock_guard lock(state->mutex);
      state->status = status;
      state->changed.notify_all();
    };
    callbacks.on_data = [state = state_](std::string_view bytes) {
      std::lock_guard lock(state->mutex);
      state->partial += bytes;
      for (auto eol = state->partial.find('\n'); eol != std::string::npos; eol = state->partial.find('\n')) {
        state->lines.push_back(state->partial.substr(0, eol));
        state->partial.erase(0, eol + 1);
      }
      state->changed.notify_all();
    };
    callbacks.on_end = [state = state_](berth::Status) {
      std::lock_guard lock(state->mutex);
      state->ended = true;
      state->changed.notify_all();
    };
    stream_ = client.stream(request, callbacks);
  }
  ~EventStream() { stream_->cancel(); }

  int status() {
    std::unique_lock lock(state_->mutex);
    state_->changed.wait_for(lock, 10s, [&] { return state_->status != 0 || state_->ended; });
    return state_->status;
  }
  // The next line as JSON (heartbeats included), or nullopt at the end of the stream / deadline.
  std::optional<json::object> next(std::chrono::milliseconds deadline = 10s) {
    std::string line;
    {
      std::unique_lock lock(state_->mutex);
      state_->changed.wait_for(lock, deadline, [&] { return !state_->lines.empty() || state_->ended; });
      if (state_->lines.empty()) return std::nullopt;
      line = std::move(state_->lines.front());
      state_->lines.pop_front();
    }
    boost::system::error_code ec;
    auto value = json::parse(line, ec);
    INFO("event stream line: " << line);
    REQUIRE_FALSE(ec);
    return value.as_object();
  }
  // The next frame with events, skipping heartbeats.
  std::optional<json::object> next_frame(std::chrono::milliseconds deadline = 10s) {
    const auto end = std::chrono::steady_clock::now() + deadline;
    while (std::chrono::steady_clock::now() < end) {
      auto line = next(std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now()));
      if (!line) return std::nullopt;
      if (!line->empty()) return line;
    }
    return std::nullopt;
  }
  // Frames until one holds an event satisfying `predicate`; that event.
  std::optional<json::object> next_event(const std::function<bool(const json::object&)>& predicate) {
    while (auto frame = next_frame()) {
      for (const auto& event : frame->at("Events").as_array()) {
        if (predicate(event.as_object())) return event.as_object();
      }
    }
    return std::nullopt;
  }
  bool ended(std::chrono::milliseconds deadline = 10s) {
    std::unique_lock lock(state_->mutex);
    return state_->changed.wait_for(lock, deadline, [&] { return state_->ended; });
  }

 private:
  struct State {
    std::mutex mutex;
    std::condition_variable changed;
    std::deque<std::string> lines;
    std::string partial;
    int status = 0;
    bool ended = false;
  };
  std::shared_ptr<State> state_;
  std::shared_ptr<berth::net::HttpStream> stream_;
};

// The simulator on two threads; clients on a third, since HttpClient delivers a stream's bytes
// in order only on a single-threaded executor.
struct Fixture {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work{asio::make_work_guard(io)};
  asio::io_context client_io;
  asio::executor_work_guard<asio::io_context::executor_type> client_work{asio::make_work_guard(client_io)};
  std::unique_ptr<Simulator> simulator;
  std::unique_ptr<berth::net::HttpClient> client;
  std::vector<std::thread> threads;

  explicit Fixture(SimulatorOptions options = defaults()) {
    simulator = std::make_unique<Simulator>(io.get_executor(), options);
    auto status = simulator->start();
    INFO(status.to_string());
    REQUIRE(status.ok());
    for (int i = 0; i < 2; ++i) threads.emplace_back([this] { io.run(); });
    threads.emplace_back([this] { client_io.run(); });
    client = make_client();
  }
  ~Fixture() {
    client.reset();
    simulator->stop();
    work.reset();
    client_work.reset();
    io.stop();
    client_io.stop();
    for (auto& t : threads) t.join();
  }
  static SimulatorOptions defaults() {
    SimulatorOptions options;
    options.time_scale = 20;
    options.heartbeat_interval = 100ms;
    return options;
  }
  std::unique_ptr<berth::net::HttpClient> make_client() {
    berth::net::HttpClientOptions options;
    options.base_url = "http://" + simulator->address();
    auto made = std::make_unique<berth::net::HttpClient>(client_io.get_executor(), options);
    REQUIRE(made->init().ok());
    return made;
  }

  // Safe from any thread (no Catch macros): a transport failure is status 0 with its message.
  Response fetch(const std::string& method, const std::string& target, const std::string& body = "",
                 berth::net::Headers headers = {}) {
    berth::net::HttpClientRequest request;
    request.method = method;
    request.target = target;
    request.body = body;
    request.headers = std::move(headers);
    if (!body.empty()) request.headers["content-type"] = "application/json";
    auto promise = std::make_shared<std::promise<berth::StatusOr<berth::net::HttpResponse>>>();
    auto future = promise->get_future();
    client->request(request, [promise](berth::StatusOr<berth::net::HttpResponse> r) { promise->set_value(std::move(r)); });
    if (future.wait_for(20s) != std::future_status::ready) return Response{0, {}, "no answer in 20s"};
    auto result = future.get();
    if (!result.ok()) return Response{0, {}, result.status().to_string()};
    return Response{result->status, result->headers, result->body};
  }
  Response call(const std::string& method, const std::string& target, const std::string& body = "",
                berth::net::Headers headers = {}) {
    Response response = fetch(method, target, body, std::move(headers));
    INFO(method << " " << target << ": " << response.body);
    REQUIRE(response.status != 0);
    return response;
  }
  Response register_job(const std::string& body, const std::string& query = "") {
    return call("PUT", "/v1/jobs" + query, body);
  }
  // Re-reads `target` with blocking queries until `predicate` holds (deadline 10 s).
  Response wait_for(const std::string& target, const std::function<bool(const Response&)>& predicate) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    const char* separator = target.find('?') == std::string::npos ? "?" : "&";
    std::uint64_t index = 0;
    Response last;
    while (std::chrono::steady_clock::now() < deadline) {
      last = call("GET", target + separator + "index=" + std::to_string(index) + "&wait=1s");
      if (predicate(last)) return last;
      // Endpoints without blocking (or a server without a leader) answer at once: poll gently.
      if (last.status != 200 || last.index() <= index) std::this_thread::sleep_for(10ms);
      index = last.index();
    }
    FAIL("no expected state at " << target << ": " << last.status << " " << last.body);
    return last;
  }
  json::array allocs(const std::string& job, const std::string& query = "") {
    return call("GET", "/v1/job/" + job + "/allocations" + query).json().as_array();
  }
  // Waits until the job has an allocation satisfying `predicate`; returns it.
  json::object wait_alloc(const std::string& job, const std::function<bool(const json::object&)>& predicate,
                          const std::string& query = "") {
    json::object found;
    wait_for("/v1/job/" + job + "/allocations" + query, [&](const Response& r) {
      const auto body = r.json();
      for (const auto& alloc : body.as_array()) {
        if (predicate(alloc.as_object())) {
          found = alloc.as_object();
          return true;
        }
      }
      return false;
    });
    return found;
  }
  json::object alloc(const std::string& id) { return call("GET", "/v1/allocation/" + id).json().as_object(); }
  json::object state() { return call("GET", "/sim/state").json().as_object(); }
};

struct JobSpec {
  std::string id = "job";
  std::string type = "batch";
  int count = 1;
  std::string meta = "{}";  // task Meta (JSON)
  std::string resources = R"({"CPU":500,"MemoryMB":256})";
  std::string extra_job_fields;
  int restart_attempts = 0;
  int reschedule_attempts = 0;
  std::int64_t kill_timeout_ns = 5'000'000'000;
};

std::string job_json(const JobSpec& spec) {
  return R"({"Job":{"ID":")" + spec.id + R"(","Type":")" + spec.type + R"(","Datacenters":["dc1"],)" +
         spec.extra_job_fields + R"("Meta":{"owner":"exec-adapter"},"TaskGroups":[{"Name":"main","Count":)" +
         std::to_string(spec.count) + R"(,"RestartPolicy":{"Attempts":)" + std::to_string(spec.restart_attempts) +
         R"(,"Mode":"fail"},"ReschedulePolicy":{"Attempts":)" + std::to_string(spec.reschedule_attempts) +
         R"(,"Unlimited":false},"Tasks":[{"Name":"main","Driver":"docker","Config":{"image":"registry.example/spark:3.5"},"Resources":)" +
         spec.resources + R"(,"KillTimeout":)" + std::to_string(spec.kill_timeout_ns) + R"(,"Meta":)" + spec.meta +
         "}]}]}}";
}

bool status_is(const json::object& alloc, const std::string& status) { return str(alloc, {"ClientStatus"}) == status; }

std::vector<std::string> event_types(const json::object& alloc, const std::string& task = "main") {
  std::vector<std::string> types;
  for (const auto& event : alloc.at("TaskStates").as_object().at(task).as_object().at("Events").as_array()) {
    types.emplace_back(event.as_object().at("Type").as_string());
  }
  return types;
}

const json::object* last_event(const json::object& alloc, const std::string& type) {
  const json::object* found = nullptr;
  for (const auto& event : alloc.at("TaskStates").as_object().at("main").as_object().at("Events").as_array()) {
    if (event.as_object().at("Type").as_string() == type) found = &event.as_object();
  }
  return found;
}

}  // namespace

TEST_CASE("jobs: register, get, list, deregister with and without purge, unknown job 200") {
  Fixture f;
  auto registered = f.register_job(job_json({.id = "exec-1", .meta = R"({"sim.berth.dev/run-for":"1h"})"}));
  REQUIRE(registered.status == 200);
  CHECK(registered.headers["content-type"] == "application/json");
  auto reply = registered.json();
  CHECK_FALSE(str(reply, {"EvalID"}).empty());
  CHECK(str(reply, {"JobModifyIndex"}) == std::to_string(registered.index()));
  CHECK(str(reply, {"EvalCreateIndex"}) == std::to_string(registered.index()));

  auto job = f.call("GET", "/v1/job/exec-1");
  REQUIRE(job.status == 200);
  CHECK(job.headers.count("x-nomad-index"));
  CHECK(job.headers["x-nomad-knownleader"] == "true");
  CHECK(job.headers["x-nomad-lastcontact"] == "0");
  CHECK(str(job.json(), {"Version"}) == "0");
  CHECK(str(job.json(), {"Stop"}) == "false");
  CHECK(str(job.json(), {"Name"}) == "exec-1");
  CHECK(str(job.json(), {"TaskGroups"}).find("\"KillTimeout\":5000000000") != std::string::npos);

  auto running = f.wait_alloc("exec-1", [](const json::object& a) { return status_is(a, "running"); });
  CHECK(str(running, {"Name"}) == "exec-1.main[0]");
  CHECK(str(running, {"ID"}).size() == 36);
  f.wait_for("/v1/job/exec-1", [](const Response& r) { return str(r.json(), {"Status"}) == "running"; });

  f.register_job(job_json({.id = "other-2"}));
  auto list = f.call("GET", "/v1/jobs");
  REQUIRE(list.json().as_array().size() == 2);
  const auto stub = list.json().as_array()[0].as_object();
  CHECK(str(stub, {"ID"}) == "exec-1");
  CHECK(stub.at("Meta").is_null());
  CHECK(str(stub, {"JobSummary", "Summary", "main", "Running"}) == "1");
  CHECK(f.call("GET", "/v1/jobs?prefix=other").json().as_array().size() == 1);
  CHECK(str(f.call("GET", "/v1/jobs?meta=true").json().as_array()[0], {"Meta", "owner"}) == "exec-adapter");

  // Stop without purge: readable with Stop, dead once its allocation stopped.
  auto stopped = f.call("DELETE", "/v1/job/exec-1");
  REQUIRE(stopped.status == 200);
  CHECK_FALSE(str(stopped.json(), {"EvalID"}).empty());
  auto dead = f.wait_for("/v1/job/exec-1", [](const Response& r) { return str(r.json(), {"Status"}) == "dead"; });
  CHECK(str(dead.json(), {"Stop"}) == "true");
  f.wait_alloc("exec-1", [](const json::object& a) {
    return str(a, {"DesiredStatus"}) == "stop" && status_is(a, "complete");
  });

  auto purged = f.call("DELETE", "/v1/job/exec-1?purge=true");
  REQUIRE(purged.status == 200);
  auto gone = f.call("GET", "/v1/job/exec-1");
  CHECK(gone.status == 404);
  CHECK(gone.body == "job not found");
  CHECK(gone.headers["content-type"] == "text/plain; charset=utf-8");
  CHECK(f.allocs("exec-1").empty());

  auto unknown = f.call("DELETE", "/v1/job/never-was");
  CHECK(unknown.status == 200);
  CHECK(str(unknown.json(), {"EvalID"}) == "");
}

TEST_CASE("jobs: re-registering an identical job is a no-op; a change is a new version") {
  Fixture f;
  const std::string body = job_json({.id = "same", .meta = R"({"sim.berth.dev/run-for":"1h"})"});
  auto first = f.register_job(body);
  REQUIRE(first.status == 200);
  f.wait_alloc("same", [](const json::object& a) { return status_is(a, "running"); });
  const auto evals_before = f.call("GET", "/v1/job/same/evaluations").json().as_array().size();

  auto again = f.register_job(body);
  REQUIRE(again.status == 200);
  CHECK(str(again.json(), {"EvalID"}) == "");
  CHECK(str(again.json(), {"JobModifyIndex"}) == str(first.json(), {"JobModifyIndex"}));
  CHECK(str(f.call("GET", "/v1/job/same").json(), {"Version"}) == "0");
  CHECK(f.call("GET", "/v1/job/same/evaluations").json().as_array().size() == evals_before);
  CHECK(f.allocs("same").size() == 1);

  JobSpec changed{.id = "same", .count = 2, .meta = R"({"sim.berth.dev/run-for":"1h"})"};
  auto update = f.register_job(job_json(changed));
  CHECK_FALSE(str(update.json(), {"EvalID"}).empty());
  CHECK(str(f.call("GET", "/v1/job/same").json(), {"Version"}) == "1");
  // Only the count changed: the first allocation stays, a second one is placed.
  auto allocs = f.wait_for("/v1/job/same/allocations", [](const Response& r) { return r.json().as_array().size() == 2; });
  CHECK(str(allocs.json().as_array()[0], {"DesiredStatus"}) == "run");
  CHECK(str(allocs.json().as_array()[1], {"Name"}) == "same.main[1]");
}

TEST_CASE("errors: validation as go-multierror 500, decode 400s, EnforceIndex, 405, bare 404") {
  Fixture f;
  auto invalid = f.register_job(job_json({.id = "bad", .resources = R"({"CPU":0,"MemoryMB":256})"}));
  REQUIRE(invalid.status == 500);
  CHECK(invalid.headers["content-type"] == "text/plain; charset=utf-8");
  CHECK(invalid.body.rfind("1 error occurred:\n\t* Task group main validation failed: 1 error occurred:\n\t* "
                           "Task main validation failed: 1 error occurred:\n\t* minimum CPU value is 1; got 0\n\n",
                           0) == 0);
  auto two = f.register_job(R"({"Job":{"ID":"has space","Priority":500,"TaskGroups":[]}})");
  REQUIRE(two.status == 500);
  CHECK(two.body.rfind("3 errors occurred:\n\t* Job ID contains a space\n\t* Job priority must be between [1, 100]\n\t* "
                       "Missing job task groups\n\n",
                       0) == 0);
  CHECK(f.register_job(R"({"Job":{"ID":"m","TaskGroups":[{"Name":"g","Tasks":[{"Name":"t","Driver":"exec","Resources":{"MemoryMB":5}}]}]}})")
            .body.find("minimum MemoryMB value is 10; got 5") != std::string::npos);

  auto no_job = f.register_job(R"({"EnforceIndex":false})");
  CHECK(no_job.status == 400);
  CHECK(no_job.body == "Job must be specified");
  CHECK(f.register_job(R"({"Job":{"Name":"x"}})").body == "Job ID hasn't been provided");
  CHECK(f.call("POST", "/v1/job/other", job_json({.id = "mine"})).body == "Job ID does not match name");
  CHECK(f.call("POST", "/v1/jobs").body == "Request body is empty");
  CHECK(f.register_job(R"({"Job":{"ID":"x","TaskGroups":[{"Name":"g","Count":"1"}]}})").status == 400);

  auto created = f.register_job(job_json({.id = "cas"}));
  const std::string index = str(created.json(), {"JobModifyIndex"});
  auto exists = f.register_job(R"({"EnforceIndex":true,"JobModifyIndex":0,)" + job_json({.id = "cas"}).substr(1));
  CHECK(exists.status == 500);
  CHECK(exists.body == "Enforcing job modify index 0: job already exists");
  auto conflict = f.register_job(R"({"EnforceIndex":true,"JobModifyIndex":1,)" + job_json({.id = "cas", .count = 2}).substr(1));
  CHECK(conflict.status == 500);
  CHECK(conflict.body == "Enforcing job modify index 1: job exists with conflicting job modify index: " + index);
  auto cas = f.register_job("{\"EnforceIndex\":true,\"JobModifyIndex\":" + index + "," +
                            job_json({.id = "cas", .count = 2}).substr(1));
  CHECK(cas.status == 200);

  CHECK(f.call("PATCH", "/v1/jobs").status == 405);
  CHECK(f.call("PATCH", "/v1/jobs").body == "Invalid method");
  CHECK(f.call("DELETE", "/v1/allocations").status == 405);
  auto unknown = f.call("GET", "/v1/nothing-here");
  CHECK(unknown.status == 404);
  CHECK(unknown.body == "404 page not found\n");
  auto alloc = f.call("GET", "/v1/allocation/00000000-0000-0000-0000-000000000000");
  CHECK(alloc.status == 404);
  CHECK(alloc.body == "alloc not found");
  CHECK(f.call("POST", "/v1/allocation/00000000-0000-0000-0000-000000000000/stop").body == "allocation not found");
  CHECK(f.call("GET", "/v1/evaluation/nope").body == "eval not found");
}

TEST_CASE("ACLs: anonymous and unknown tokens are 403 with Nomad's bodies; X-Nomad-Token and Bearer work") {
  auto options = Fixture::defaults();
  options.acl_token = "s3cret";
  Fixture f(options);
  auto anonymous = f.call("GET", "/v1/jobs");
  CHECK(anonymous.status == 403);
  CHECK(anonymous.body == "Permission denied");
  auto unknown = f.call("GET", "/v1/jobs", "", {{"x-nomad-token", "guess"}});
  CHECK(unknown.status == 403);
  CHECK(unknown.body == "ACL token not found");
  CHECK(f.call("GET", "/v1/jobs", "", {{"x-nomad-token", "s3cret"}}).status == 200);
  CHECK(f.call("GET", "/v1/jobs", "", {{"authorization", "Bearer s3cret"}}).status == 200);
  CHECK(f.call("PUT", "/v1/jobs", job_json({}), {{"authorization", "Bearer nope"}}).status == 403);
  CHECK(f.call("GET", "/sim/state").status == 403);
  CHECK(f.call("GET", "/sim/state", "", {{"x-nomad-token", "s3cret"}}).status == 200);
  auto leader = f.call("GET", "/v1/status/leader");
  CHECK(leader.status == 200);
  CHECK(leader.json().is_string());
  CHECK(f.call("GET", "/v1/agent/self").status == 403);
}

TEST_CASE("namespaces: ?namespace=, Job.Namespace, * on lists, 404 elsewhere, nonexistent namespace") {
  auto options = Fixture::defaults();
  options.namespaces = {"default", "team-a"};
  Fixture f(options);
  REQUIRE(f.register_job(job_json({.id = "a"}), "?namespace=team-a").status == 200);
  REQUIRE(f.register_job(job_json({.id = "b", .extra_job_fields = R"("Namespace":"team-a",)"})).status == 200);
  REQUIRE(f.register_job(job_json({.id = "c"})).status == 200);
  CHECK(f.call("GET", "/v1/job/a").status == 404);
  CHECK(str(f.call("GET", "/v1/job/a?namespace=team-a").json(), {"Namespace"}) == "team-a");
  CHECK(str(f.call("GET", "/v1/job/b?namespace=team-a").json(), {"Namespace"}) == "team-a");
  CHECK(f.call("GET", "/v1/jobs").json().as_array().size() == 1);
  CHECK(f.call("GET", "/v1/jobs?namespace=team-a").json().as_array().size() == 2);
  CHECK(f.call("GET", "/v1/jobs?namespace=*").json().as_array().size() == 3);
  CHECK(f.allocs("a").empty());
  CHECK(f.call("DELETE", "/v1/job/a").json().at("EvalID").as_string().empty());  // wrong namespace: unknown
  auto alloc = f.wait_alloc("a", [](const json::object&) { return true; }, "?namespace=team-a");
  CHECK(f.call("GET", "/v1/allocation/" + str(alloc, {"ID"})).status == 200);  // by ID in any namespace
  CHECK(f.call("GET", "/v1/allocations?namespace=team-a").json().as_array().size() == 2);
  auto missing = f.register_job(job_json({.id = "d"}), "?namespace=nowhere");
  CHECK(missing.status == 500);
  CHECK(missing.body == "job \"d\" is in nonexistent namespace \"nowhere\"");
}

TEST_CASE("blocking queries: return on change, or after wait with the same index; bad parameters are 400") {
  Fixture f;
  f.register_job(job_json({.id = "blocker", .meta = R"({"sim.berth.dev/run-for":"1h"})"}));
  auto job = f.wait_for("/v1/job/blocker", [](const Response& r) { return str(r.json(), {"Status"}) == "running"; });
  const std::uint64_t index = job.index();

  const auto started = std::chrono::steady_clock::now();
  auto timed_out = f.call("GET", "/v1/job/blocker?index=" + std::to_string(index) + "&wait=300ms");
  const auto waited = std::chrono::steady_clock::now() - started;
  CHECK(timed_out.status == 200);
  CHECK(timed_out.index() == index);
  CHECK(waited >= 290ms);
  CHECK(waited < 5s);

  auto blocked = std::async(std::launch::async, [&] {
    return f.fetch("GET", "/v1/job/blocker?index=" + std::to_string(index) + "&wait=30s");
  });
  REQUIRE(blocked.wait_for(200ms) == std::future_status::timeout);  // nothing changed yet
  f.register_job(job_json({.id = "blocker", .meta = R"({"sim.berth.dev/run-for":"2h"})"}));
  REQUIRE(blocked.wait_for(10s) == std::future_status::ready);
  auto changed = blocked.get();
  CHECK(changed.index() > index);
  CHECK(str(changed.json(), {"Version"}) == "1");

  // Another table's writes do not wake it.
  auto jobs_index = f.call("GET", "/v1/jobs").index();
  auto list = std::async(std::launch::async, [&] {
    return f.fetch("GET", "/v1/jobs?index=" + std::to_string(jobs_index) + "&wait=400ms");
  });
  f.call("POST", "/sim/nodes", R"({"name":"extra"})");
  CHECK(list.get().index() == jobs_index);

  auto bad_wait = f.call("GET", "/v1/jobs?index=1&wait=forever");
  CHECK(bad_wait.status == 400);
  CHECK(bad_wait.body == "Invalid wait time");
  auto bad_index = f.call("GET", "/v1/jobs?index=abc");
  CHECK(bad_index.status == 400);
  CHECK(bad_index.body == "Invalid index");
}

TEST_CASE("event stream: heartbeat, frames by topic and key, Job stripped from allocations, replay, bad topic") {
  Fixture f;
  EventStream all(*f.client, "/v1/event/stream");
  REQUIRE(all.status() == 200);
  auto heartbeat = all.next();
  REQUIRE(heartbeat);
  CHECK(heartbeat->empty());

  EventStream mine(*f.client, "/v1/event/stream?topic=Job:ev-1&topic=Allocation:ev-1");
  auto registered = f.register_job(job_json({.id = "ev-1", .meta = R"({"sim.berth.dev/run-for":"1h"})"}));
  f.register_job(job_json({.id = "ev-other"}));
  const std::uint64_t register_index = registered.index();

  // One write, one frame: the job and its new evaluation, both typed JobRegistered.
  std::optional<json::object> frame;
  while ((frame = all.next_frame())) {
    if (str(*frame, {"Index"}) == std::to_string(register_index)) break;
  }
  REQUIRE(frame);
  const auto& events = frame->at("Events").as_array();
  REQUIRE(events.size() == 2);
  const auto& job_event = events[0].as_object();
  CHECK(str(job_event, {"Topic"}) == "Job");
  CHECK(str(job_event, {"Type"}) == "JobRegistered");
  CHECK(str(job_event, {"Key"}) == "ev-1");
  CHECK(str(job_event, {"Namespace"}) == "default");
  CHECK(str(job_event, {"Index"}) == std::to_string(register_index));
  CHECK(str(job_event, {"Payload", "Job", "ID"}) == "ev-1");
  const auto& eval_event = events[1].as_object();
  CHECK(str(eval_event, {"Topic"}) == "Evaluation");
  CHECK(str(eval_event, {"Type"}) == "JobRegistered");
  CHECK(str(eval_event, {"FilterKeys"}) == R"(["ev-1",""])");
  CHECK(str(eval_event, {"Payload", "Evaluation", "Status"}) == "pending");

  auto alloc_event = mine.next_event([](const json::object& e) {
    return str(e, {"Topic"}) == "Allocation" && str(e, {"Payload", "Allocation", "ClientStatus"}) == "running";
  });
  REQUIRE(alloc_event);
  CHECK(str(*alloc_event, {"Type"}) == "AllocationUpdated");
  CHECK_FALSE(alloc_event->at("Payload").as_object().at("Allocation").as_object().contains("Job"));
  CHECK(str(*alloc_event, {"Payload", "Allocation", "JobID"}) == "ev-1");

  // Replay starts at the given index, inclusive.
  EventStream replay(*f.client, "/v1/event/stream?index=" + std::to_string(register_index) + "&topic=Job");
  auto first = replay.next_frame();
  REQUIRE(first);
  CHECK(str(*first, {"Index"}) == std::to_string(register_index));
  // Every frame of "mine" is about ev-1 only.
  while (auto frame = mine.next_frame(300ms)) {
    for (const auto& event : frame->at("Events").as_array()) {
      const std::string topic = str(event, {"Topic"});
      CHECK((topic == "Job" ? str(event, {"Key"}) : str(event, {"Payload", "Allocation", "JobID"})) == "ev-1");
    }
  }

  auto bad = f.call("GET", "/v1/event/stream?topic=Job:a:b");
  CHECK(bad.status == 400);
  CHECK(bad.body == "Invalid key value pair for topic: Job:a:b");
}

TEST_CASE("event stream: a resume index older than the buffer starts at the oldest entry; dropped streams end") {
  auto options = Fixture::defaults();
  options.event_buffer_size = 5;
  Fixture f(options);
  for (int i = 0; i < 6; ++i) f.register_job(job_json({.id = "overflow-" + std::to_string(i)}));
  // Quiet once every allocation runs (they run until stopped).
  f.wait_for("/v1/allocations", [](const Response& r) {
    const auto body = r.json();
    const auto& allocs = body.as_array();
    return allocs.size() == 6 &&
           std::all_of(allocs.begin(), allocs.end(), [](const json::value& a) { return status_is(a.as_object(), "running"); });
  });
  const auto state = f.state();
  const std::string oldest = str(state, {"EventBuffer", "OldestIndex"});
  CHECK(str(state, {"EventBuffer", "Entries"}) == "5");
  CHECK(std::stoull(oldest) > 1);
  EventStream old(*f.client, "/v1/event/stream?index=1");
  auto first = old.next_frame();
  REQUIRE(first);
  CHECK(str(*first, {"Index"}) == oldest);

  REQUIRE(f.call("POST", "/sim/faults", R"({"drop_streams":true})").status == 200);
  CHECK(old.ended());

  REQUIRE(f.call("POST", "/sim/faults", R"({"compact_events":true})").status == 200);
  EventStream after(*f.client, "/v1/event/stream?index=1");
  auto heartbeat = after.next();
  REQUIRE(heartbeat);
  CHECK(heartbeat->empty());
  CHECK_FALSE(after.next_frame(300ms));  // nothing retained; heartbeats only
}

TEST_CASE("placement failure: FailedTGAllocs and a blocked eval, Queued in the summary; placed once a node fits") {
  Fixture f;
  auto registered = f.register_job(job_json({.id = "huge", .resources = R"({"CPU":1000,"MemoryMB":200000})"}));
  const std::string eval_id = str(registered.json(), {"EvalID"});
  auto eval = f.wait_for("/v1/evaluation/" + eval_id, [](const Response& r) { return str(r.json(), {"Status"}) == "complete"; });
  auto failed = eval.json().at("FailedTGAllocs").at("main");
  CHECK(str(failed, {"NodesEvaluated"}) == "4");
  CHECK(str(failed, {"NodesExhausted"}) == "4");
  CHECK(str(failed, {"DimensionExhausted", "memory"}) == "4");
  CHECK(str(failed, {"NodesAvailable", "dc1"}) == "4");
  CHECK(str(failed, {"NodePool"}) == "default");
  const std::string blocked_id = str(eval.json(), {"BlockedEval"});
  REQUIRE_FALSE(blocked_id.empty());
  CHECK(str(f.call("GET", "/v1/evaluation/" + blocked_id).json(), {"Status"}) == "blocked");
  CHECK(str(f.call("GET", "/v1/evaluation/" + blocked_id).json(), {"TriggeredBy"}) == "queued-allocs");
  CHECK(f.call("GET", "/v1/evaluations?status=blocked").json().as_array().size() == 1);
  CHECK(str(f.call("GET", "/v1/job/huge/summary").json(), {"Summary", "main", "Queued"}) == "1");
  CHECK(str(f.call("GET", "/v1/job/huge").json(), {"Status"}) == "pending");
  CHECK(f.allocs("huge").empty());

  auto added = f.call("POST", "/sim/nodes", R"({"name":"big","cpu_mhz":64000,"memory_mb":262144,"cores":64})");
  REQUIRE(added.status == 200);
  auto alloc = f.wait_alloc("huge", [](const json::object& a) { return status_is(a, "running"); });
  CHECK(str(alloc, {"NodeName"}) == "big");
  CHECK(str(f.call("GET", "/v1/job/huge/summary").json(), {"Summary", "main", "Queued"}) == "0");

  // Devices and constraints are reasons too.
  auto gpus = f.register_job(job_json({.id = "gpus", .resources = R"({"CPU":100,"MemoryMB":100,"Devices":[{"Name":"nvidia/gpu","Count":8}]})"}));
  auto gpu_eval = f.wait_for("/v1/evaluation/" + str(gpus.json(), {"EvalID"}),
                             [](const Response& r) { return str(r.json(), {"Status"}) == "complete"; });
  CHECK(str(gpu_eval.json(), {"FailedTGAllocs", "main", "DimensionExhausted", "devices: no devices match request"}) == "5");
  auto one_gpu = f.register_job(job_json({.id = "one-gpu", .resources = R"({"CPU":100,"MemoryMB":100,"Devices":[{"Name":"nvidia/gpu","Count":1}]})"}));
  REQUIRE(one_gpu.status == 200);
  CHECK(str(f.wait_alloc("one-gpu", [](const json::object&) { return true; }), {"NodeName"}) == "sim-gpu-node-1");
  auto windows = f.register_job(job_json({.id = "windows",
                                          .extra_job_fields = R"("Constraints":[{"LTarget":"${attr.kernel.name}","Operand":"=","RTarget":"windows"}],)"}));
  auto windows_eval = f.wait_for("/v1/evaluation/" + str(windows.json(), {"EvalID"}),
                                 [](const Response& r) { return str(r.json(), {"Status"}) == "complete"; });
  CHECK(str(windows_eval.json(), {"FailedTGAllocs", "main", "ConstraintFiltered", "${attr.kernel.name} = windows"}) == "5");
  CHECK(str(windows_eval.json(), {"FailedTGAllocs", "main", "NodesFiltered"}) == "5");
}

TEST_CASE("client: scripted exit code, OOM and driver failure show Nomad's task events; never replaced") {
  Fixture f;
  f.register_job(job_json({.id = "exit-3", .meta = R"({"sim.berth.dev/run-for":"2s","sim.berth.dev/exit-code":"3"})"}));
  f.register_job(job_json({.id = "oom", .meta = R"({"sim.berth.dev/oom":"true"})"}));
  f.register_job(job_json({.id = "no-image", .meta = R"({"sim.berth.dev/driver-failure":"true"})"}));
  f.register_job(job_json({.id = "ok", .meta = R"({"sim.berth.dev/run-for":"1s"})"}));

  auto exited = f.wait_alloc("exit-3", [](const json::object& a) { return status_is(a, "failed"); });
  CHECK(str(exited, {"ClientDescription"}) == "Failed tasks");
  CHECK(event_types(exited) ==
        std::vector<std::string>{"Received", "Task Setup", "Driver", "Started", "Terminated", "Not Restarting"});
  const json::object* terminated = last_event(exited, "Terminated");
  CHECK(str(*terminated, {"Details", "exit_code"}) == "3");
  CHECK(str(*terminated, {"Details", "signal"}) == "0");
  CHECK(str(*terminated, {"Details", "oom_killed"}) == "false");
  CHECK(str(*terminated, {"ExitCode"}) == "3");
  CHECK(str(*terminated, {"DisplayMessage"}) == "Exit Code: 3");
  CHECK(str(*last_event(exited, "Not Restarting"), {"DisplayMessage"}) == "Policy allows no restarts");
  CHECK(str(exited, {"TaskStates", "main", "Failed"}) == "true");
  CHECK(str(exited, {"TaskStates", "main", "State"}) == "dead");

  auto oom = f.wait_alloc("oom", [](const json::object& a) { return status_is(a, "failed"); });
  const json::object* killed = last_event(oom, "Terminated");
  CHECK(str(*killed, {"Details", "exit_code"}) == "137");
  CHECK(str(*killed, {"Details", "oom_killed"}) == "true");
  CHECK(str(*killed, {"DisplayMessage"}) == "Exit Code: 137, Exit Message: \"OOM Killed\"");

  auto driver = f.wait_alloc("no-image", [](const json::object& a) { return status_is(a, "failed"); });
  CHECK(event_types(driver) ==
        std::vector<std::string>{"Received", "Task Setup", "Driver", "Driver Failure", "Not Restarting"});
  CHECK(str(*last_event(driver, "Driver Failure"), {"DriverError"}).find("Failed to pull `registry.example/spark:3.5`") == 0);
  CHECK(str(driver, {"TaskStates", "main", "StartedAt"}) == "0001-01-01T00:00:00Z");

  auto ok = f.wait_alloc("ok", [](const json::object& a) { return status_is(a, "complete"); });
  CHECK(str(ok, {"ClientDescription"}) == "All tasks have completed");
  f.wait_for("/v1/job/ok", [](const Response& r) { return str(r.json(), {"Status"}) == "dead"; });

  // Restart 0 / reschedule 0: the failed allocations stay the only ones, even after time passes.
  f.call("POST", "/sim/advance", R"({"seconds":600})");
  f.wait_for("/v1/job/exit-3", [](const Response& r) { return str(r.json(), {"Status"}) == "dead"; });
  CHECK(f.allocs("exit-3").size() == 1);
  CHECK(f.allocs("no-image").size() == 1);
  CHECK(str(f.call("GET", "/v1/job/exit-3/summary").json(), {"Summary", "main", "Failed"}) == "1");

  // Restarts on the node, then a reschedule to a new allocation, per the policies.
  f.register_job(job_json({.id = "retry", .meta = R"({"sim.berth.dev/run-for":"1s","sim.berth.dev/exit-code":"1"})",
                           .restart_attempts = 1, .reschedule_attempts = 1}));
  auto replacement = f.wait_alloc("retry", [](const json::object& a) { return !str(a, {"PreviousAllocation"}).empty(); });
  auto previous = f.alloc(str(replacement, {"PreviousAllocation"}));
  CHECK(str(previous, {"ClientStatus"}) == "failed");
  CHECK(str(previous, {"NextAllocation"}) == str(replacement, {"ID"}));
  CHECK(str(previous, {"TaskStates", "main", "Restarts"}) == "1");
  CHECK(str(*last_event(previous, "Not Restarting"), {"DisplayMessage"}).find("Exceeded allowed attempts 1") == 0);
  CHECK(replacement.at("RescheduleTracker").at("Events").as_array().size() == 1);
}

TEST_CASE("alloc stop replaces the allocation; deregister kills with SIGTERM then KillTimeout") {
  Fixture f;
  f.register_job(job_json({.id = "svc", .type = "service", .meta = R"({"sim.berth.dev/shutdown-delay":"2s"})"}));
  auto first = f.wait_alloc("svc", [](const json::object& a) { return status_is(a, "running"); });
  const std::string first_id = str(first, {"ID"});
  auto stopped = f.call("POST", "/v1/allocation/" + first_id + "/stop");
  REQUIRE(stopped.status == 200);
  CHECK_FALSE(str(stopped.json(), {"EvalID"}).empty());
  auto replacement = f.wait_alloc("svc", [&](const json::object& a) {
    return str(a, {"PreviousAllocation"}) == first_id && status_is(a, "running");
  });
  CHECK(str(replacement, {"Name"}) == "svc.main[0]");
  const auto old = f.wait_for("/v1/allocation/" + first_id, [](const Response& r) {
                     return str(r.json(), {"ClientStatus"}) == "complete";
                   }).json().as_object();
  CHECK(str(old, {"DesiredStatus"}) == "stop");
  CHECK(str(old, {"DesiredDescription"}) == "alloc is being migrated");
  CHECK(event_types(old) ==
        std::vector<std::string>{"Received", "Task Setup", "Driver", "Started", "Killing", "Terminated", "Killed"});
  CHECK(str(*last_event(old, "Killing"), {"KillTimeout"}) == "5000000000");
  CHECK(str(*last_event(old, "Killing"), {"DisplayMessage"}) == "Sent interrupt. Waiting 5s before force killing");
  CHECK(str(*last_event(old, "Terminated"), {"Details", "exit_code"}) == "143");

  // A task that ignores SIGTERM longer than KillTimeout is killed (137, signal 9).
  f.register_job(job_json({.id = "stubborn", .type = "service", .meta = R"({"sim.berth.dev/shutdown-delay":"1m"})",
                           .kill_timeout_ns = 2'000'000'000}));
  auto stubborn = f.wait_alloc("stubborn", [](const json::object& a) { return status_is(a, "running"); });
  f.call("DELETE", "/v1/job/stubborn");
  const auto killed = f.wait_for("/v1/allocation/" + str(stubborn, {"ID"}), [](const Response& r) {
                        return str(r.json(), {"ClientStatus"}) == "complete";
                      }).json().as_object();
  const json::object* terminated = last_event(killed, "Terminated");
  CHECK(str(*terminated, {"Details", "exit_code"}) == "137");
  CHECK(str(*terminated, {"Details", "signal"}) == "9");
  CHECK(str(killed, {"DesiredDescription"}) == "alloc not needed due to job update");
  CHECK(f.allocs("stubborn").size() == 1);
}

TEST_CASE("node down: its allocations become lost and are replaced elsewhere; admin exit") {
  Fixture f;
  f.register_job(job_json({.id = "on-node", .type = "service"}));
  auto first = f.wait_alloc("on-node", [](const json::object& a) { return status_is(a, "running"); });
  const std::string node = str(first, {"NodeName"});
  REQUIRE(f.call("POST", "/sim/nodes/" + node + "/down").status == 200);
  auto lost = f.wait_for("/v1/allocation/" + str(first, {"ID"}),
                         [](const Response& r) { return str(r.json(), {"ClientStatus"}) == "lost"; });
  CHECK(str(lost.json(), {"DesiredStatus"}) == "stop");
  auto replacement = f.wait_alloc("on-node", [&](const json::object& a) {
    return status_is(a, "running") && str(a, {"ID"}) != str(first, {"ID"});
  });
  CHECK(str(replacement, {"NodeName"}) != node);
  CHECK(str(replacement, {"PreviousAllocation"}) == str(first, {"ID"}));
  CHECK(str(f.call("GET", "/v1/node/" + str(first, {"NodeID"})).json(), {"Status"}) == "down");
  CHECK(f.call("POST", "/sim/nodes/" + node + "/up").status == 200);
  CHECK(f.call("POST", "/sim/nodes/nowhere/down").status == 404);

  auto exit = f.call("POST", "/sim/allocations/" + str(replacement, {"ID"}) + "/exit", R"({"code":0,"oom":true})");
  REQUIRE(exit.status == 200);
  auto oom = f.wait_for("/v1/allocation/" + str(replacement, {"ID"}),
                        [](const Response& r) { return str(r.json(), {"ClientStatus"}) == "failed"; });
  const auto oom_alloc = oom.json().as_object();
  CHECK(str(*last_event(oom_alloc, "Terminated"), {"Details", "oom_killed"}) == "true");
}

TEST_CASE("lists: per_page and next_token, filter expressions, bad filter 400") {
  Fixture f;
  for (const char* id : {"page-a", "page-b", "page-c"}) f.register_job(job_json({.id = id}));
  auto first = f.call("GET", "/v1/jobs?per_page=2");
  REQUIRE(first.json().as_array().size() == 2);
  const std::string token = first.headers["x-nomad-nexttoken"];
  REQUIRE_FALSE(token.empty());
  auto second = f.call("GET", "/v1/jobs?per_page=2&next_token=" + token);
  REQUIRE(second.json().as_array().size() == 1);
  CHECK(str(second.json().as_array()[0], {"ID"}) == "page-c");
  CHECK(second.headers.count("x-nomad-nexttoken") == 0);

  CHECK(f.call("GET", "/v1/jobs?filter=ID%20contains%20%22-b%22").json().as_array().size() == 1);
  CHECK(f.call("GET", "/v1/jobs?filter=Meta.owner%20%3D%3D%20%22exec-adapter%22").json().as_array().size() == 3);
  CHECK(f.call("GET", "/v1/jobs?filter=Meta.owner%20%3D%3D%20%22x%22").json().as_array().empty());
  f.wait_alloc("page-c", [](const json::object&) { return true; });
  auto allocs = f.call("GET", "/v1/allocations?filter=JobID%20%3D%3D%20%22page-c%22");
  REQUIRE(allocs.json().as_array().size() == 1);
  auto bad = f.call("GET", "/v1/jobs?filter=ID%20%3D%3D");
  CHECK(bad.status == 400);
  CHECK(bad.body.rfind("failed to read filter expression:", 0) == 0);
}

TEST_CASE("connection limit: a client over it gets Nomad's raw 429") {
  auto options = Fixture::defaults();
  options.max_conns_per_client = 2;
  Fixture f(options);
  EventStream one(*f.client, "/v1/event/stream");
  EventStream two(*f.client, "/v1/event/stream");
  REQUIRE(one.status() == 200);
  REQUIRE(two.status() == 200);
  REQUIRE(one.next());
  REQUIRE(two.next());
  auto refused = f.call("GET", "/v1/jobs");
  CHECK(refused.status == 429);
  CHECK(refused.body == "Your IP is issuing too many concurrent connections, please rate limit your calls\n");
}

TEST_CASE("faults: injected errors, latency, leader loss ends blocking queries, down and back up") {
  Fixture f;
  REQUIRE(f.call("POST", "/sim/faults", R"({"fail_next":{"register":1},"error_code":500})").status == 200);
  auto failed = f.register_job(job_json({.id = "f1"}));
  CHECK(failed.status == 500);
  CHECK(failed.body == "No cluster leader");
  CHECK(f.register_job(job_json({.id = "f1"})).status == 200);
  REQUIRE(f.call("POST", "/sim/faults", R"({"fail_next":{"list":1},"error_code":429})").status == 200);
  CHECK(f.call("GET", "/v1/jobs").status == 429);
  CHECK(f.call("GET", "/v1/jobs").status == 200);
  CHECK(f.call("GET", "/sim/faults").status == 200);  // admin is never affected

  REQUIRE(f.call("POST", "/sim/faults", R"({"latency_ms":200})").status == 200);
  const auto started = std::chrono::steady_clock::now();
  CHECK(f.call("GET", "/v1/jobs").status == 200);
  CHECK(std::chrono::steady_clock::now() - started >= 190ms);
  REQUIRE(f.call("POST", "/sim/faults", R"({"reset":true})").status == 200);

  const auto index = f.call("GET", "/v1/jobs").index();
  auto blocked = std::async(std::launch::async, [&] {
    return f.fetch("GET", "/v1/jobs?index=" + std::to_string(index) + "&wait=30s");
  });
  EventStream stream(*f.client, "/v1/event/stream");
  REQUIRE(stream.next());
  REQUIRE(blocked.wait_for(100ms) == std::future_status::timeout);
  REQUIRE(f.call("POST", "/sim/faults", R"({"leader_loss_for_ms":500})").status == 200);
  REQUIRE(blocked.wait_for(5s) == std::future_status::ready);
  auto ended = blocked.get();
  CHECK(ended.status == 500);
  CHECK(ended.body == "No cluster leader");
  CHECK(stream.ended());
  CHECK(f.register_job(job_json({.id = "f2"})).body == "No cluster leader");
  auto stale = f.call("GET", "/v1/jobs?stale");
  CHECK(stale.status == 200);
  CHECK(stale.headers["x-nomad-knownleader"] == "false");
  CHECK(f.call("GET", "/v1/status/leader").body == "\"\"");
  f.wait_for("/v1/status/leader", [](const Response& r) { return r.body != "\"\""; });
  CHECK(f.register_job(job_json({.id = "f2"})).status == 200);

  REQUIRE(f.call("POST", "/sim/faults", R"({"down_for_ms":300})").status == 200);
  bool refused = false;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  berth::net::HttpClientRequest request;
  request.target = "/v1/jobs";
  while (std::chrono::steady_clock::now() < deadline) {
    auto other = f.make_client();  // fresh connections, not the pooled ones
    std::promise<bool> ok;
    other->request(request, [&ok](berth::StatusOr<berth::net::HttpResponse> r) { ok.set_value(r.ok()); });
    const bool answered = ok.get_future().get();
    if (!answered) refused = true;
    if (refused && answered) break;
    std::this_thread::sleep_for(20ms);
  }
  CHECK(refused);
  f.client = f.make_client();  // the pooled connections died with the server
  CHECK(f.call("GET", "/v1/job/f2").status == 200);  // state kept
}

TEST_CASE("request counts per route: job and allocation IDs become {id}; admin is not counted") {
  Fixture f;
  REQUIRE(f.register_job(job_json({.id = "exec-1"})).status == 200);
  REQUIRE(f.register_job(job_json({.id = "exec-2"})).status == 200);
  CHECK(f.call("GET", "/v1/job/exec-1").status == 200);
  CHECK(f.call("GET", "/v1/job/exec-1/allocations").status == 200);
  CHECK(f.call("DELETE", "/v1/job/exec-1").status == 200);
  CHECK(f.call("DELETE", "/v1/job/exec-2?purge=true").status == 200);
  CHECK(f.call("GET", "/v1/allocations").status == 200);
  CHECK(f.call("GET", "/v2/nothing").status == 404);
  f.state();

  auto response = f.call("GET", "/sim/requests?reset=1");
  REQUIRE(response.status == 200);
  std::map<std::string, std::int64_t> counts;
  const json::value body = response.json();
  for (const auto& entry : body.at("requests").as_array()) {
    counts[str(entry, {"method"}) + " " + str(entry, {"route"})] = entry.at("count").to_number<std::int64_t>();
  }
  const std::map<std::string, std::int64_t> expected = {
      {"PUT /v1/jobs", 2},        {"GET /v1/job/{id}", 1},  {"GET /v1/job/{id}/allocations", 1},
      {"DELETE /v1/job/{id}", 2}, {"GET /v1/allocations", 1}, {"GET {other}", 1}};
  CHECK(counts == expected);
  CHECK(body.at("total").to_number<std::int64_t>() == 8);
  CHECK(f.call("GET", "/sim/requests").json().at("total").to_number<std::int64_t>() == 0);
}

TEST_CASE("garbage collection: dead jobs go after job_gc_threshold, a purged job's allocations after eval_gc_threshold") {
  Fixture f;
  auto count_allocs = [&](const std::string& job) {
    std::size_t n = 0;
    const auto allocs = f.call("GET", "/v1/allocations").json();
    for (const auto& alloc : allocs.as_array()) {
      if (str(alloc, {"JobID"}) == job) ++n;
    }
    return n;
  };
  auto advance = [&](int seconds) {
    REQUIRE(f.call("POST", "/sim/advance", R"({"seconds":)" + std::to_string(seconds) + "}").status == 200);
  };
  for (const char* id : {"stopped", "purged", "live"}) {
    f.register_job(job_json({.id = id, .type = "service", .meta = R"({"sim.berth.dev/run-for":"100h"})"}));
    f.wait_alloc(id, [](const json::object& a) { return status_is(a, "running"); });
  }
  EventStream events(*f.client, "/v1/event/stream?topic=Job");
  REQUIRE(f.call("DELETE", "/v1/job/stopped").status == 200);
  f.wait_for("/v1/job/stopped", [](const Response& r) { return str(r.json(), {"Status"}) == "dead"; });
  REQUIRE(f.call("DELETE", "/v1/job/purged?purge=true").status == 200);
  f.wait_for("/v1/allocations", [&](const Response& r) {
    const auto allocs = r.json();
    for (const auto& alloc : allocs.as_array()) {
      if (str(alloc, {"JobID"}) == "purged") return status_is(alloc.as_object(), "complete");
    }
    return false;
  });

  // Within the thresholds everything stays: Nomad keeps a stopped job readable until its GC.
  advance(30 * 60);
  CHECK(f.call("GET", "/v1/job/stopped").status == 200);
  CHECK(count_allocs("purged") == 1);
  // Past eval_gc_threshold (1h): the purged job's allocation goes; the stopped job stays (4h).
  advance(45 * 60);
  CHECK(count_allocs("purged") == 0);
  CHECK(f.call("GET", "/v1/job/stopped").status == 200);
  CHECK(count_allocs("stopped") == 1);
  // Past job_gc_threshold: the stopped job goes with its allocation, as one JobBatchDeregistered.
  advance(4 * 3600);
  CHECK(f.call("GET", "/v1/job/stopped").status == 404);
  CHECK(count_allocs("stopped") == 0);
  auto collected = events.next_event([](const json::object& e) { return str(e, {"Type"}) == "JobBatchDeregistered"; });
  REQUIRE(collected);
  CHECK(str(*collected, {"Key"}) == "stopped");
  CHECK(str(*collected, {"Payload", "Job", "Status"}) == "dead");
  // A running job is never collected.
  CHECK(str(f.call("GET", "/v1/job/live").json(), {"Status"}) == "running");
  CHECK(count_allocs("live") == 1);

  // PUT /v1/system/gc collects at once, thresholds aside; other methods are 405.
  REQUIRE(f.call("DELETE", "/v1/job/live").status == 200);
  f.wait_alloc("live", [](const json::object& a) { return status_is(a, "complete"); });
  f.wait_for("/v1/job/live", [](const Response& r) { return str(r.json(), {"Status"}) == "dead"; });
  CHECK(f.call("GET", "/v1/system/gc").status == 405);
  REQUIRE(f.call("PUT", "/v1/system/gc").status == 200);
  CHECK(f.call("GET", "/v1/job/live").status == 404);
  CHECK(f.call("GET", "/v1/allocations").json().as_array().empty());
  CHECK(f.call("GET", "/v1/evaluations").json().as_array().empty());
}
