// Conformance of KubernetesBackend against the Kubernetes API simulator (sim/kubernetes) over
// loopback: the shared conformance suite (adapters/testing/conformance.h), then launch and
// adoption (409), kill, list, the watch (events, 410 relist, dropped streams), outages
// (on_health), quota 403, 422, scripted exits, OOM, image pull failures, node loss, deletions by
// others, tokens (rotating file) and TLS with client certificates.

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "adapters/kubernetes/kubernetes_backend.h"
#include "adapters/kubernetes/pod_spec.h"
#include "adapters/testing/conformance.h"
#include "adapters/testing/sim_requests.h"
#include "net/http_client.h"
#include "net/tests/client_test_pki.h"
#include "sim/kubernetes/simulator.h"

// Options are written as designated initializers naming only what a test sets; gcc 12 warns
// about the fields left to their defaults, clang does not.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace berth {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

using conformance::eventually;
using conformance::RecordingSink;

class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/berth-k8s-sim-XXXXXX";
    path_ = ::mkdtemp(pattern);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path_ / name) << text;
    return (path_ / name).string();
  }

 private:
  std::filesystem::path path_;
};

// A simulator, a backend on a strand of the same io_context, and a sink that records.
class Fixture {
 public:
  explicit Fixture(sim::kubernetes::SimulatorOptions options = {},
                   std::function<void(KubernetesPoolConfig&)> adjust = {})
      : work_(boost::asio::make_work_guard(io_)),
        thread_([this] { io_.run(); }),
        strand_(boost::asio::make_strand(io_)),
        simulator_(io_.get_executor(), std::move(options)) {
    REQUIRE(simulator_.start().ok());
    config_.connection.server = "http://" + simulator_.address();
    config_.name_space = "default";
    config_.image = "apache/spark:3.5.1";
    config_.retry_max_backoff = 500ms;
    config_.image_pull_failure_timeout = 1s;
    if (adjust) adjust(config_);
    admin_ = std::make_unique<net::HttpClient>(io_.get_executor(),
                                               net::HttpClientOptions{.base_url = config_.connection.server,
                                                                      .ca_pem = config_.connection.ca_pem,
                                                                      .client_cert_pem = config_.connection.client_cert_pem,
                                                                      .client_key_pem = config_.connection.client_key_pem});
    REQUIRE(admin_->init().ok());
    if (!config_.connection.token.empty()) admin_->set_default_header("authorization", "Bearer " + config_.connection.token);
  }

  ~Fixture() {
    if (backend_) on_strand([this] { backend_.reset(); });
    admin_.reset();
    simulator_.stop();
    work_.reset();
    io_.stop();
    thread_.join();
  }

  void start_backend(const std::string& daemon_id = "edge-1", bool wait_healthy = true) {
    daemon_id_ = daemon_id;
    on_strand([this] {
      backend_ = std::make_unique<KubernetesBackend>(strand_, "k8s", config_, daemon_id_);
      backend_->start(&sink_);
    });
    if (wait_healthy) REQUIRE(eventually([this] { return !sink_.health().empty() && sink_.health().back().ok(); }));
  }

