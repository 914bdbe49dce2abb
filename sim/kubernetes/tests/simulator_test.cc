// The Kubernetes simulator over real loopback HTTP: the API semantics clients trip on
// (resourceVersion, 410, bookmarks, graceful delete, quota, 422, 409, selectors), the scheduler
// and the scripted kubelet, faults and administration. Waits poll with deadlines; the simulated
// clock runs 20x faster than real time.
#include <catch2/catch.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <optional>
#include <set>
#include <thread>

#include "sim/kubernetes/simulator.h"

namespace asio = boost::asio;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using berth::sim::kubernetes::Simulator;
using berth::sim::kubernetes::SimulatorOptions;

namespace {

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  json::object json() const {
    auto value = json::parse(body);
    return value.as_object();
  }
};

std::string lower(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// Decodes a chunked body incrementally.
struct Dechunker {
  std::string raw;
  std::string out;
  bool done = false;
  void feed(const std::string& bytes) {
    raw += bytes;
    while (!done) {
      const auto eol = raw.find("\r\n");
      if (eol == std::string::npos) return;
      const std::size_t size = std::stoul(raw.substr(0, eol), nullptr, 16);
      if (raw.size() < eol + 2 + size + 2) return;
      if (size == 0) done = true;
      out += raw.substr(eol + 2, size);
      raw.erase(0, eol + 2 + size + 2);
    }
  }
};

// Blocking HTTP/1.1 over one socket, enough for the tests.
class Connection {
 public:
  explicit Connection(std::uint16_t port) : socket_(io_) {
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    timeval tv{10, 0};
    setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  void send(const std::string& method, const std::string& target, const std::string& body,
            const std::map<std::string, std::string>& headers) {
    std::string request = method + " " + target + " HTTP/1.1\r\nHost: sim\r\n";
    for (const auto& [k, v] : headers) request += k + ": " + v + "\r\n";
    if (!body.empty() || method == "POST") {
      request += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    }
    request += "\r\n" + body;
    asio::write(socket_, asio::buffer(request));
  }
  // Reads the status line and headers; leaves body bytes in buffer_.
  Response read_head() {
    while (buffer_.find("\r\n\r\n") == std::string::npos) {
      if (!read_more()) throw std::runtime_error("connection closed before headers");
    }
    const auto end = buffer_.find("\r\n\r\n");
    std::string head = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);
    Response response;
    response.status = std::stoi(head.substr(9, 3));
    std::size_t pos = head.find("\r\n");
    while (pos != std::string::npos) {
      const auto next = head.find("\r\n", pos + 2);
      const std::string line = head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
      const auto colon = line.find(':');
      if (colon != std::string::npos) {
        response.headers[lower(line.substr(0, colon))] = line.substr(colon + 2);
      }
      pos = next;
    }
    return response;
  }
  Response read_response() {
    Response response = read_head();
    if (response.headers["transfer-encoding"] == "chunked") {
      Dechunker dechunker;
      dechunker.feed(buffer_);
      buffer_.clear();
      while (!dechunker.done) {
        if (!read_more()) break;
        dechunker.feed(buffer_);
        buffer_.clear();
      }
      response.body = dechunker.out;
    } else {
      const std::size_t length = std::stoul(response.headers["content-length"]);
      while (buffer_.size() < length) {
        if (!read_more()) break;
      }
      response.body = buffer_.substr(0, length);
      buffer_.erase(0, length);
    }
    return response;
  }
  bool read_more() {
    char data[8192];
    boost::system::error_code ec;
    const auto n = socket_.read_some(asio::buffer(data), ec);
    if (ec) return false;
    buffer_.append(data, n);
    return true;
  }
  std::string& buffer() { return buffer_; }

 private:
  asio::io_context io_;
  tcp::socket socket_;
  std::string buffer_;
};

// A watch: the events of a streamed response, one JSON object per line.
class Watch {
 public:
  Watch(std::uint16_t port, const std::string& target, std::map<std::string, std::string> headers = {})
      : connection_(port) {
    connection_.send("GET", target, "", headers);
    head_ = connection_.read_head();
    dechunker_.feed(connection_.buffer());
    connection_.buffer().clear();
  }
  const Response& head() const { return head_; }
  // The next event, or nullopt when the stream ended (or nothing came within the socket timeout).
  std::optional<json::object> next() {
    while (true) {
      const auto eol = dechunker_.out.find('\n');
      if (eol != std::string::npos) {
        const std::string line = dechunker_.out.substr(0, eol);
        dechunker_.out.erase(0, eol + 1);
        return json::parse(line).as_object();
      }
      if (dechunker_.done || !connection_.read_more()) return std::nullopt;
      dechunker_.feed(connection_.buffer());
      connection_.buffer().clear();
    }
  }
  // Skips events until one satisfies `predicate`.
  std::optional<json::object> next_matching(const std::function<bool(const json::object&)>& predicate) {
    while (auto event = next()) {
      if (predicate(*event)) return event;
    }
    return std::nullopt;
  }
  bool ended() {
    while (auto event = next()) {
    }
    return dechunker_.done;
  }

 private:
  Connection connection_;
  Response head_;
  Dechunker dechunker_;
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

std::string pod_json(const std::string& name, const std::string& extra_annotations = "", const std::string& resources = "",
                     const std::string& labels = R"({"app":"test"})", const std::string& restart = "Never") {
  return R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")" + name + R"(","labels":)" + labels +
         R"(,"annotations":{"sim.berth.dev/start-delay":"1s")" + extra_annotations +
         R"(}},"spec":{"restartPolicy":")" + restart + R"(","containers":[{"name":"main","image":"busybox:1.36")" +
         (resources.empty() ? "" : R"(,"resources":)" + resources) + "}]}}";
}

struct Fixture {
  asio::io_context io;
  std::unique_ptr<Simulator> simulator;
  std::vector<std::thread> threads;

  explicit Fixture(SimulatorOptions options = defaults()) {
    simulator = std::make_unique<Simulator>(io.get_executor(), options);
    auto status = simulator->start();
    INFO(status.to_string());
    REQUIRE(status.ok());
    for (int i = 0; i < 2; ++i) {
      threads.emplace_back([this] {
        auto guard = asio::make_work_guard(io);
        io.run();
      });
    }
  }
  ~Fixture() {
    simulator->stop();
    io.stop();
    for (auto& t : threads) t.join();
  }
  static SimulatorOptions defaults() {
    SimulatorOptions options;
    options.time_scale = 20;
    options.bookmark_interval = 100ms;
    return options;
  }
  std::uint16_t port() const { return simulator->port(); }

  Response call(const std::string& method, const std::string& target, const std::string& body = "",
                std::map<std::string, std::string> headers = {}) {
    Connection connection(port());
    headers["Connection"] = "close";
    connection.send(method, target, body, headers);
    return connection.read_response();
  }
  Response create(const std::string& body, const std::string& ns = "default") {
    return call("POST", "/api/v1/namespaces/" + ns + "/pods", body);
  }
  json::object pod(const std::string& name, const std::string& ns = "default") {
    auto r = call("GET", "/api/v1/namespaces/" + ns + "/pods/" + name);
    return r.status == 200 ? r.json() : json::object();
  }
  // Polls the pod until `predicate` holds (deadline 10 s).
  json::object wait_pod(const std::string& name, const std::function<bool(const json::object&)>& predicate,
                        const std::string& ns = "default") {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    json::object last;
    while (std::chrono::steady_clock::now() < deadline) {
      last = pod(name, ns);
      if (predicate(last)) return last;
      std::this_thread::sleep_for(10ms);
    }
    FAIL("pod " << name << " did not reach the expected state: " << json::serialize(last));
    return last;
  }
  std::string list_rv(const std::string& ns = "default") {
    return str(call("GET", "/api/v1/namespaces/" + ns + "/pods").json(), {"metadata", "resourceVersion"});
  }
};

bool phase_is(const json::object& pod, const std::string& phase) { return str(pod, {"status", "phase"}) == phase; }

json::object main_status(const json::object& pod) {
  const auto& statuses = pod.at("status").as_object().at("containerStatuses").as_array();
  return statuses.at(0).as_object();
}

}  // namespace

