// The shared /sim/ administration: replies and their status codes, bodies that are not JSON
// objects, unknown endpoints, POST /sim/advance running what came due, and /sim/faults with a
// simulator's own fields applied and described through its hooks.
#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>

#include "sim/common/admin.h"

namespace berth::sim_common {
namespace {

namespace json = boost::json;

net::HttpRequest admin(const std::string& method, const std::string& path, std::string body = {}) {
  net::HttpRequest request;
  request.method = method;
  request.path = path;
  request.target = path;
  request.body = std::move(body);
  return request;
}

json::object body_of(const net::HttpResponse& response) { return json::parse(response.body).as_object(); }

TEST_CASE("replies: ok with extra fields, and errors with the status their code maps to") {
  const auto ok = admin_reply(Status::Ok(), json::object{{"id", "n1"}});
  CHECK(ok.status == 200);
  CHECK(ok.headers.at("content-type") == "application/json");
  CHECK(body_of(ok) == json::object{{"id", "n1"}, {"ok", true}});
  CHECK(admin_reply(Status::NotFound("no node n1")).status == 404);
  CHECK(admin_reply(Status::FailedPrecondition("busy")).status == 409);
  CHECK(admin_reply(Status::AlreadyExists("agent a1 already exists")).status == 409);
  const auto bad = admin_reply(Status::InvalidArgument("cpu must be > 0"));
  CHECK(bad.status == 400);
  CHECK(body_of(bad) == json::object{{"ok", false}, {"error", "cpu must be > 0"}});
  const auto unknown = unknown_admin_endpoint(admin("GET", "/sim/nowhere"));
  CHECK(unknown.status == 404);
  CHECK(body_of(unknown).at("error") == "unknown admin endpoint GET /sim/nowhere");
}

TEST_CASE("an admin request splits its path and reads numbers and flags from its body") {
  const auto http = admin("POST", "/sim/nodes/n1/kill", R"({"seconds": 2.5, "oom": true, "code": "x"})");
  const AdminRequest request(http);
  CHECK(request.parts() == std::vector<std::string>{"sim", "nodes", "n1", "kill"});
  CHECK(request.body_ok());
  CHECK(request.number("seconds") == 2.5);
  CHECK_FALSE(request.number("code"));
  CHECK_FALSE(request.number("missing"));
  CHECK(request.flag("oom"));
  CHECK_FALSE(request.flag("code"));
  const auto get = admin("GET", "/sim/state", "ignored");
  CHECK(AdminRequest(get).body_ok());
}

struct SharedFixture {
  boost::asio::io_context io;
  RequestCounter requests;
  Agenda agenda{io.get_executor(), SimClock(1.0, [] { return std::chrono::steady_clock::time_point(); })};
  Faults faults{503};
  bool own_fault = false;
  std::optional<std::chrono::milliseconds> outage;
  SharedAdmin shared{requests, agenda, faults, "sim_time",
                     [this](const AdminRequest& request, const FaultUpdate& update) {
                       if (update.reset) own_fault = false;
                       if (request.body().contains("own")) own_fault = request.flag("own");
                       outage = update.down_for;
                     },
                     [this](json::object& described) { described["own"] = own_fault; }};
  SharedFixture() { agenda.clock().start(); }
  std::optional<net::HttpResponse> serve(const std::string& method, const std::string& path, std::string body = {}) {
    const auto http = admin(method, path, std::move(body));
    return serve_shared_admin(AdminRequest(http), shared);
  }
};

TEST_CASE_METHOD(SharedFixture, "POST /sim/advance runs what came due and answers the simulated time") {
  bool ran = false;
  agenda.after(30, [&] { ran = true; });
  const auto response = serve("POST", "/sim/advance", R"({"seconds": 30})");
  REQUIRE(response);
  CHECK(ran);
  CHECK(body_of(*response) == json::object{{"sim_time", 30.0}, {"ok", true}});
  CHECK(body_of(*serve("POST", "/sim/advance")).at("sim_time") == 30.0);  // no body: no jump
  CHECK_FALSE(serve("GET", "/sim/advance"));                              // the simulator's 404
}

TEST_CASE_METHOD(SharedFixture, "/sim/faults applies the shared and the simulator's fields and describes both") {
  auto response = serve("POST", "/sim/faults", R"({"fail_next": {"SUBSCRIBE": 1}, "own": true, "down_for_ms": 500})");
  REQUIRE(response);
  CHECK(own_fault);
  CHECK(outage == std::chrono::milliseconds(500));
  CHECK(json::serialize(body_of(*response)) ==
        R"({"latency_ms":0,"error_code":503,"error_rate":{},"fail_next":{"SUBSCRIBE":1},"own":true,"ok":true})");
  response = serve("POST", "/sim/faults", R"({"reset": true})");
  CHECK_FALSE(own_fault);
  CHECK(body_of(*response).at("fail_next").as_object().empty());
  CHECK(body_of(*serve("GET", "/sim/faults")).at("own") == false);
  CHECK_FALSE(serve("DELETE", "/sim/faults"));
}

TEST_CASE_METHOD(SharedFixture, "request counts are shared routes; other paths are the simulator's") {
  requests.count("GET", "/v1/jobs");
  const auto counts = serve("GET", "/sim/requests");
  REQUIRE(counts);
  CHECK(body_of(*counts).at("total") == 1);
  CHECK_FALSE(serve("GET", "/sim/state"));
  CHECK_FALSE(serve("POST", "/sim/nodes", R"({"name": "n1"})"));
}

TEST_CASE_METHOD(SharedFixture, "a POST body that is not a JSON object is a 400 on any admin path") {
  for (const char* path : {"/sim/advance", "/sim/nodes"}) {
    const auto response = serve("POST", path, "[1, 2]");
    REQUIRE(response);
    CHECK(response->status == 400);
    CHECK(body_of(*response).at("error") == "the body must be a JSON object");
  }
  CHECK(serve("POST", "/sim/faults", "{not json")->status == 400);
}

}  // namespace
}  // namespace berth::sim_common