  template <typename Fn>
  void on_strand(Fn fn) {
    std::promise<void> done;
    boost::asio::post(strand_, [&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  }

  LaunchRequest request(ExecutorId id, const std::string& app = "app-1") {
    LaunchRequest r;
    r.backend_name = "berth-" + app + "-exec-" + std::to_string(id);
    r.daemon_id = daemon_id_;
    r.pool = "k8s";
    r.app = app;
    r.tenant = "team";
    r.executor = id;
    r.profile.cores = 1;
    r.profile.heap_mib = 512;
    r.driver.url = "spark://driver:7078";
    return r;
  }

  Status launch(const LaunchRequest& r) {
    std::promise<Status> result;
    on_strand([&] { backend_->launch(r, [&](Status s) { result.set_value(std::move(s)); }); });
    auto future = result.get_future();
    REQUIRE(future.wait_for(20s) == std::future_status::ready);
    return future.get();
  }

  Status kill(const std::string& name, Duration grace = 0ms) {
    std::promise<Status> result;
    on_strand([&] { backend_->kill(KillRequest{name, grace}, [&](Status s) { result.set_value(std::move(s)); }); });
    auto future = result.get_future();
    REQUIRE(future.wait_for(20s) == std::future_status::ready);
    return future.get();
  }

  StatusOr<std::vector<BackendObject>> list() {
    std::promise<StatusOr<std::vector<BackendObject>>> result;
    on_strand([&] {
      backend_->list([&](StatusOr<std::vector<BackendObject>> r) { result.set_value(std::move(r)); });
    });
    auto future = result.get_future();
    REQUIRE(future.wait_for(20s) == std::future_status::ready);
    return future.get();
  }

  net::HttpResponse call(const std::string& method, const std::string& target, const std::string& body = "") {
    std::promise<StatusOr<net::HttpResponse>> result;
    net::HttpClientRequest request;
    request.method = method;
    request.target = target;
    request.body = body;
    if (!body.empty()) request.headers["content-type"] = "application/json";
    admin_->request(request, [&](StatusOr<net::HttpResponse> r) { result.set_value(std::move(r)); });
    auto future = result.get_future();
    REQUIRE(future.wait_for(20s) == std::future_status::ready);
    auto response = future.get();
    REQUIRE(response.ok());
    return *response;
  }

  bool phase_is(const std::string& name, ObservedPhase phase) {
    auto latest = sink_.latest(name);
    return latest && latest->phase == phase;
  }

  RecordingSink& sink() { return sink_; }
  KubernetesPoolConfig& config() { return config_; }
  KubernetesBackend& backend() { return *backend_; }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  sim::kubernetes::Simulator simulator_;
  KubernetesPoolConfig config_;
  std::unique_ptr<net::HttpClient> admin_;
  std::unique_ptr<KubernetesBackend> backend_;
  RecordingSink sink_;
  std::string daemon_id_;
};

TEST_CASE("launch creates a pod the watch sees run; a second launch adopts it (409)") {
  Fixture f;
  f.start_backend();
  auto r = f.request(1);
  REQUIRE(f.launch(r).ok());
  REQUIRE(eventually([&] { return f.phase_is(r.backend_name, ObservedPhase::kRunning); }));
  auto running = *f.sink().latest(r.backend_name);
  CHECK(running.daemon_id == "edge-1");
  CHECK(running.app == "app-1");
  CHECK(running.executor == 1);
  CHECK_FALSE(running.host.empty());

  Status again = f.launch(r);
  CHECK(again.code() == StatusCode::kAlreadyExists);

  auto pod = f.call("GET", "/api/v1/namespaces/default/pods/" + r.backend_name);
  REQUIRE(pod.status == 200);
  auto object = json::parse(pod.body).as_object();
  CHECK(object.at("metadata").at("labels").at("spark-role") == "executor");
  CHECK(object.at("spec").at("restartPolicy") == "Never");
  CHECK(object.at("metadata").at("managedFields").at(0).at("manager") == "berth");  // fieldManager=berth

  auto listed = f.list();
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 1);
  CHECK(listed->front().backend_name == r.backend_name);
  CHECK(listed->front().phase == ObservedPhase::kRunning);
}

TEST_CASE("kill deletes with a grace period; the deletion is Berth's (gone); a second kill is kNotFound") {
  Fixture f;
  f.start_backend();
  auto r = f.request(2);
  REQUIRE(f.launch(r).ok());
  REQUIRE(eventually([&] { return f.phase_is(r.backend_name, ObservedPhase::kRunning); }));
  REQUIRE(f.kill(r.backend_name, 1s).ok());
  REQUIRE(eventually([&] { return f.phase_is(r.backend_name, ObservedPhase::kGone); }));
  CHECK(f.kill(r.backend_name).code() == StatusCode::kNotFound);
  auto listed = f.list();
  REQUIRE(listed.ok());
  CHECK(listed->empty());
}

TEST_CASE("a scripted exit reports the executor's exit code; OOM reports 137; ended pods are deleted") {
  Fixture f;
  f.start_backend();
  auto exits = f.request(3);
  auto oom = f.request(4);
  REQUIRE(f.launch(exits).ok());
  REQUIRE(f.launch(oom).ok());
  REQUIRE(eventually([&] {
    return f.phase_is(exits.backend_name, ObservedPhase::kRunning) && f.phase_is(oom.backend_name, ObservedPhase::kRunning);
  }));
  CHECK(f.call("POST", "/sim/pods/default/" + exits.backend_name + "/exit", R"({"code":52})").status == 200);
  CHECK(f.call("POST", "/sim/pods/default/" + oom.backend_name + "/exit", R"({"oom":true})").status == 200);
  auto ended = [&](const std::string& name) -> std::optional<BackendObject> {
    for (const auto& object : f.sink().observed(name)) {
      if (object.phase == ObservedPhase::kExited) return object;
    }
    return std::nullopt;
  };
  REQUIRE(eventually([&] { return ended(exits.backend_name) && ended(oom.backend_name); }));
  CHECK(ended(exits.backend_name)->exit_code == 52);
  CHECK_FALSE(ended(exits.backend_name)->deleted_externally);
  CHECK(ended(oom.backend_name)->oom_killed);
  CHECK(ended(oom.backend_name)->exit_code == 137);
  // Reported, then removed by the adapter (delete_terminated_pods).
  REQUIRE(eventually([&] { return f.phase_is(exits.backend_name, ObservedPhase::kGone); }));
  REQUIRE(eventually([&] {
    auto listed = f.list();
    return listed.ok() && listed->empty();
  }));
}

// Regression (chaos soak, tests/chaos: --backends kubernetes --seed 3 --round 24): the delete of
// an ended pod failed with 429 and was never tried again, so the Failed pod stayed beside the
// application's running executors for the application's whole life.
TEST_CASE("an ended pod whose delete failed is deleted when the pool is next listed") {
  Fixture f;
  f.start_backend();
  auto exits = f.request(6);
  REQUIRE(f.launch(exits).ok());
  REQUIRE(eventually([&] { return f.phase_is(exits.backend_name, ObservedPhase::kRunning); }));
  CHECK(f.call("POST", "/sim/requests/reset").status == 200);
  CHECK(f.call("POST", "/sim/faults", R"({"error_code":429,"fail_next":{"delete":1}})").status == 200);
  CHECK(f.call("POST", "/sim/pods/default/" + exits.backend_name + "/exit", R"({"code":3})").status == 200);
  REQUIRE(eventually([&] { return f.phase_is(exits.backend_name, ObservedPhase::kExited); }));
  const auto deletes = [&] {
    return conformance::executor_route_counts(f.call("GET", "/sim/requests").body, [](const std::string& method,
                                                                                      const std::string&) {
      return method == "DELETE";
    });
  };
  REQUIRE(eventually([&] { return !deletes().empty(); }));  // the delete was tried, and refused
  CHECK(f.call("GET", "/api/v1/namespaces/default/pods/" + exits.backend_name).status == 200);

  auto listed = f.list();  // core's periodic resync
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 1);
  CHECK(listed->front().phase == ObservedPhase::kExited);  // its end is in the list core gets
  REQUIRE(eventually([&] { return f.phase_is(exits.backend_name, ObservedPhase::kGone); }));
  CHECK(f.call("GET", "/api/v1/namespaces/default/pods/" + exits.backend_name).status == 404);
  CHECK(deletes() == std::map<std::string, int>{{"DELETE /api/v1/namespaces/{ns}/pods/{name}", 2}});
}