TEST_CASE("create, get, list: defaults, generateName, 409, 404") {
  Fixture f;
  auto created = f.create(pod_json("a"));
  REQUIRE(created.status == 201);
  auto pod = created.json();
  CHECK(str(pod, {"kind"}) == "Pod");
  CHECK(str(pod, {"metadata", "namespace"}) == "default");
  CHECK_FALSE(str(pod, {"metadata", "uid"}).empty());
  CHECK_FALSE(str(pod, {"metadata", "resourceVersion"}).empty());
  CHECK_FALSE(str(pod, {"metadata", "creationTimestamp"}).empty());
  CHECK(str(pod, {"spec", "terminationGracePeriodSeconds"}) == "30");
  CHECK(str(pod, {"status", "phase"}) == "Pending");

  auto generated = f.create(R"({"metadata":{"generateName":"job-"},"spec":{"containers":[{"name":"c","image":"x"}]}})");
  REQUIRE(generated.status == 201);
  const std::string name = str(generated.json(), {"metadata", "name"});
  CHECK(name.rfind("job-", 0) == 0);
  CHECK(name.size() == 9);

  auto again = f.create(pod_json("a"));
  CHECK(again.status == 409);
  CHECK(str(again.json(), {"reason"}) == "AlreadyExists");
  CHECK(str(again.json(), {"message"}) == "pods \"a\" already exists");

  auto missing = f.call("GET", "/api/v1/namespaces/default/pods/nope");
  CHECK(missing.status == 404);
  CHECK(str(missing.json(), {"reason"}) == "NotFound");
  CHECK(str(missing.json(), {"details", "name"}) == "nope");

  auto list = f.call("GET", "/api/v1/namespaces/default/pods");
  REQUIRE(list.status == 200);
  auto body = list.json();
  CHECK(str(body, {"kind"}) == "PodList");
  CHECK(body.at("items").as_array().size() == 2);
  CHECK_FALSE(body.at("items").as_array()[0].as_object().contains("kind"));  // items carry no kind
  CHECK(f.call("GET", "/api/v1/namespaces/other/pods").json().at("items").as_array().empty());
  CHECK(f.call("GET", "/api/v1/pods").json().at("items").as_array().size() == 2);

  auto mismatch = f.create(R"({"metadata":{"name":"x","namespace":"other"},"spec":{"containers":[{"name":"c","image":"x"}]}})");
  CHECK(mismatch.status == 400);
}

TEST_CASE("422 Invalid carries the causes") {
  Fixture f;
  auto r = f.create(R"({"metadata":{"name":"Bad_Name"},"spec":{"restartPolicy":"Sometimes","containers":[{"name":"main"}]}})");
  REQUIRE(r.status == 422);
  auto status = r.json();
  CHECK(str(status, {"reason"}) == "Invalid");
  CHECK(str(status, {"details", "kind"}) == "Pod");
  const auto& causes = status.at("details").as_object().at("causes").as_array();
  std::set<std::string> fields;
  for (const auto& cause : causes) fields.insert(str(cause, {"field"}));
  CHECK(fields.count("metadata.name"));
  CHECK(fields.count("spec.restartPolicy"));
  CHECK(fields.count("spec.containers[0].image"));
  CHECK(str(status, {"message"}).rfind("Pod \"Bad_Name\" is invalid: [", 0) == 0);

  auto no_name = f.create(R"({"spec":{"containers":[{"name":"c","image":"x"}]}})");
  CHECK(no_name.status == 422);
  auto gpu = f.create(pod_json("g", "", R"({"requests":{"nvidia.com/gpu":"1"}})"));
  CHECK(gpu.status == 422);
  CHECK(str(gpu.json(), {"message"}).find("Limit must be set for non overcommitable resources") != std::string::npos);
  auto fractional = f.create(pod_json("g", "", R"({"limits":{"nvidia.com/gpu":"500m"}})"));
  CHECK(fractional.status == 422);
  auto over = f.create(pod_json("g", "", R"({"requests":{"cpu":"2"},"limits":{"cpu":"1"}})"));
  CHECK(over.status == 422);
  auto canonical = f.create(pod_json("q", "", R"({"requests":{"cpu":"1000m","memory":"1.5Gi"}})"));
  REQUIRE(canonical.status == 201);
  CHECK(str(canonical.json(), {"spec"}).find(R"("cpu":"1")") != std::string::npos);
  CHECK(str(canonical.json(), {"spec"}).find(R"("memory":"1536Mi")") != std::string::npos);
}

