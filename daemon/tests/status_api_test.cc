// The status page's JSON API (status_api.h) and the per-application metrics, against an Engine
// driven by core's fakes: what each caller sees, the event window's paging, bad parameters.

#include <catch2/catch.hpp>

#include <boost/json/parse.hpp>

#include "core/testing/fakes.h"
#include "daemon/metrics.h"
#include "daemon/status_api.h"

namespace berth {
namespace {

using namespace std::chrono_literals;
using testing::FakeBackend;
using testing::FakeStore;
using testing::ManualScheduler;

struct Daemon {
  FakeClock clock;
  ManualScheduler scheduler;
  FakeStore store;
  FakeBackend backend{"pool-a", scheduler};
  std::unique_ptr<Engine> engine;
  DaemonInfo info{"d1", "0.test", Timestamp(1'700'000'000'000ms), nullptr, "team-a"};

  explicit Daemon(std::size_t event_window = 1000) {
    EngineOptions options;
    options.event_window = event_window;
    engine = std::make_unique<Engine>(options, "d1", clock, store, scheduler);
    engine->add_pool(PoolPolicy{"pool-a", "fake", 1000, 64}, &backend);
    engine->set_tenants({TenantPolicy{"team-a", {}, {"pool-a"}, {}}, TenantPolicy{"team-b", {}, {"pool-a"}, {}}});
    REQUIRE(engine->restore(*store.load()).ok());
    engine->start();
    scheduler.run_all();
  }

  void add_app(const AppId& id, const TenantName& tenant, int executors) {
    AppSpec spec;
    spec.id = id;
    spec.tenant = tenant;
    spec.profiles = {ResourceProfile{0, 1, 1024, 0, 0, 0, 0, {}}};
    spec.launch = LaunchSpec{.command = {"executor"}, .env = {{"SECRET_TOKEN", "hunter2"}, {"MODE", "batch"}}};
    REQUIRE(engine->register_app(spec).ok());
    REQUIRE(engine->set_targets(id, {{0, executors}}).ok());
    scheduler.run_all();
    backend.run_all_pending();
    scheduler.run_all();
  }