TEST_CASE("a pod deleted by someone else is reported as deleted externally") {
  Fixture f;
  f.start_backend();
  auto r = f.request(5);
  REQUIRE(f.launch(r).ok());
  REQUIRE(eventually([&] { return f.phase_is(r.backend_name, ObservedPhase::kRunning); }));
  CHECK(f.call("DELETE", "/api/v1/namespaces/default/pods/" + r.backend_name + "?gracePeriodSeconds=0").status == 200);
  REQUIRE(eventually([&] {
    auto latest = f.sink().latest(r.backend_name);
    return latest && latest->deleted_externally;
  }));
  CHECK(f.sink().latest(r.backend_name)->phase == ObservedPhase::kExited);
}

TEST_CASE("an image that cannot be pulled fails the executor after image_pull_failure_timeout") {
  Fixture f;
  f.start_backend();
  auto r = f.request(6);
  r.spec.annotations["sim.berth.dev/image-pull-error"] = "true";
  REQUIRE(f.launch(r).ok());
  REQUIRE(eventually([&] {
    for (const auto& object : f.sink().observed(r.backend_name)) {
      if (object.phase == ObservedPhase::kExited) return true;
    }
    return false;
  }));
  for (const auto& object : f.sink().observed(r.backend_name)) {
    if (object.phase != ObservedPhase::kExited) continue;
    CHECK((object.reason == "ErrImagePull" || object.reason == "ImagePullBackOff"));
    CHECK_THAT(object.message, Catch::Contains("could not be pulled"));
    CHECK_FALSE(object.exit_code);
    break;
  }
}