TEST_CASE("selectors on list: labels with set syntax, supported fields, 400 otherwise") {
  Fixture f;
  REQUIRE(f.create(pod_json("a", "", "", R"({"app":"x","tier":"1"})")).status == 201);
  REQUIRE(f.create(pod_json("b", "", "", R"({"app":"y","tier":"2"})")).status == 201);
  REQUIRE(f.create(pod_json("c", "", "", R"({"app":"z"})")).status == 201);
  auto names = [&](const std::string& query) {
    std::vector<std::string> out;
    auto r = f.call("GET", "/api/v1/namespaces/default/pods?" + query);
    REQUIRE(r.status == 200);
    const auto body = r.json();
    for (const auto& item : body.at("items").as_array()) out.push_back(str(item, {"metadata", "name"}));
    return out;
  };
  CHECK(names("labelSelector=app%3Dx") == std::vector<std::string>{"a"});
  CHECK(names("labelSelector=app%20in%20(x,y)") == std::vector<std::string>{"a", "b"});
  CHECK(names("labelSelector=app%20notin%20(x)") == std::vector<std::string>{"b", "c"});
  CHECK(names("labelSelector=tier") == std::vector<std::string>{"a", "b"});
  CHECK(names("labelSelector=!tier") == std::vector<std::string>{"c"});
  CHECK(names("labelSelector=app!%3Dx,tier") == std::vector<std::string>{"b"});
  CHECK(names("fieldSelector=metadata.name%3Db") == std::vector<std::string>{"b"});
  CHECK(names("fieldSelector=metadata.name!%3Db") == std::vector<std::string>{"a", "c"});
  auto bad = f.call("GET", "/api/v1/namespaces/default/pods?fieldSelector=spec.foo%3Dbar");
  CHECK(bad.status == 400);
  CHECK(str(bad.json(), {"message"}) == "field label not supported: spec.foo");
  CHECK(f.call("GET", "/api/v1/namespaces/default/pods?labelSelector=a%20in%20()").status == 400);

  // Chunking with limit/continue.
  auto page = f.call("GET", "/api/v1/namespaces/default/pods?limit=2").json();
  REQUIRE(page.at("items").as_array().size() == 2);
  const std::string token = str(page, {"metadata", "continue"});
  REQUIRE_FALSE(token.empty());
  CHECK(str(page, {"metadata", "remainingItemCount"}) == "1");
  std::string encoded;
  for (char c : token) encoded += c == '+' ? "%2B" : c == '/' ? "%2F" : c == '=' ? "%3D" : std::string(1, c);
  auto rest = f.call("GET", "/api/v1/namespaces/default/pods?limit=2&continue=" + encoded).json();
  REQUIRE(rest.at("items").as_array().size() == 1);
  CHECK(str(rest.at("items").as_array()[0], {"metadata", "name"}) == "c");
  CHECK(str(rest, {"metadata", "continue"}).empty());
}

TEST_CASE("watch: synthetic ADDED without RV, replay after an RV, selector transitions") {
  Fixture f;
  REQUIRE(f.create(pod_json("a")).status == 201);
  const std::string rv = f.list_rv();
  REQUIRE(f.create(pod_json("b")).status == 201);

  Watch all(f.port(), "/api/v1/namespaces/default/pods?watch=true&fieldSelector=metadata.name%3Da");
  CHECK(all.head().status == 200);
  auto first = all.next();
  REQUIRE(first);
  CHECK(str(*first, {"type"}) == "ADDED");
  CHECK(str(*first, {"object", "kind"}) == "Pod");  // watch objects carry kind
  CHECK(str(*first, {"object", "metadata", "name"}) == "a");

  Watch from_rv(f.port(), "/api/v1/namespaces/default/pods?watch=1&resourceVersion=" + rv);
  auto replayed = from_rv.next();
  REQUIRE(replayed);
  CHECK(str(*replayed, {"type"}) == "ADDED");
  CHECK(str(*replayed, {"object", "metadata", "name"}) == "b");  // a is older than rv
  // Then live changes, with increasing resourceVersions.
  auto modified = from_rv.next();
  REQUIRE(modified);
  CHECK(str(*modified, {"type"}) == "MODIFIED");
  CHECK(std::stoull(str(*modified, {"object", "metadata", "resourceVersion"})) > std::stoull(rv));

  // Leaving a label selector is a DELETED for that watch.
  Watch running(f.port(), "/api/v1/namespaces/default/pods?watch=true&fieldSelector=status.phase%3DPending&resourceVersion=" +
                              f.list_rv());
  REQUIRE(f.create(pod_json("c")).status == 201);
  auto added = running.next_matching([](const json::object& e) { return str(e, {"object", "metadata", "name"}) == "c"; });
  REQUIRE(added);
  CHECK(str(*added, {"type"}) == "ADDED");
  auto left = running.next_matching([](const json::object& e) {
    return str(e, {"object", "metadata", "name"}) == "c" && str(e, {"type"}) == "DELETED";
  });
  REQUIRE(left);
  CHECK(str(*left, {"object", "status", "phase"}) == "Running");
}

TEST_CASE("watch: too old resourceVersion is 410, as HTTP and as an ERROR event; running watches can expire") {
  Fixture f;
  REQUIRE(f.create(pod_json("a")).status == 201);
  const std::string old_rv = f.list_rv();
  REQUIRE(f.create(pod_json("b")).status == 201);
  REQUIRE(f.call("POST", "/sim/faults", R"({"compact":true})").status == 200);

  auto gone = f.call("GET", "/api/v1/namespaces/default/pods?watch=true&resourceVersion=" + old_rv);
  CHECK(gone.status == 410);
  CHECK(str(gone.json(), {"reason"}) == "Expired");
  CHECK(str(gone.json(), {"message"}).rfind("too old resource version: " + old_rv, 0) == 0);

  REQUIRE(f.call("POST", "/sim/faults", R"({"expired_as_event":true})").status == 200);
  Watch as_event(f.port(), "/api/v1/namespaces/default/pods?watch=true&resourceVersion=" + old_rv);
  CHECK(as_event.head().status == 200);
  auto error = as_event.next();
  REQUIRE(error);
  CHECK(str(*error, {"type"}) == "ERROR");
  CHECK(str(*error, {"object", "code"}) == "410");
  CHECK(as_event.ended());

  // A watch from the current RV works, and gets an ERROR 410 when watches are expired.
  Watch current(f.port(), "/api/v1/namespaces/default/pods?watch=true&resourceVersion=" + f.list_rv());
  CHECK(current.head().status == 200);
  REQUIRE(f.call("POST", "/sim/faults", R"({"expire_watches":true})").status == 200);
  auto expired = current.next_matching([](const json::object& e) { return str(e, {"type"}) == "ERROR"; });
  REQUIRE(expired);
  CHECK(str(*expired, {"object", "reason"}) == "Expired");
  CHECK(current.ended());
}