  boost::json::object get(const Caller& caller, StatusQuery query) {
    auto text = answer(*engine, info, caller, query);
    REQUIRE(text.ok());
    return boost::json::parse(*text).as_object();
  }
};

Caller operator_caller() {
  Caller c;
  c.is_operator = true;
  return c;
}

Caller tenant_caller(const TenantName& tenant) {
  Caller c;
  c.tenant = tenant;
  return c;
}

StatusQuery query(StatusQuery::Kind kind, AppId app = "", std::optional<Revision> from = std::nullopt,
                  std::size_t limit = kDefaultEventLimit) {
  StatusQuery q;
  q.kind = kind;
  q.app = std::move(app);
  q.from = from;
  q.limit = limit;
  return q;
}

std::vector<std::string> app_ids(const boost::json::object& status) {
  std::vector<std::string> ids;
  for (const auto& app : status.at("applications").as_array()) {
    ids.emplace_back(app.as_object().at("appId").as_string());
  }
  return ids;
}

}  // namespace

TEST_CASE("the status API's paths and parameters: unknown ones are refused by name") {
  auto status = parse_status_query("status", {});
  REQUIRE(status.ok());
  CHECK(status->kind == StatusQuery::Kind::kStatus);

  auto app = parse_status_query("apps/demo-1", {{"limit", "20"}});
  REQUIRE(app.ok());
  CHECK(app->kind == StatusQuery::Kind::kApp);
  CHECK(app->app == "demo-1");
  CHECK(app->limit == 20);
  CHECK(parse_status_query("apps/demo-1", {})->limit == kDefaultExecutorLimit);

  auto events = parse_status_query("events", {{"from", "42"}, {"limit", "1000"}, {"app", "demo-1"}});
  REQUIRE(events.ok());
  CHECK(events->from == Revision{42});
  CHECK(events->limit == 1000);
  CHECK(events->app == "demo-1");
  CHECK_FALSE(parse_status_query("events", {})->from.has_value());

  const std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>> refused_paths = {
      {"nope", {}}, {"apps/", {}}, {"apps/a/b", {}}, {"apps/" + std::string(300, 'a'), {}}, {"", {}}};
  for (const auto& [path, params] : refused_paths) {
    INFO(path);
    CHECK(parse_status_query(path, params).status().code() == StatusCode::kNotFound);
  }
  const std::vector<std::pair<std::vector<std::pair<std::string, std::string>>, std::string>> bad = {
      {{{"from", "abc"}}, "from: expected an integer from 0 to"},
      {{{"from", "-1"}}, "from: expected an integer"},
      {{{"from", "99999999999999999999999"}}, "from: expected an integer"},
      {{{"from", ""}}, "from: expected an integer"},
      {{{"limit", "0"}}, "limit: expected an integer from 1 to 1000"},
      {{{"limit", "1001"}}, "limit: expected an integer from 1 to 1000"},
      {{{"app", ""}}, "app: expected an application id"},
      {{{"colour", "red"}}, "unknown query parameter \"colour\""},
  };
  for (const auto& [params, message] : bad) {
    auto parsed = parse_status_query("events", params);
    INFO(message);
    CHECK(parsed.status().code() == StatusCode::kInvalidArgument);
    CHECK_THAT(parsed.status().message(), Catch::StartsWith(message));
  }
  CHECK(parse_status_query("status", {{"from", "1"}}).status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("a Host header that names this host by address, not a name a page could rebind") {
  for (const char* host : {"127.0.0.1:7434", "127.0.0.1", "[::1]:7434", "[::1]", "localhost:7434", "LOCALHOST",
                           "localhost.", "status.localhost:80", "10.0.0.5:7434"}) {
    INFO(host);
    CHECK(is_address_host(host));
  }
  for (const char* host : {"", "evil.example:7434", "evil.example", "127.0.0.1.evil.example", "localhost.evil.example",
                           "[::1", "[::1]x", "[evil]:1", "::1", "localhostx:1", "a:b:c"}) {
    INFO(host);
    CHECK_FALSE(is_address_host(host));
  }
}

TEST_CASE("an operator sees pools and every application; a tenant only its own, and no pools") {
  Daemon d;
  d.add_app("app-a", "team-a", 2);
  d.add_app("app-b", "team-b", 1);

  auto all = d.get(operator_caller(), query(StatusQuery::Kind::kStatus));
  CHECK(app_ids(all) == std::vector<std::string>{"app-a", "app-b"});
  REQUIRE(all.at("pools").as_array().size() == 1);
  const auto& pool = all.at("pools").as_array()[0].as_object();
  CHECK(pool.at("name").as_string() == "pool-a");
  CHECK(pool.at("synced").as_bool());
  CHECK(all.at("daemon").as_object().at("daemonId").as_string() == "d1");
  CHECK(all.at("caller").as_object().at("operator").as_bool());
  // The list leaves the launch spec out (it is in /api/v1/apps/<id>).
  CHECK_FALSE(all.at("applications").as_array()[0].as_object().contains("launch"));

  auto team_b = d.get(tenant_caller("team-b"), query(StatusQuery::Kind::kStatus));
  CHECK(app_ids(team_b) == std::vector<std::string>{"app-b"});
  CHECK_FALSE(team_b.contains("pools"));
  CHECK(team_b.at("caller").as_object().at("tenant").as_string() == "team-b");

  auto hidden = answer(*d.engine, d.info, tenant_caller("team-b"), query(StatusQuery::Kind::kApp, "app-a", {}, 500));
  CHECK(hidden.status().code() == StatusCode::kNotFound);
  CHECK(hidden.status().message() == "application app-a is not registered");
}

TEST_CASE("an application's page holds its executors, the newest ones when limited, and secrets redacted") {
  Daemon d;
  d.info.redact_env = std::make_shared<const std::regex>("SECRET", std::regex::icase | std::regex::extended);
  d.add_app("app-a", "team-a", 3);
  auto page = d.get(tenant_caller("team-a"), query(StatusQuery::Kind::kApp, "app-a", {}, 2));
  const auto& executors = page.at("executors").as_array();
  REQUIRE(executors.size() == 2);
  CHECK(executors[0].as_object().at("executorId").as_string() == "2");
  CHECK(executors[1].as_object().at("executorId").as_string() == "3");
  CHECK(page.at("truncated").as_bool());
  const auto& env = page.at("application").as_object().at("launch").as_object().at("env").as_object();
  CHECK(env.at("SECRET_TOKEN").as_string() == "<redacted>");
  CHECK(env.at("MODE").as_string() == "batch");
}

TEST_CASE("events: the newest first page, then what follows a revision in pages, a resync past the window") {
  Daemon d;
  d.add_app("app-a", "team-a", 2);
  d.add_app("app-b", "team-b", 2);
  const Revision now = d.engine->revision();

  auto newest = d.get(tenant_caller("team-a"), query(StatusQuery::Kind::kEvents, "", std::nullopt, 3));
  const auto& events = newest.at("events").as_array();
  REQUIRE(events.size() == 3);
  for (const auto& e : events) {
    const auto& event = e.as_object();
    const auto& about = event.contains("executor") ? event.at("executor").as_object().at("appId")
                                                   : event.at("application").as_object().at("appId");
    CHECK(about.as_string() == "app-a");  // team-b's events are not shown
  }
  CHECK(newest.at("revision").as_string() == std::to_string(now));
  CHECK_FALSE(newest.at("resync").as_bool());

  // From a revision: oldest first, in pages.
  const Revision from = now - 5;
  auto page = d.get(operator_caller(), query(StatusQuery::Kind::kEvents, "", from, 2));
  REQUIRE(page.at("events").as_array().size() == 2);
  CHECK(page.at("events").as_array()[0].as_object().at("revision").as_string() == std::to_string(from + 1));
  CHECK(page.at("more").as_bool());
  auto rest = d.get(operator_caller(), query(StatusQuery::Kind::kEvents, "", now - 1, 100));
  CHECK(rest.at("events").as_array().size() == 1);
  CHECK_FALSE(rest.at("more").as_bool());
  CHECK(d.get(operator_caller(), query(StatusQuery::Kind::kEvents, "", now)).at("events").as_array().empty());

  // Out of the window (gone, or ahead of this daemon): the newest page with resync.
  Daemon small(/*event_window=*/5);
  small.add_app("app-a", "team-a", 3);
  REQUIRE(small.engine->revision() > 6);
  for (Revision gone : {Revision{1}, small.engine->revision() + 10}) {
    auto resync = small.get(operator_caller(), query(StatusQuery::Kind::kEvents, "", gone, 4));
    CHECK(resync.at("resync").as_bool());
    CHECK(resync.at("events").as_array().size() == 4);
  }
  // An application filter.
  auto only_b = d.get(operator_caller(), query(StatusQuery::Kind::kEvents, "app-b", std::nullopt, 100));
  CHECK_FALSE(only_b.at("events").as_array().empty());
  for (const auto& e : only_b.at("events").as_array()) {
    const auto& event = e.as_object();
    const auto& about = event.contains("executor") ? event.at("executor").as_object().at("appId")
                                                   : event.at("application").as_object().at("appId");
    CHECK(about.as_string() == "app-b");
  }
}

TEST_CASE("per-application gauges follow the targets and vanish when the application ends") {
  Daemon d;
  Metrics metrics;
  d.add_app("app-a", "team-a", 2);
  REQUIRE(d.engine->set_targets("app-a", {{0, 5}}).ok());
  d.scheduler.run_all();
  d.backend.run_all_pending();
  d.scheduler.run_all();
  metrics.refresh(*d.engine);
  std::string text = metrics.scrape();
  CHECK_THAT(text, Catch::Contains("berth_app_target_executors{app=\"app-a\",profile=\"0\",tenant=\"team-a\"} 5"));
  CHECK_THAT(text, Catch::Contains("berth_app_launch_failures{app=\"app-a\",profile=\"0\",tenant=\"team-a\"} 0"));
  CHECK_THAT(text, Catch::Contains("berth_launches_total{pool=\"pool-a\"} 5"));
  CHECK_THAT(text, Catch::Contains("berth_app_pending_executors{app=\"app-a\",profile=\"0\",tenant=\"team-a\"}"));
  CHECK_THAT(text, Catch::Contains("berth_app_running_executors{app=\"app-a\",profile=\"0\",tenant=\"team-a\"}"));

  REQUIRE(d.engine->unregister_app("app-a", "done").ok());
  d.scheduler.run_all();
  metrics.refresh(*d.engine);
  text = metrics.scrape();
  CHECK_THAT(text, !Catch::Contains("app=\"app-a\""));
  CHECK_THAT(text, Catch::Contains("berth_launches_total{pool=\"pool-a\"} 5"));
}

TEST_CASE("the status API names applications as the gRPC API does: tenants by id, operators by key") {
  Daemon daemon;
  daemon.add_app("etl", "team-a", 1);         // the default tenant's: keyed by its id
  daemon.add_app("team-b.etl", "team-b", 2);  // team-b's application "etl"
  const auto status = daemon.get(operator_caller(), query(StatusQuery::Kind::kStatus));
  std::vector<std::pair<std::string, std::string>> named;
  for (const auto& app : status.at("applications").as_array()) {
    named.emplace_back(app.at("appId").as_string(), app.at("key").as_string());
  }
  std::sort(named.begin(), named.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  CHECK(named == std::vector<std::pair<std::string, std::string>>{{"etl", "etl"}, {"etl", "team-b.etl"}});

  const auto by_key = daemon.get(operator_caller(), query(StatusQuery::Kind::kApp, "team-b.etl"));
  CHECK(by_key.at("application").at("tenant").as_string() == "team-b");
  CHECK(by_key.at("executors").as_array().size() == 2);
  const auto by_id = daemon.get(tenant_caller("team-b"), query(StatusQuery::Kind::kApp, "etl"));
  CHECK(by_id.at("application").at("tenant").as_string() == "team-b");
  const auto own_key = daemon.get(tenant_caller("team-b"), query(StatusQuery::Kind::kApp, "team-b.etl"));
  CHECK(own_key.at("application").at("tenant").as_string() == "team-b");
  const auto team_a = daemon.get(tenant_caller("team-a"), query(StatusQuery::Kind::kApp, "etl"));
  CHECK(team_a.at("application").at("tenant").as_string() == "team-a");
  // team-a cannot reach team-b's through its key.
  CHECK(answer(*daemon.engine, daemon.info, tenant_caller("team-a"), query(StatusQuery::Kind::kApp, "team-b.etl"))
            .status()
            .code() == StatusCode::kNotFound);
  // Events filtered by a tenant's id are that tenant's application's only.
  const auto events = daemon.get(tenant_caller("team-b"), query(StatusQuery::Kind::kEvents, "etl", Revision{0}));
  REQUIRE_FALSE(events.at("events").as_array().empty());
  for (const auto& event : events.at("events").as_array()) {
    const auto& object = event.as_object();
    const auto* app = object.if_contains("application");
    if (app != nullptr) CHECK(app->at("tenant").as_string() == "team-b");
  }
}

}  // namespace berth