TEST_CASE("a lost node makes its executors LOST with the host") {
  Fixture f;
  f.start_backend();
  auto r = f.request(7);
  REQUIRE(f.launch(r).ok());
  REQUIRE(eventually([&] { return f.phase_is(r.backend_name, ObservedPhase::kRunning); }));
  const std::string node = f.sink().latest(r.backend_name)->host;
  REQUIRE_FALSE(node.empty());
  CHECK(f.call("POST", "/sim/nodes/" + node + "/kill", R"({"mode":"fail"})").status == 200);
  REQUIRE(eventually([&] {
    for (const auto& object : f.sink().observed(r.backend_name)) {
      if (object.phase == ObservedPhase::kLost) return object.host == node;
    }
    return false;
  }));
}

TEST_CASE("quota exhaustion is kResourceExhausted with the API server's message; 422 is kInvalidArgument") {
  Fixture f;
  f.start_backend();
  CHECK(f.call("POST", "/sim/quotas", R"({"namespace":"default","name":"small","hard":{"pods":"1"}})").status == 200);
  REQUIRE(f.launch(f.request(8)).ok());
  Status refused = f.launch(f.request(9));
  CHECK(refused.code() == StatusCode::kResourceExhausted);
  CHECK_FALSE(refused.retryable());
  CHECK_THAT(refused.message(), Catch::Contains("exceeded quota"));
  CHECK_THAT(refused.message(), Catch::Contains("berth-app-1-exec-9"));

  auto invalid = f.request(10);
  invalid.spec.labels["bad label key!"] = "x";
  CHECK(f.call("DELETE", "/sim/quotas/default/small").status == 200);
  Status rejected = f.launch(invalid);
  CHECK(rejected.code() == StatusCode::kInvalidArgument);
  CHECK_FALSE(rejected.retryable());
}

TEST_CASE("injected 429 and 5xx are retryable kUnavailable") {
  Fixture f;
  f.start_backend();
  CHECK(f.call("POST", "/sim/faults", R"({"error_code":500,"fail_next":{"create":1}})").status == 200);
  Status failed = f.launch(f.request(11));
  CHECK(failed.code() == StatusCode::kUnavailable);
  CHECK(failed.retryable());
  CHECK(f.launch(f.request(11)).ok());
  CHECK(f.call("POST", "/sim/faults", R"({"error_code":429,"fail_next":{"create":1}})").status == 200);
  Status throttled = f.launch(f.request(12));
  CHECK(throttled.code() == StatusCode::kUnavailable);
  CHECK(throttled.retryable());
}

TEST_CASE("the watch survives 410 (as HTTP 410 and as an ERROR event) and dropped streams") {
  Fixture f;
  f.start_backend();
  auto first = f.request(13);
  REQUIRE(f.launch(first).ok());
  REQUIRE(eventually([&] { return f.phase_is(first.backend_name, ObservedPhase::kRunning); }));

  SECTION("ERROR event") {
    CHECK(f.call("POST", "/sim/faults", R"({"expired_as_event":true,"compact":true,"expire_watches":true})").status == 200);
  }
  SECTION("HTTP 410") {
    CHECK(f.call("POST", "/sim/faults", R"({"expired_as_event":false,"compact":true,"expire_watches":true})").status == 200);
  }
  SECTION("dropped") {
    CHECK(f.call("POST", "/sim/faults", R"({"drop_watches":true})").status == 200);
  }
  // Changes made after the fault still arrive.
  auto second = f.request(14);
  REQUIRE(f.launch(second).ok());
  REQUIRE(eventually([&] { return f.phase_is(second.backend_name, ObservedPhase::kRunning); }));
  REQUIRE(f.kill(first.backend_name).ok());
  REQUIRE(eventually([&] { return f.phase_is(first.backend_name, ObservedPhase::kGone); }));
}