TEST_CASE("watch: bookmarks when asked, timeoutSeconds ends the stream, watch-list is refused with 422") {
  Fixture f;
  Watch watch(f.port(), "/api/v1/namespaces/default/pods?watch=true&allowWatchBookmarks=true&timeoutSeconds=1&resourceVersion=" +
                            f.list_rv());
  auto bookmark = watch.next();
  REQUIRE(bookmark);
  CHECK(str(*bookmark, {"type"}) == "BOOKMARK");
  CHECK(str(*bookmark, {"object", "kind"}) == "Pod");
  CHECK_FALSE(str(*bookmark, {"object", "metadata", "resourceVersion"}).empty());
  CHECK(watch.ended());  // after timeoutSeconds, a clean end of the body

  auto watch_list = f.call("GET",
                           "/api/v1/namespaces/default/pods?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true");
  CHECK(watch_list.status == 422);
  CHECK(str(watch_list.json(), {"reason"}) == "Invalid");
  CHECK(str(watch_list.json(), {"details", "kind"}) == "ListOptions");
  CHECK(f.call("GET", "/api/v1/namespaces/default/pods?resourceVersionMatch=Exact").status == 422);
  auto too_large = f.call("GET", "/api/v1/namespaces/default/pods?resourceVersion=999999");
  CHECK(too_large.status == 504);
}

TEST_CASE("graceful delete: deletionTimestamp and MODIFIED, then DELETED; unscheduled pods go at once") {
  Fixture f;
  REQUIRE(f.create(pod_json("a", R"(,"sim.berth.dev/shutdown-delay":"2s")")).status == 201);
  f.wait_pod("a", [](const json::object& p) { return phase_is(p, "Running"); });
  Watch watch(f.port(), "/api/v1/namespaces/default/pods?watch=true&resourceVersion=" + f.list_rv());
  auto deleted = f.call("DELETE", "/api/v1/namespaces/default/pods/a",
                        R"({"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Background"})");
  REQUIRE(deleted.status == 200);
  CHECK_FALSE(str(deleted.json(), {"metadata", "deletionTimestamp"}).empty());
  CHECK(str(deleted.json(), {"metadata", "deletionGracePeriodSeconds"}) == "30");
  CHECK(f.call("GET", "/api/v1/namespaces/default/pods/a").status == 200);  // still there, terminating
  auto first = watch.next();
  REQUIRE(first);
  CHECK(str(*first, {"type"}) == "MODIFIED");
  CHECK_FALSE(str(*first, {"object", "metadata", "deletionTimestamp"}).empty());
  auto last = watch.next_matching([](const json::object& e) { return str(e, {"type"}) == "DELETED"; });
  REQUIRE(last);
  CHECK(str(*last, {"object", "status", "containerStatuses"}).find("\"exitCode\":143") != std::string::npos);
  CHECK(f.call("GET", "/api/v1/namespaces/default/pods/a").status == 404);
  CHECK(f.call("DELETE", "/api/v1/namespaces/default/pods/a").status == 404);

  // Nothing fits: unscheduled, so deleted at once.
  REQUIRE(f.create(pod_json("huge", "", R"({"requests":{"cpu":"1000"}})")).status == 201);
  auto gone = f.call("DELETE", "/api/v1/namespaces/default/pods/huge");
  CHECK(gone.status == 200);
  CHECK(f.call("GET", "/api/v1/namespaces/default/pods/huge").status == 404);

  // Preconditions.
  REQUIRE(f.create(pod_json("p")).status == 201);
  auto conflict = f.call("DELETE", "/api/v1/namespaces/default/pods/p", R"({"preconditions":{"uid":"not-it"}})");
  CHECK(conflict.status == 409);
  CHECK(str(conflict.json(), {"reason"}) == "Conflict");
}

TEST_CASE("deletecollection by label") {
  Fixture f;
  REQUIRE(f.create(pod_json("a", "", "", R"({"app":"x"})")).status == 201);
  REQUIRE(f.create(pod_json("b", "", "", R"({"app":"x"})")).status == 201);
  REQUIRE(f.create(pod_json("c", "", "", R"({"app":"y"})")).status == 201);
  auto r = f.call("DELETE", "/api/v1/namespaces/default/pods?labelSelector=app%3Dx&gracePeriodSeconds=0");
  REQUIRE(r.status == 200);
  CHECK(str(r.json(), {"kind"}) == "PodList");
  CHECK(r.json().at("items").as_array().size() == 2);
  CHECK(f.call("GET", "/api/v1/namespaces/default/pods").json().at("items").as_array().size() == 1);
}

TEST_CASE("scheduler: Unschedulable with the scheduler's message, bound once a node fits") {
  Fixture f;
  REQUIRE(f.create(pod_json("gpu", "", R"({"limits":{"nvidia.com/gpu":"8"}})")).status == 201);
  auto pending = f.wait_pod("gpu", [](const json::object& p) {
    return str(p, {"status", "conditions"}).find("Unschedulable") != std::string::npos;
  });
  const std::string conditions = str(pending, {"status", "conditions"});
  CHECK(conditions.find("0/4 nodes are available: 4 Insufficient nvidia.com/gpu.") != std::string::npos);
  CHECK(phase_is(pending, "Pending"));
  REQUIRE(f.call("POST", "/sim/nodes", R"({"name":"big-gpu","cpu":"64","memory":"256Gi","gpu":"8"})").status == 200);
  auto running = f.wait_pod("gpu", [](const json::object& p) { return phase_is(p, "Running"); });
  CHECK(str(running, {"spec", "nodeName"}) == "big-gpu");
  CHECK_FALSE(str(running, {"status", "podIP"}).empty());
  CHECK_FALSE(str(running, {"status", "hostIP"}).empty());
  CHECK(str(running, {"status", "conditions"}).find(R"("type":"PodScheduled","status":"True")") != std::string::npos);
}