TEST_CASE("an API server outage reports the pool unavailable, then healthy again; nothing is reported lost") {
  Fixture f;
  f.start_backend();
  auto r = f.request(15);
  REQUIRE(f.launch(r).ok());
  REQUIRE(eventually([&] { return f.phase_is(r.backend_name, ObservedPhase::kRunning); }));
  CHECK(f.call("POST", "/sim/faults", R"({"down_for_ms":1500})").status == 200);
  REQUIRE(eventually([&] {
    auto health = f.sink().health();
    return !health.empty() && !health.back().ok();
  }));
  CHECK(f.sink().health().back().retryable());
  auto during = f.list();
  CHECK_FALSE(during.ok());
  REQUIRE(eventually([&] { return f.sink().health().back().ok(); }));
  for (const auto& object : f.sink().observed(r.backend_name)) {
    CHECK(object.phase != ObservedPhase::kLost);
    CHECK(object.phase != ObservedPhase::kGone);
    CHECK_FALSE(object.deleted_externally);
  }
  CHECK(f.phase_is(r.backend_name, ObservedPhase::kRunning));
}

TEST_CASE("list returns Berth pods of every daemon id in the pool, never pods without Berth's labels") {
  Fixture f;
  f.start_backend("edge-1");
  REQUIRE(f.launch(f.request(16)).ok());
  auto other = f.request(17);
  other.daemon_id = "edge-2";
  REQUIRE(f.launch(other).ok());
  const std::string foreign = R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"not-berths","labels":{"app":"x"}},
      "spec":{"containers":[{"name":"c","image":"busybox"}]}})";
  CHECK(f.call("POST", "/api/v1/namespaces/default/pods", foreign).status == 201);
  auto listed = f.list();
  REQUIRE(listed.ok());
  std::set<std::string> daemons;
  for (const auto& object : *listed) {
    CHECK(object.backend_name != "not-berths");
    daemons.insert(object.daemon_id);
  }
  CHECK(daemons == std::set<std::string>{"edge-1", "edge-2"});
  // The watch reports only this daemon's.
  REQUIRE(eventually([&] { return f.sink().latest("berth-app-1-exec-16").has_value(); }));
  CHECK_FALSE(f.sink().latest(other.backend_name));
}

TEST_CASE("delete_app_pods removes an application's pods in one request") {
  Fixture f;
  f.start_backend();
  REQUIRE(f.launch(f.request(18, "app-a")).ok());
  REQUIRE(f.launch(f.request(19, "app-a")).ok());
  REQUIRE(f.launch(f.request(20, "app-b")).ok());
  std::promise<Status> done;
  f.on_strand([&] { f.backend().delete_app_pods("app-a", 0ms, [&](Status s) { done.set_value(std::move(s)); }); });
  auto future = done.get_future();
  REQUIRE(future.wait_for(20s) == std::future_status::ready);
  CHECK(future.get().ok());
  REQUIRE(eventually([&] {
    auto listed = f.list();
    if (!listed.ok()) return false;
    return listed->size() == 1 && listed->front().app == "app-b";
  }));
}

TEST_CASE("verbs RBAC refuses are kPermissionDenied naming the verb, the resource and the namespace") {
  sim::kubernetes::SimulatorOptions options;
  sim::kubernetes::RbacRole role;
  role.name = "berth-without-deletes";
  role.rules.push_back(sim::kubernetes::RbacRule{{""}, {"pods"}, {"get", "list", "watch", "create"}, {}});
  options.rbac_role = role;
  Fixture f(options);
  f.start_backend();
  auto r = f.request(21);
  REQUIRE(f.launch(r).ok());

  const Status kill = f.kill(r.backend_name);
  CHECK(kill.code() == StatusCode::kPermissionDenied);
  CHECK_THAT(kill.message(), Catch::Contains("cannot delete resource \"pods\" in API group \"\" in the namespace \"default\""));
  CHECK_THAT(kill.message(), Catch::Contains(r.backend_name));

  std::promise<Status> done;
  f.on_strand([&] { f.backend().delete_app_pods("app-1", 0ms, [&](Status s) { done.set_value(std::move(s)); }); });
  auto future = done.get_future();
  REQUIRE(future.wait_for(20s) == std::future_status::ready);
  const Status bulk = future.get();
  CHECK(bulk.code() == StatusCode::kPermissionDenied);
  CHECK_THAT(bulk.message(), Catch::Contains("cannot deletecollection resource \"pods\""));
}

TEST_CASE("a watch RBAC refuses reports the pool unhealthy with the refused verb") {
  sim::kubernetes::SimulatorOptions options;
  sim::kubernetes::RbacRole role;
  role.name = "berth-without-watch";
  role.rules.push_back(sim::kubernetes::RbacRule{{""}, {"pods"}, {"get", "list", "create", "delete", "deletecollection"}, {}});
  options.rbac_role = role;
  Fixture f(options);
  f.start_backend("edge-1", false);  // the list is allowed (healthy), then the watch is refused
  REQUIRE(eventually([&] { return !f.sink().health().empty() && !f.sink().healthy(); }));
  const Status refused = f.sink().health().back();
  CHECK(refused.code() == StatusCode::kPermissionDenied);
  CHECK_THAT(refused.message(), Catch::Contains("cannot watch resource \"pods\" in API group \"\" in the namespace \"default\""));
}

TEST_CASE("a rotated token file is re-read on 401 and the request goes through") {
  TempDir dir;
  const std::string token_file = dir.write("token", "stale\n");
  sim::kubernetes::SimulatorOptions options;
  options.token = "fresh";
  Fixture f(options, [&](KubernetesPoolConfig& config) {
    config.connection.token = "fresh";  // for the fixture's admin client
  });
  f.config().connection.token.clear();
  f.config().connection.token_file = token_file;
  // Started with the stale token: the first list is refused, the pool reported unauthenticated.
  // The kubelet rotates the file; the next 401 re-reads it.
  std::thread rotate([&] {
    std::this_thread::sleep_for(300ms);
    dir.write("token", "fresh\n");
  });
  f.start_backend();
  rotate.join();
  CHECK(f.launch(f.request(21)).ok());
}

TEST_CASE("TLS with a client certificate, verified against the cluster CA") {
  TempDir dir;
  const auto pki = net::testing::make_test_pki({"kubernetes.default.svc"});
  sim::kubernetes::SimulatorOptions options;
  options.tls_cert_file = dir.write("server.pem", pki.server.cert_pem);
  options.tls_key_file = dir.write("server-key.pem", pki.server.key_pem);
  options.client_ca_file = dir.write("ca.pem", pki.ca.cert_pem);
  options.token = "required-unless-cert";
  Fixture f(options, [&](KubernetesPoolConfig& config) {
    config.connection.server.replace(0, 4, "https");
    config.connection.ca_pem = pki.ca.cert_pem;
    config.connection.client_cert_pem = pki.client.cert_pem;
    config.connection.client_key_pem = pki.client.key_pem;
    config.connection.server_name = "kubernetes.default.svc";
  });
  f.start_backend();
  auto r = f.request(22);
  REQUIRE(f.launch(r).ok());
  REQUIRE(eventually([&] { return f.phase_is(r.backend_name, ObservedPhase::kRunning); }));
}