TEST_CASE("kubelet: scripted exit codes, OOM, image pull errors, crash on start, success") {
  Fixture f;
  REQUIRE(f.create(pod_json("exit3", R"(,"sim.berth.dev/run-for":"2s","sim.berth.dev/exit-code":"3")")).status == 201);
  REQUIRE(f.create(pod_json("oom", R"(,"sim.berth.dev/run-for":"1s","sim.berth.dev/oom":"true")")).status == 201);
  REQUIRE(f.create(pod_json("pull", R"(,"sim.berth.dev/image-pull-error":"true")")).status == 201);
  REQUIRE(f.create(pod_json("crash", R"(,"sim.berth.dev/crash-on-start":"2")")).status == 201);
  REQUIRE(f.create(pod_json("ok", R"(,"sim.berth.dev/run-for":"1s")")).status == 201);
  REQUIRE(f.create(pod_json("loop", R"(,"sim.berth.dev/crash-on-start":"true")", "", R"({"app":"test"})", "Always")).status == 201);

  auto exit3 = f.wait_pod("exit3", [](const json::object& p) { return phase_is(p, "Failed"); });
  CHECK(str(main_status(exit3), {"state", "terminated", "exitCode"}) == "3");
  CHECK(str(main_status(exit3), {"state", "terminated", "reason"}) == "Error");
  auto oom = f.wait_pod("oom", [](const json::object& p) { return phase_is(p, "Failed"); });
  CHECK(str(main_status(oom), {"state", "terminated", "exitCode"}) == "137");
  CHECK(str(main_status(oom), {"state", "terminated", "reason"}) == "OOMKilled");
  auto pull = f.wait_pod("pull", [](const json::object& p) {
    return str(p, {"status", "containerStatuses"}).find("ErrImagePull") != std::string::npos;
  });
  CHECK(phase_is(pull, "Pending"));
  CHECK_FALSE(str(pull, {"spec", "nodeName"}).empty());
  auto crash = f.wait_pod("crash", [](const json::object& p) { return phase_is(p, "Failed"); });
  CHECK(str(main_status(crash), {"state", "terminated", "exitCode"}) == "2");
  auto ok = f.wait_pod("ok", [](const json::object& p) { return phase_is(p, "Succeeded"); });
  CHECK(str(main_status(ok), {"state", "terminated", "reason"}) == "Completed");
  auto loop = f.wait_pod("loop", [](const json::object& p) {
    return str(p, {"status", "containerStatuses"}).find("CrashLoopBackOff") != std::string::npos;
  });
  CHECK(str(main_status(loop), {"restartCount"}) == "1");
  CHECK(str(main_status(loop), {"lastState", "terminated", "exitCode"}) == "1");

  // Admin: make a running pod exit now.
  REQUIRE(f.create(pod_json("manual")).status == 201);
  f.wait_pod("manual", [](const json::object& p) { return phase_is(p, "Running"); });
  REQUIRE(f.call("POST", "/sim/pods/default/manual/exit", R"({"code":5})").status == 200);
  auto manual = f.wait_pod("manual", [](const json::object& p) { return phase_is(p, "Failed"); });
  CHECK(str(main_status(manual), {"state", "terminated", "exitCode"}) == "5");
}

TEST_CASE("ResourceQuota: 403 exceeded quota with the real message shape") {
  Fixture f;
  REQUIRE(f.call("POST", "/sim/quotas",
                 R"({"namespace":"jobs","name":"compute","hard":{"pods":"2","requests.cpu":"3"}})").status == 200);
  REQUIRE(f.create(pod_json("a", "", R"({"requests":{"cpu":"2"}})"), "jobs").status == 201);
  auto denied = f.create(pod_json("b", "", R"({"requests":{"cpu":"2"}})"), "jobs");
  REQUIRE(denied.status == 403);
  CHECK(str(denied.json(), {"reason"}) == "Forbidden");
  CHECK(str(denied.json(), {"message"}) ==
        "pods \"b\" is forbidden: exceeded quota: compute, requested: requests.cpu=2, used: requests.cpu=2, "
        "limited: requests.cpu=3");
  auto unspecified = f.create(pod_json("c"), "jobs");
  REQUIRE(unspecified.status == 403);
  CHECK(str(unspecified.json(), {"message"}) == "pods \"c\" is forbidden: failed quota: compute: must specify requests.cpu");
  REQUIRE(f.create(pod_json("d", "", R"({"requests":{"cpu":"1"}})"), "jobs").status == 201);
  auto pods_full = f.create(R"({"metadata":{"generateName":"e-"},"spec":{"containers":[{"name":"c","image":"x","resources":{"requests":{"cpu":"0"}}}]}})", "jobs");
  REQUIRE(pods_full.status == 403);
  CHECK(str(pods_full.json(), {"message"}).rfind("pods is forbidden: exceeded quota: compute, requested: pods=1", 0) == 0);
  CHECK(f.create(pod_json("other")).status == 201);  // other namespaces are not limited
}

TEST_CASE("ownerReferences: deleting the owner pod collects its dependents; Orphan keeps them") {
  Fixture f;
  auto owner = f.create(pod_json("driver"));
  REQUIRE(owner.status == 201);
  const std::string uid = str(owner.json(), {"metadata", "uid"});
  auto dependent = [&](const std::string& name) {
    return R"({"metadata":{"name":")" + name + R"(","ownerReferences":[{"apiVersion":"v1","kind":"Pod","name":"driver","uid":")" +
           uid + R"(","controller":true}]},"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"x"}]}})";
  };
  REQUIRE(f.create(dependent("exec-1")).status == 201);
  REQUIRE(f.create(dependent("exec-2")).status == 201);
  CHECK(f.create(R"({"metadata":{"name":"bad","ownerReferences":[{"kind":"Pod"}]},"spec":{"containers":[{"name":"c","image":"x"}]}})").status == 422);
  f.wait_pod("exec-1", [](const json::object& p) { return phase_is(p, "Running"); });
  REQUIRE(f.call("DELETE", "/api/v1/namespaces/default/pods/driver?gracePeriodSeconds=0").status == 200);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline && f.call("GET", "/api/v1/namespaces/default/pods/exec-2").status != 404) {
    std::this_thread::sleep_for(10ms);
  }
  CHECK(f.call("GET", "/api/v1/namespaces/default/pods/exec-1").status == 404);
  CHECK(f.call("GET", "/api/v1/namespaces/default/pods/exec-2").status == 404);

  auto owner2 = f.create(pod_json("driver2"));
  const std::string uid2 = str(owner2.json(), {"metadata", "uid"});
  REQUIRE(f.create(R"({"metadata":{"name":"kept","ownerReferences":[{"apiVersion":"v1","kind":"Pod","name":"driver2","uid":")" +
                   uid2 + R"("}]},"spec":{"containers":[{"name":"c","image":"x"}]}})").status == 201);
  REQUIRE(f.call("DELETE", "/api/v1/namespaces/default/pods/driver2?gracePeriodSeconds=0&propagationPolicy=Orphan").status == 200);
  auto kept = f.wait_pod("kept", [](const json::object& p) { return !str(p, {"metadata", "name"}).empty(); });
  CHECK_FALSE(kept.at("metadata").as_object().contains("ownerReferences"));
}