// The shared scenarios. Ended pods are kept (delete_terminated_pods: false) so that an
// executor's exit is its last observation, as on the other backends.
class KubernetesConformance {
 public:
  KubernetesConformance() : simulator_(io_.executor(), {}) {
    REQUIRE(simulator_.start().ok());
    net::HttpClientOptions options;
    options.base_url = "http://" + simulator_.address();
    admin_ = std::make_unique<net::HttpClient>(io_.executor(), options);
    REQUIRE(admin_->init().ok());
    KubernetesPoolConfig config;
    config.connection.server = options.base_url;
    config.name_space = "default";
    config.retry_max_backoff = 500ms;
    config.delete_terminated_pods = false;
    target_.name = "kubernetes";
    target_.pool = "k8s";
    target_.make_backend = [config](boost::asio::any_io_executor strand) {
      return std::make_unique<KubernetesBackend>(strand, "k8s", config, "edge-1");
    };
    target_.make_other_backend = [config](boost::asio::any_io_executor strand) {
      return std::make_unique<KubernetesBackend>(strand, "k8s", config, conformance::ConformanceTarget::kOtherDaemon);
    };
    target_.lists_other_daemons = true;  // list() is every Berth pod of the pool
    target_.exit_executor = [this](const std::string& name, int code, bool oom) {
      admin("POST", "/sim/pods/default/" + name + "/exit",
            oom ? std::string(R"({"oom":true})") : R"({"code":)" + std::to_string(code) + "}");
    };
    target_.outage = [this](std::chrono::milliseconds duration) {
      admin("POST", "/sim/faults", R"({"down_for_ms":)" + std::to_string(duration.count()) + "}");
    };
    target_.ignore_sigterm = [](LaunchRequest& request) {
      request.spec.annotations["sim.berth.dev/shutdown-delay"] = "1h";
    };
    // A kill core wants at once is a delete with delete_grace_period (1 s), then the watch.
    target_.kill_slack = 3s;
    target_.reset_requests = [this] { admin("POST", "/sim/requests/reset"); };
    target_.executor_requests = [this] {
      return conformance::executor_route_counts(
          admin("GET", "/sim/requests").body, [](const std::string& method, const std::string& route) {
            if (route.find(" watch") != std::string::npos) return false;
            return route.find("{name}") != std::string::npos ||
                   (method == "POST" && route == "/api/v1/namespaces/{ns}/pods");
          });
    };
    target_.create_unlabelled = [this](const std::string& name) {
      admin("POST", "/api/v1/namespaces/default/pods",
            R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")" + name +
                R"("},"spec":{"restartPolicy":"Never","containers":[{"name":"main","image":"busybox"}]}})");
    };
    target_.unlabelled_running = [this](const std::string& name) {
      const net::HttpResponse pod = admin("GET", "/api/v1/namespaces/default/pods/" + name, "", true);
      if (pod.status != 200) return false;
      const json::object object = json::parse(pod.body).as_object();
      return !object.at("metadata").as_object().contains("deletionTimestamp") &&
             object.at("status").at("phase") == "Running";
    };
    target_.make_invalid = [](LaunchRequest& request) {
      request.spec.labels["bad key"] = "x";
      return std::string("bad key");
    };
    target_.exceed_quota = [this](LaunchRequest& request) {
      admin("POST", "/sim/quotas", R"({"namespace":"default","name":"conformance","hard":{"requests.cpu":"2"}})");
      request.profile.cores = 4;
      return std::string("exceeded quota: conformance");
    };
    target_.fail_next_launch = [this] {
      admin("POST", "/sim/faults", R"({"fail_next":{"create":1},"error_code":503})");
    };
  }
  ~KubernetesConformance() {
    admin_.reset();
    simulator_.stop();
    io_.stop();
  }
  conformance::ConformanceTarget& target() { return target_; }

 private:
  net::HttpResponse admin(const std::string& method, const std::string& target, const std::string& body = "",
                          bool any_status = false) {
    std::promise<StatusOr<net::HttpResponse>> result;
    net::HttpClientRequest request;
    request.method = method;
    request.target = target;
    request.body = body;
    if (!body.empty()) request.headers["content-type"] = "application/json";
    admin_->request(request, [&](StatusOr<net::HttpResponse> r) { result.set_value(std::move(r)); });
    auto future = result.get_future();
    REQUIRE(future.wait_for(20s) == std::future_status::ready);
    auto response = future.get();
    REQUIRE(response.ok());
    INFO(method << " " << target << " -> " << response->status << " " << response->body);
    if (!any_status) REQUIRE(response->status < 300);
    return *response;
  }

  conformance::IoThread io_;
  sim::kubernetes::Simulator simulator_;
  std::unique_ptr<net::HttpClient> admin_;
  conformance::ConformanceTarget target_;
};

BERTH_CONFORMANCE_SUITE("kubernetes", KubernetesConformance)

}  // namespace
}  // namespace berth