TEST_CASE("nodes: loss fails or removes their pods; kubelet eviction") {
  Fixture f;
  REQUIRE(f.call("POST", "/sim/nodes", R"({"name":"solo","cpu":"64","memory":"512Gi","labels":{"pool":"solo"}})").status == 200);
  auto on_solo = [&](const std::string& name) {
    return R"({"metadata":{"name":")" + name +
           R"("},"spec":{"restartPolicy":"Never","nodeSelector":{"pool":"solo"},"containers":[{"name":"c","image":"x"}]}})";
  };
  REQUIRE(f.create(on_solo("a")).status == 201);
  REQUIRE(f.create(on_solo("b")).status == 201);
  f.wait_pod("a", [](const json::object& p) { return phase_is(p, "Running"); });
  f.wait_pod("b", [](const json::object& p) { return phase_is(p, "Running"); });

  REQUIRE(f.call("POST", "/sim/pods/default/b/evict").status == 200);
  auto evicted = f.pod("b");
  CHECK(phase_is(evicted, "Failed"));
  CHECK(str(evicted, {"status", "reason"}) == "Evicted");

  REQUIRE(f.call("POST", "/sim/nodes/solo/kill", R"({"mode":"fail"})").status == 200);
  auto lost = f.pod("a");
  CHECK(phase_is(lost, "Failed"));
  CHECK(str(lost, {"status", "reason"}) == "NodeLost");
  CHECK(str(main_status(lost), {"state", "terminated", "reason"}) == "ContainerStatusUnknown");

  // A pod that only fits the dead node waits, and vanishes with the node.
  REQUIRE(f.create(on_solo("c")).status == 201);
  f.wait_pod("c", [](const json::object& p) { return str(p, {"status", "conditions"}).find("Unschedulable") != std::string::npos; });
  REQUIRE(f.call("POST", "/sim/nodes/solo/restore").status == 200);
  f.wait_pod("c", [](const json::object& p) { return phase_is(p, "Running"); });
  REQUIRE(f.call("POST", "/sim/nodes/solo/kill", R"({"mode":"vanish"})").status == 200);
  CHECK(f.call("GET", "/api/v1/namespaces/default/pods/c").status == 404);
  CHECK(f.call("POST", "/sim/nodes/nope/kill").status == 404);
}

TEST_CASE("faults: 429 text/plain with Retry-After, error rates, dropped watches, latency, down and up") {
  Fixture f;
  REQUIRE(f.call("POST", "/sim/faults", R"({"fail_next":{"create":1}})").status == 200);
  auto throttled = f.create(pod_json("a"));
  CHECK(throttled.status == 429);
  CHECK(throttled.headers["content-type"].rfind("text/plain", 0) == 0);
  CHECK(throttled.headers["retry-after"] == "1");
  CHECK(throttled.body == "Too many requests, please try again later.\n");
  CHECK(f.create(pod_json("a")).status == 201);

  REQUIRE(f.call("POST", "/sim/faults", R"({"error_rate":{"list":1.0},"error_code":503})").status == 200);
  CHECK(f.call("GET", "/api/v1/namespaces/default/pods").status == 503);
  CHECK(f.call("GET", "/api/v1/namespaces/default/pods/a").status == 200);  // other verbs unaffected
  REQUIRE(f.call("POST", "/sim/faults", R"({"reset":true,"latency_ms":200})").status == 200);
  const auto start = std::chrono::steady_clock::now();
  CHECK(f.call("GET", "/api/v1/namespaces/default/pods/a").status == 200);
  CHECK(std::chrono::steady_clock::now() - start >= 200ms);
  REQUIRE(f.call("POST", "/sim/faults", R"({"reset":true})").status == 200);

  Watch watch(f.port(), "/api/v1/namespaces/default/pods?watch=true&resourceVersion=" + f.list_rv());
  REQUIRE(f.call("POST", "/sim/faults", R"({"drop_watches":true})").status == 200);
  CHECK_FALSE(watch.ended());  // the connection was cut: no clean end of the chunked body

  REQUIRE(f.call("POST", "/sim/faults", R"({"down_for_ms":500})").status == 200);
  bool refused = false;
  bool back = false;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline && !back) {
    try {
      back = f.call("GET", "/version").status == 200 && refused;
    } catch (const std::exception&) {
      refused = true;
    }
    std::this_thread::sleep_for(10ms);
  }
  CHECK(refused);
  CHECK(back);
  CHECK(f.call("GET", "/api/v1/namespaces/default/pods/a").status == 200);  // state survived
}

TEST_CASE("auth: bearer token required when configured") {
  auto options = Fixture::defaults();
  options.token = "s3cret";
  Fixture f(options);
  auto denied = f.call("GET", "/api/v1/namespaces/default/pods");
  CHECK(denied.status == 401);
  CHECK(str(denied.json(), {"reason"}) == "Unauthorized");
  CHECK(f.call("GET", "/api/v1/namespaces/default/pods", "", {{"Authorization", "Bearer wrong"}}).status == 401);
  CHECK(f.call("GET", "/api/v1/namespaces/default/pods", "", {{"Authorization", "Bearer s3cret"}}).status == 200);
}

TEST_CASE("discovery, OpenAPI v3 and Table output for kubectl") {
  Fixture f;
  CHECK(str(f.call("GET", "/version").json(), {"major"}) == "1");
  CHECK(str(f.call("GET", "/api").json(), {"versions"}) == R"(["v1"])");
  CHECK(str(f.call("GET", "/apis").json(), {"kind"}) == "APIGroupList");
  CHECK(str(f.call("GET", "/api/v1").json(), {"resources"}).find(R"("name":"pods")") != std::string::npos);
  auto root = f.call("GET", "/openapi/v3").json();
  const std::string url = str(root, {"paths", "api/v1", "serverRelativeURL"});
  REQUIRE_FALSE(url.empty());
  auto core = f.call("GET", url);
  REQUIRE(core.status == 200);
  CHECK(core.body.find("fieldValidation") != std::string::npos);

  REQUIRE(f.create(pod_json("a")).status == 201);
  const std::map<std::string, std::string> table_accept{
      {"Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"}};
  auto table = f.call("GET", "/api/v1/namespaces/default/pods?limit=500", "", table_accept).json();
  CHECK(str(table, {"kind"}) == "Table");
  CHECK(table.at("columnDefinitions").as_array().size() == 9);
  const auto& row = table.at("rows").as_array().at(0).as_object();
  CHECK(str(row.at("cells").as_array()[0], {}) == "a");
  CHECK(str(row, {"object", "kind"}) == "PartialObjectMetadata");
  CHECK(str(row, {"object", "metadata", "namespace"}) == "default");
  auto single = f.call("GET", "/api/v1/namespaces/default/pods/a", "", table_accept).json();
  CHECK(single.at("rows").as_array().size() == 1);

  Watch watch(f.port(), "/api/v1/namespaces/default/pods?watch=true&resourceVersion=" + str(table, {"metadata", "resourceVersion"}),
              table_accept);
  REQUIRE(f.create(pod_json("b")).status == 201);
  auto event = watch.next();
  REQUIRE(event);
  CHECK(str(*event, {"object", "kind"}) == "Table");
  CHECK(str(event->at("object").as_object().at("rows").as_array().at(0).as_object().at("cells").as_array()[0], {}) == "b");
}

TEST_CASE("watch=True (the Python client) is a watch: any value but 0 or false in any case is true") {
  Fixture f;
  REQUIRE(f.create(pod_json("a")).status == 201);
  // The official Python client sends watch=True.
  for (const char* value : {"True", "TRUE", "true", "1", "yes", ""}) {
    Watch watch(f.port(), std::string("/api/v1/namespaces/default/pods?timeoutSeconds=1&watch=") + value);
    INFO("watch=" << value);
    CHECK(watch.head().status == 200);
    CHECK(watch.head().headers.count("transfer-encoding") == 1);  // a stream, not a PodList
    auto first = watch.next();
    REQUIRE(first);
    CHECK(str(*first, {"type"}) == "ADDED");
  }
  for (const char* value : {"false", "False", "FALSE", "0"}) {
    INFO("watch=" << value);
    auto list = f.call("GET", std::string("/api/v1/namespaces/default/pods?watch=") + value);
    CHECK(list.status == 200);
    CHECK(str(list.json(), {"kind"}) == "PodList");
  }
  // allowWatchBookmarks is read the same way.
  Watch bookmarks(f.port(), "/api/v1/namespaces/default/pods?watch=True&allowWatchBookmarks=True&resourceVersion=" +
                                f.list_rv());
  auto bookmark = bookmarks.next_matching([](const json::object& e) { return str(e, {"type"}) == "BOOKMARK"; });
  CHECK(bookmark);
}

namespace {

// {"METHOD route": count} from GET /sim/requests.
std::map<std::string, std::int64_t> request_counts(Fixture& f, const std::string& query = "") {
  auto response = f.call("GET", "/sim/requests" + query);
  REQUIRE(response.status == 200);
  std::map<std::string, std::int64_t> counts;
  const json::object body = response.json();
  for (const auto& entry : body.at("requests").as_array()) {
    const auto& object = entry.as_object();
    counts[std::string(object.at("method").as_string()) + " " + std::string(object.at("route").as_string())] =
        object.at("count").to_number<std::int64_t>();
  }
  return counts;
}

}  // namespace

TEST_CASE("request counts per route: names and namespaces become patterns; watches apart; admin not counted") {
  Fixture f;
  REQUIRE(f.create(pod_json("a")).status == 201);
  REQUIRE(f.create(pod_json("b"), "other").status == 201);
  CHECK(f.call("GET", "/api/v1/namespaces/default/pods/a").status == 200);
  CHECK(f.call("GET", "/api/v1/namespaces/default/pods/a/log").status == 200);
  CHECK(f.call("GET", "/api/v1/namespaces/default/pods").status == 200);
  { Watch watch(f.port(), "/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=1"); }
  { Watch watch(f.port(), "/api/v1/watch/namespaces/default/pods?timeoutSeconds=1"); }
  CHECK(f.call("DELETE", "/api/v1/namespaces/default/pods/a?gracePeriodSeconds=0").status == 200);
  CHECK(f.call("DELETE", "/api/v1/namespaces/other/pods?labelSelector=app%3Dtest").status == 200);
  CHECK(f.call("GET", "/api/v1/pods").status == 200);
  CHECK(f.call("GET", "/version").status == 200);
  CHECK(f.call("GET", "/no/such/path").status == 404);
  CHECK(f.call("GET", "/sim/state").status == 200);

  const std::map<std::string, std::int64_t> expected = {
      {"POST /api/v1/namespaces/{ns}/pods", 2},
      {"GET /api/v1/namespaces/{ns}/pods/{name}", 1},
      {"GET /api/v1/namespaces/{ns}/pods/{name}/log", 1},
      {"GET /api/v1/namespaces/{ns}/pods", 1},
      {"GET /api/v1/namespaces/{ns}/pods watch", 1},
      {"GET /api/v1/watch/namespaces/{ns}/pods watch", 1},
      {"DELETE /api/v1/namespaces/{ns}/pods/{name}", 1},
      {"DELETE /api/v1/namespaces/{ns}/pods", 1},
      {"GET /api/v1/pods", 1},
      {"GET /version", 1},
      {"GET {other}", 1},
  };
  CHECK(request_counts(f, "?reset=1") == expected);
  CHECK(request_counts(f).empty());
  CHECK(f.call("GET", "/api/v1/pods").status == 200);
  CHECK(f.call("POST", "/sim/requests/reset").status == 200);
  CHECK(request_counts(f).empty());
}

TEST_CASE("a create records its fieldManager (else the User-Agent's program) in managedFields") {
  Fixture f;
  REQUIRE(f.call("POST", "/api/v1/namespaces/default/pods?fieldManager=berth", pod_json("a"),
                 {{"User-Agent", "berthd/0.1.0"}})
              .status == 201);
  REQUIRE(f.call("POST", "/api/v1/namespaces/default/pods", pod_json("b"), {{"User-Agent", "kubectl/v1.31.0 (linux/amd64)"}})
              .status == 201);
  const auto managed = [&](const std::string& name) {
    return f.pod(name).at("metadata").as_object().at("managedFields").as_array().at(0).as_object();
  };
  CHECK(managed("a").at("manager").as_string() == "berth");
  CHECK(managed("a").at("operation").as_string() == "Update");
  CHECK(managed("a").at("fieldsV1").at("f:metadata").at("f:labels").as_object().contains("f:app"));
  CHECK(managed("b").at("manager").as_string() == "kubectl");
}

namespace {

constexpr const char* kRbacFile = R"(apiVersion: v1
kind: ServiceAccount
metadata: {name: berth, namespace: spark}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: berth-executors, namespace: spark}
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch, create]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: berth-executors, namespace: spark}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: berth-executors}
subjects:
- {kind: ServiceAccount, name: berth, namespace: spark}
)";

}  // namespace

TEST_CASE("RBAC: the Role of a multi-document file and its RoleBinding's subjects decide") {
  auto role = berth::sim::kubernetes::parse_rbac_role(kRbacFile, "rbac.yaml");
  REQUIRE(role.ok());
  CHECK(role->name == "berth-executors");
  CHECK(role->namespace_name == "spark");
  REQUIRE(role->rules.size() == 1);
  CHECK(role->subjects == std::vector<std::string>{"system:serviceaccount:spark:berth"});
  berth::sim::kubernetes::RequestAttributes request{"system:serviceaccount:spark:berth", "list", "", "pods", "", "spark", ""};
  CHECK(rbac_allows(*role, request));
  request.namespace_name = "default";  // a Role grants nothing outside its namespace
  CHECK_FALSE(rbac_allows(*role, request));
  request.namespace_name = "spark";
  request.user = "someone-else";  // not bound
  CHECK_FALSE(rbac_allows(*role, request));
  request.user = "system:serviceaccount:spark:berth";
  request.verb = "delete";
  CHECK_FALSE(rbac_allows(*role, request));
  request.verb = "get";
  request.subresource = "log";  // pods/log is its own resource
  CHECK_FALSE(rbac_allows(*role, request));

  auto missing = berth::sim::kubernetes::parse_rbac_role("kind: ServiceAccount\nmetadata: {name: x}\n", "sa.yaml");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().message() == "sa.yaml: no document of kind Role");
}

TEST_CASE("RBAC: a verb the Role lacks is 403 Forbidden with the API server's Status") {
  auto options = Fixture::defaults();
  options.token = "s3cret";
  auto role = berth::sim::kubernetes::parse_rbac_role(kRbacFile, "rbac.yaml");
  REQUIRE(role.ok());
  options.rbac_role = *role;
  Fixture f(options);
  const std::map<std::string, std::string> auth{{"Authorization", "Bearer s3cret"}};

  CHECK(f.call("POST", "/api/v1/namespaces/spark/pods", pod_json("a"), auth).status == 201);
  CHECK(f.call("GET", "/api/v1/namespaces/spark/pods", "", auth).status == 200);
  CHECK(f.call("GET", "/api/v1/namespaces/spark/pods/a", "", auth).status == 200);
  { Watch watch(f.port(), "/api/v1/namespaces/spark/pods?watch=1&timeoutSeconds=1", auth);
    CHECK(watch.head().status == 200); }
  CHECK(f.call("GET", "/version", "", auth).status == 200);  // discovery needs no rule

  auto refused = f.call("DELETE", "/api/v1/namespaces/spark/pods/a", "", auth);
  CHECK(refused.status == 403);
  CHECK(refused.headers["content-type"] == "application/json");
  const json::object expected{
      {"kind", "Status"},
      {"apiVersion", "v1"},
      {"metadata", json::object()},
      {"status", "Failure"},
      {"message", "pods \"a\" is forbidden: User \"system:serviceaccount:spark:berth\" cannot delete resource "
                  "\"pods\" in API group \"\" in the namespace \"spark\""},
      {"reason", "Forbidden"},
      {"details", json::object{{"name", "a"}, {"kind", "pods"}}},
      {"code", 403}};
  CHECK(refused.json() == expected);
  CHECK(f.call("GET", "/api/v1/namespaces/spark/pods/a", "", auth).status == 200);  // refused before the pod

  auto collection = f.call("DELETE", "/api/v1/namespaces/spark/pods?labelSelector=app%3Dtest", "", auth);
  CHECK(collection.status == 403);
  CHECK(str(collection.json(), {"message"}) ==
        "pods is forbidden: User \"system:serviceaccount:spark:berth\" cannot deletecollection resource \"pods\" in "
        "API group \"\" in the namespace \"spark\"");
  CHECK(str(collection.json(), {"details"}) == R"({"kind":"pods"})");

  auto other_namespace = f.call("GET", "/api/v1/namespaces/default/pods", "", auth);
  CHECK(other_namespace.status == 403);
  CHECK(str(other_namespace.json(), {"message"}) ==
        "pods is forbidden: User \"system:serviceaccount:spark:berth\" cannot list resource \"pods\" in API group "
        "\"\" in the namespace \"default\"");
  auto cluster = f.call("GET", "/api/v1/watch/pods", "", auth);
  CHECK(cluster.status == 403);
  CHECK(str(cluster.json(), {"message"}) ==
        "pods is forbidden: User \"system:serviceaccount:spark:berth\" cannot watch resource \"pods\" in API group "
        "\"\" at the cluster scope");
  auto log = f.call("GET", "/api/v1/namespaces/spark/pods/a/log", "", auth);
  CHECK(log.status == 403);
  CHECK(str(log.json(), {"message"}).find("cannot get resource \"pods/log\"") != std::string::npos);
  // Authentication still comes first.
  CHECK(f.call("DELETE", "/api/v1/namespaces/spark/pods/a").status == 401);
}
