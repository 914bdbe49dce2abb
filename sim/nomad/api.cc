// The HTTP half of the simulator: routing of the /v1/ API as Nomad's mux does it (bare 404 on
// unknown paths, 405 "Invalid method"), ACL tokens, leader loss and injected faults, reads with
// blocking queries (index / wait, X-Nomad-* headers), lists with prefix, namespace, filter and
// pagination, the writes, and the /sim/ administration endpoints.

#include <boost/asio/post.hpp>
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <set>

#include "sim/nomad/internal.h"

namespace berth::sim::nomad {
namespace asio = boost::asio;
namespace {

constexpr const char* kJson = "application/json";
constexpr const char* kText = "text/plain; charset=utf-8";
constexpr const char* kNoLeader = "No cluster leader";
constexpr const char* kTooManyConnections =
    "Your IP is issuing too many concurrent connections, please rate limit your calls\n";
constexpr auto kDefaultWait = std::chrono::minutes(5);
constexpr auto kMaxWait = std::chrono::minutes(10);

net::HttpResponse text_response(int code, std::string body) {
  net::HttpResponse response;
  response.status = code;
  response.headers["content-type"] = kText;
  response.body = std::move(body);
  return response;
}

net::HttpResponse json_response(int code, const json::value& body) {
  net::HttpResponse response;
  response.status = code;
  response.headers["content-type"] = kJson;
  response.body = json::serialize(body);
  return response;
}

net::HttpResponse read_response(const ReadResult& result, bool known_leader) {
  net::HttpResponse response =
      result.code == 200 ? json_response(200, result.body) : text_response(result.code, result.error);
  response.headers["X-Nomad-Index"] = std::to_string(std::max<std::uint64_t>(1, result.index));
  response.headers["X-Nomad-LastContact"] = "0";
  response.headers["X-Nomad-KnownLeader"] = known_leader ? "true" : "false";
  if (!result.next_token.empty()) response.headers["X-Nomad-NextToken"] = result.next_token;
  return response;
}

bool flag(const net::HttpRequest& request, const char* name) {
  auto value = request.param(name);
  return value && (value->empty() || *value == "true" || *value == "1");
}

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::optional<std::uint64_t> parse_index(const std::string& text) {
  if (text.empty() || text.size() > 19 || !std::all_of(text.begin(), text.end(), ::isdigit)) return std::nullopt;
  return std::stoull(text);
}

// One list item: `key` orders the list and is the pagination token of the item.
struct ListItem {
  std::string key;
  json::value value;
};

std::string padded(std::uint64_t index) {
  char buffer[24];
  std::snprintf(buffer, sizeof(buffer), "%020llu", static_cast<unsigned long long>(index));
  return buffer;
}

struct ListOptions {
  std::optional<Filter> filter;
  std::size_t per_page = 0;
  std::string next_token;
};

ReadResult paginate(std::vector<ListItem> items, const ListOptions& options, std::uint64_t index) {
  std::sort(items.begin(), items.end(), [](const ListItem& a, const ListItem& b) { return a.key < b.key; });
  ReadResult result;
  result.index = index;
  json::array out;
  for (auto& item : items) {
    if (!options.next_token.empty() && item.key < options.next_token) continue;
    if (options.filter && !options.filter->matches(item.value)) continue;
    if (options.per_page > 0 && out.size() == options.per_page) {
      result.next_token = item.key;
      break;
    }
    out.push_back(std::move(item.value));
  }
  result.body = std::move(out);
  return result;
}

}  // namespace

// ---- lifecycle ----------------------------------------------------------------------------

SimulatorImpl::SimulatorImpl(asio::any_io_executor executor, SimulatorOptions options)
    : executor_(executor),
      strand_(asio::make_strand(executor)),
      options_(std::move(options)),
      agenda_(strand_, sim_common::SimClock(options_.time_scale)),
      outage_(strand_),
      rng_(options_.seed) {
  namespaces_.insert("default");
  for (const auto& ns : options_.namespaces) namespaces_.insert(ns);
}

Status SimulatorImpl::start() {
  agenda_.clock().start();
  try {
    init_nodes();
  } catch (const std::exception& e) {
    return Status::InvalidArgument(e.what());
  }
  asio::post(strand_, [self = shared_from_this()] { self->schedule_gc(); });
  return bring_up();
}

Status SimulatorImpl::bring_up() {
  net::HttpServerOptions server_options;
  server_options.listen = address_.empty() ? options_.listen : address_;
  server_options.tls_cert_file = options_.tls_cert_file;
  server_options.tls_key_file = options_.tls_key_file;
  server_options.tls_client_ca_file = options_.client_ca_file;
  server_options.max_connections_per_client = options_.max_conns_per_client;
  server_options.too_many_connections_body = kTooManyConnections;
  std::weak_ptr<SimulatorImpl> weak = shared_from_this();
  auto server = std::make_unique<net::HttpServer>(
      executor_, server_options, [weak](net::HttpRequest request, std::shared_ptr<net::ResponseWriter> writer) {
        auto self = weak.lock();
        if (!self) return;
        asio::post(self->strand_, [self, request = std::move(request), writer = std::move(writer)]() mutable {
          self->handle(std::move(request), std::move(writer));
        });
      });
  if (Status s = server->start(); !s.ok()) return s;
  std::lock_guard lock(server_mutex_);
  address_ = server->address();
  port_ = server->port();
  server_ = std::move(server);
  return Status::Ok();
}

void SimulatorImpl::stop() {
  {
    std::lock_guard lock(server_mutex_);
    if (server_) server_->stop();
  }
  asio::post(strand_, [self = shared_from_this()] {
    self->stopped_ = true;
    self->agenda_.stop();
    self->outage_.stop();
    for (auto& [id, waiter] : self->waiters_) waiter.timeout->cancel();
    self->waiters_.clear();
    for (auto& [id, subscriber] : self->subscribers_) subscriber.heartbeat->cancel();
    self->subscribers_.clear();
  });
}

void SimulatorImpl::go_down(std::chrono::milliseconds duration) {
  // Refuse connections for `duration`: the listener stops and a new one takes the same address.
  auto self = shared_from_this();
  outage_.begin(
      duration,
      [self] {
        std::lock_guard lock(self->server_mutex_);
        if (self->server_) self->server_->stop();
      },
      [self] {
        if (Status s = self->bring_up(); !s.ok()) std::cerr << "berth-sim: cannot come back up: " << s.message() << "\n";
      });
}

bool SimulatorImpl::leader_lost() const { return std::chrono::steady_clock::now() < leader_back_at_; }

void SimulatorImpl::end_waiters_without_leader() {
  for (auto& [id, waiter] : waiters_) {
    waiter.timeout->cancel();
    waiter.writer->respond(text_response(500, kNoLeader));
  }
  waiters_.clear();
  for (auto& [id, subscriber] : subscribers_) {
    subscriber.heartbeat->cancel();
    subscriber.writer->end();
  }
  subscribers_.clear();
}

namespace {

// The route a request is counted under: its path with {id} for job, allocation, evaluation and
// node IDs, or "{other}" for a path the API does not serve.
std::string route_of(const std::string& path) {
  static const std::set<std::string> kFixed = {"/v1/jobs",       "/v1/allocations",   "/v1/evaluations",
                                               "/v1/nodes",      "/v1/namespaces",    "/v1/event/stream",
                                               "/v1/status/leader", "/v1/agent/self",    "/v1/system/gc"};
  if (kFixed.count(path)) return path;
  const auto with_id = [&](const std::string& prefix, std::initializer_list<const char*> suffixes) -> std::string {
    if (!starts_with(path, prefix) || path.size() <= prefix.size()) return "";
    const std::string rest = path.substr(prefix.size());
    for (const char* suffix : suffixes) {
      if (ends_with(rest, suffix) && rest.size() > std::string(suffix).size()) return prefix + "{id}" + suffix;
    }
    return prefix + "{id}";
  };
  for (const auto& route : {with_id("/v1/job/", {"/allocations", "/evaluations", "/summary", "/scale", "/evaluate"}),
                            with_id("/v1/allocation/", {"/stop"}), with_id("/v1/evaluation/", {}),
                            with_id("/v1/node/", {})}) {
    if (!route.empty()) return route;
  }
  return "{other}";
}

}  // namespace

// ---- dispatch -----------------------------------------------------------------------------

void SimulatorImpl::handle(net::HttpRequest request, std::shared_ptr<net::ResponseWriter> writer) {
  if (stopped_) {
    writer->abort();
    return;
  }
  const bool admin = sim_common::is_admin_path(request.path);
  if (!admin) requests_.count(request.method, route_of(request.path));
  sim_common::after_latency(strand_, admin ? std::chrono::milliseconds(0) : faults_.latency(),
                             [self = shared_from_this(), request = std::move(request), writer]() mutable {
                               self->serve(request, writer);
                             });
}

void SimulatorImpl::serve(net::HttpRequest& request, std::shared_ptr<net::ResponseWriter>& writer) {
  const std::string& path = request.path;
  const std::string& method = request.method;
  const bool get = method == "GET";
  const bool write = method == "PUT" || method == "POST";
  auto reply = [&](int code, const std::string& message) { writer->respond(text_response(code, message)); };
  auto authorized = [&]() -> bool {
    if (options_.acl_token.empty()) return true;
    std::string token = request.header("x-nomad-token").value_or("");
    if (token.empty()) {
      const std::string authorization = request.header("authorization").value_or("");
      if (starts_with(authorization, "Bearer ")) token = authorization.substr(7);
    }
    if (token.empty()) {
      reply(403, "Permission denied");
      return false;
    }
    if (token != options_.acl_token) {
      reply(403, "ACL token not found");
      return false;
    }
    return true;
  };
  if (path == "/sim" || starts_with(path, "/sim/")) {
    if (authorized()) serve_admin(request, writer);
    return;
  }
  const std::string ns_param = request.param("namespace").value_or("");
  const std::string ns = ns_param.empty() ? "default" : ns_param;
  const bool all_namespaces = ns == "*";
  const bool known_leader = !leader_lost();

  // Lists share prefix, filter and pagination; a bad filter or page size is a 400 before blocking.
  ListOptions list;
  auto parse_list = [&]() -> bool {
    if (auto text = request.param("filter"); text && !text->empty()) {
      std::string error;
      list.filter = Filter::parse(*text, error);
      if (!list.filter) {
        reply(400, "failed to read filter expression: " + error);
        return false;
      }
    }
    if (auto text = request.param("per_page")) {
      auto n = parse_index(*text);
      if (!n) {
        reply(400, "Invalid per_page");
        return false;
      }
      list.per_page = *n;
    }
    list.next_token = request.param("next_token").value_or("");
    return true;
  };
  const std::string prefix = request.param("prefix").value_or("");

  std::string verb;  // for fault injection
  std::function<void()> action;
  bool needs_acl = true;
  bool needs_leader = true;

  if (path == "/v1/jobs") {
    if (get) {
      verb = "list";
      ++list_requests_["Jobs"];
      if (!parse_list()) return;
      const bool with_meta = flag(request, "meta");
      action = [&, list, with_meta, prefix, ns, all_namespaces] {
        serve_read(request, writer, [this, list, with_meta, prefix, ns, all_namespaces] {
          std::vector<ListItem> items;
          for (const auto& [key, job] : jobs_) {
            if (!all_namespaces && job.namespace_name != ns) continue;
            if (!starts_with(job.id, prefix)) continue;
            // The filter sees Meta; the reply carries it only with meta=true.
            items.push_back(ListItem{job.namespace_name + "." + job.id, job_stub(job, true)});
          }
          ReadResult result = paginate(std::move(items), list, table_index_["jobs"]);
          if (!with_meta) {
            for (auto& item : result.body.as_array()) item.as_object()["Meta"] = nullptr;
          }
          return result;
        });
      };
    } else if (write) {
      verb = "register";
      action = [&, ns_param] {
        ReadResult out;
        register_job("", ns_param, request.body, out);
        writer->respond(read_response(out, true));
      };
    } else {
      return reply(405, "Invalid method");
    }
  } else if (starts_with(path, "/v1/job/") && path.size() > 8) {
    std::string rest = path.substr(8);
    std::string sub;
    for (const char* suffix : {"/allocations", "/evaluations", "/summary", "/scale", "/evaluate"}) {
      if (ends_with(rest, suffix) && rest.size() > std::string(suffix).size()) {
        sub = suffix + 1;
        rest.resize(rest.size() - sub.size() - 1);
        break;
      }
    }
    const std::string id = rest;
    if (sub.empty()) {
      if (get) {
        verb = "get";
        action = [&, id, ns] {
          serve_read(request, writer, [this, id, ns] {
            ReadResult result;
            const Job* job = find_job(ns, id);
            result.index = job ? job->modify_index : table_index_["jobs"];
            if (!job) {
              result.code = 404;
              result.error = "job not found";
            } else {
              result.body = job_document(*job);
            }
            return result;
          });
        };
      } else if (write) {
        verb = "register";
        action = [&, id, ns_param] {
          ReadResult out;
          register_job(id, ns_param, request.body, out);
          writer->respond(read_response(out, true));
        };
      } else if (method == "DELETE") {
        verb = "deregister";
        const bool purge = flag(request, "purge");
        action = [&, id, ns, purge] {
          ReadResult out;
          deregister_job(ns, id, purge, out);
          writer->respond(read_response(out, true));
        };
      } else {
        return reply(405, "Invalid method");
      }
    } else if (sub == "allocations" || sub == "evaluations") {
      if (!get) return reply(405, "Invalid method");
      verb = "list";
      const bool all = flag(request, "all");
      if (sub == "allocations") {
        action = [&, id, ns, all] {
          serve_read(request, writer, [this, id, ns, all] {
            ReadResult result;
            result.index = table_index_["allocs"];
            const Job* job = find_job(ns, id);
            json::array out;
            std::vector<const Alloc*> allocs;
            for (const auto& [alloc_id, alloc] : allocs_) {
              if (alloc.namespace_name != ns || alloc.job_id != id) continue;
              if (!all && (!job || alloc.job_generation != job->generation)) continue;
              allocs.push_back(&alloc);
            }
            std::sort(allocs.begin(), allocs.end(), [](const Alloc* a, const Alloc* b) {
              return std::tie(a->create_index, a->id) < std::tie(b->create_index, b->id);
            });
            for (const Alloc* alloc : allocs) out.push_back(alloc_document(*alloc, false));
            result.body = std::move(out);
            return result;
          });
        };
      } else {
        action = [&, id, ns] {
          serve_read(request, writer, [this, id, ns] {
            ReadResult result;
            result.index = table_index_["evals"];
            json::array out;
            if (const Job* job = find_job(ns, id)) {
              for (const Eval* eval : evals_of(*job)) out.push_back(eval_document(*eval));
            }
            result.body = std::move(out);
            return result;
          });
        };
      }
    } else if (sub == "summary") {
      if (!get) return reply(405, "Invalid method");
      verb = "get";
      action = [&, id, ns] {
        serve_read(request, writer, [this, id, ns] {
          ReadResult result;
          const Job* job = find_job(ns, id);
          result.index = job ? std::max(job->summary_index, job->create_index) : table_index_["job_summary"];
          if (!job) {
            result.code = 404;
            result.error = "job not found";
          } else {
            result.body = job_summary(*job);
          }
          return result;
        });
      };
    } else if (sub == "scale") {
      if (get) {
        verb = "get";
        action = [&, id, ns] {
          serve_read(request, writer, [this, id, ns] {
            ReadResult result;
            const Job* job = find_job(ns, id);
            result.index = job ? job->modify_index : table_index_["jobs"];
            if (!job) {
              result.code = 404;
              result.error = "job not found";
              return result;
            }
            json::object groups;
            for (const auto& group : job->groups) {
              int placed = 0;
              int running = 0;
              for (const Alloc* alloc : allocs_of(*job)) {
                if (alloc->group != group.name || alloc->terminal()) continue;
                ++placed;
                if (alloc->client_status == "running") ++running;
              }
              groups[group.name] = json::object{{"Desired", group.count}, {"Placed", placed}, {"Running", running},
                                                {"Healthy", running}, {"Unhealthy", 0}, {"Events", nullptr}};
            }
            result.body = json::object{{"JobID", job->id}, {"Namespace", job->namespace_name},
                                       {"JobModifyIndex", job->job_modify_index}, {"JobStopped", job->stop},
                                       {"TaskGroups", std::move(groups)}};
            return result;
          });
        };
      } else if (write) {
        verb = "register";
        action = [&, id, ns] {
          ReadResult out;
          scale_job(ns, id, request.body, out);
          writer->respond(read_response(out, true));
        };
      } else {
        return reply(405, "Invalid method");
      }
    } else {  // evaluate
      if (!write) return reply(405, "Invalid method");
      verb = "register";
      action = [&, id, ns] {
        Job* job = find_job(ns, id);
        if (!job) return reply(404, "job not found");
        const std::uint64_t index = begin_write();
        Changes changes;
        const std::string eval_id = create_eval(*job, "job-register", changes).id;
        end_write("EvaluationUpdated", std::move(changes));
        schedule_eval(eval_id);
        ReadResult out;
        out.index = index;
        out.body = json::object{{"EvalID", eval_id}, {"EvalCreateIndex", index},
                                {"JobModifyIndex", job->job_modify_index}, {"Index", index}};
        writer->respond(read_response(out, true));
      };
    }
  } else if (path == "/v1/allocations") {
    if (!get) return reply(405, "Invalid method");
    verb = "list";
    ++list_requests_["Allocations"];
    if (!parse_list()) return;
    const bool task_states = request.param("task_states").value_or("true") != "false";
    const bool resources = flag(request, "resources");
    action = [&, list, prefix, ns, all_namespaces, task_states, resources] {
      serve_read(request, writer, [this, list, prefix, ns, all_namespaces, task_states, resources] {
        std::vector<ListItem> items;
        for (const auto& [id, alloc] : allocs_) {
          if (!all_namespaces && alloc.namespace_name != ns) continue;
          if (!starts_with(id, prefix)) continue;
          json::object stub = alloc_document(alloc, false);
          if (!task_states) stub["TaskStates"] = nullptr;
          if (resources) stub["AllocatedResources"] = alloc.allocated_resources;
          items.push_back(ListItem{padded(alloc.create_index) + "." + id, std::move(stub)});
        }
        return paginate(std::move(items), list, table_index_["allocs"]);
      });
    };
  } else if (starts_with(path, "/v1/allocation/") && path.size() > 15) {
    std::string id = path.substr(15);
    if (ends_with(id, "/stop")) {
      if (!write) return reply(405, "Invalid method");
      id.resize(id.size() - 5);
      verb = "stop";
      const bool reschedule = request.param("reschedule").value_or("true") != "false";
      action = [&, id, reschedule] {
        ReadResult out;
        stop_alloc(id, reschedule, out);
        writer->respond(read_response(out, true));
      };
    } else {
      if (!get) return reply(405, "Invalid method");
      verb = "get";
      action = [&, id] {
        serve_read(request, writer, [this, id] {
          ReadResult result;
          const Alloc* alloc = find_alloc(id);
          result.index = alloc ? alloc->modify_index : table_index_["allocs"];
          if (!alloc) {
            result.code = 404;
            result.error = "alloc not found";
          } else {
            result.body = alloc_document(*alloc, true);
          }
          return result;
        });
      };
    }
  } else if (path == "/v1/evaluations") {
    if (!get) return reply(405, "Invalid method");
    verb = "list";
    if (!parse_list()) return;
    const std::string status = request.param("status").value_or("");
    const std::string job_filter = request.param("job").value_or("");
    action = [&, list, prefix, ns, all_namespaces, status, job_filter] {
      serve_read(request, writer, [this, list, prefix, ns, all_namespaces, status, job_filter] {
        std::vector<ListItem> items;
        for (const auto& [id, eval] : evals_) {
          if (!all_namespaces && eval.namespace_name != ns) continue;
          if (!starts_with(id, prefix)) continue;
          if (!status.empty() && eval.status != status) continue;
          if (!job_filter.empty() && eval.job_id != job_filter) continue;
          items.push_back(ListItem{padded(eval.create_index) + "." + id, eval_document(eval)});
        }
        return paginate(std::move(items), list, table_index_["evals"]);
      });
    };
  } else if (starts_with(path, "/v1/evaluation/") && path.size() > 15) {
    if (!get) return reply(405, "Invalid method");
    verb = "get";
    const std::string id = path.substr(15);
    action = [&, id] {
      serve_read(request, writer, [this, id] {
        ReadResult result;
        const Eval* eval = find_eval(id);
        result.index = eval ? eval->modify_index : table_index_["evals"];
        if (!eval) {
          result.code = 404;
          result.error = "eval not found";
        } else {
          result.body = eval_document(*eval);
        }
        return result;
      });
    };
  } else if (path == "/v1/nodes") {
    if (!get) return reply(405, "Invalid method");
    verb = "list";
    if (!parse_list()) return;
    action = [&, list, prefix] {
      serve_read(request, writer, [this, list, prefix] {
        std::vector<ListItem> items;
        for (const auto& [id, node] : nodes_) {
          if (!starts_with(id, prefix)) continue;
          json::object stub = node_document(node);
          stub.erase("NodeResources");
          stub.erase("Meta");
          items.push_back(ListItem{id, std::move(stub)});
        }
        return paginate(std::move(items), list, table_index_["nodes"]);
      });
    };
  } else if (starts_with(path, "/v1/node/") && path.size() > 9) {
    if (!get) return reply(405, "Invalid method");
    verb = "get";
    const std::string id = path.substr(9);
    action = [&, id] {
      serve_read(request, writer, [this, id] {
        ReadResult result;
        const Node* node = find_node(id);
        result.index = node ? node->modify_index : table_index_["nodes"];
        if (!node) {
          result.code = 404;
          result.error = "node not found";
        } else {
          result.body = node_document(*node);
        }
        return result;
      });
    };
  } else if (path == "/v1/namespaces") {
    if (!get) return reply(405, "Invalid method");
    verb = "list";
    action = [&] {
      json::array out;
      for (const auto& name : namespaces_) {
        out.push_back(json::object{{"Name", name}, {"Description", name == "default" ? "Default shared namespace" : ""},
                                   {"Quota", ""}, {"Meta", nullptr}, {"CreateIndex", 1}, {"ModifyIndex", 1}});
      }
      ReadResult result;
      result.index = 1;
      result.body = std::move(out);
      writer->respond(read_response(result, known_leader));
    };
  } else if (path == "/v1/event/stream") {
    if (!get) return reply(405, "Invalid method");
    verb = "stream";
    action = [&] { serve_stream(request, writer); };
  } else if (path == "/v1/system/gc") {
    if (method != "PUT") return reply(405, "Invalid method");
    verb = "gc";
    action = [&] {
      collect_garbage(true);
      writer->respond(text_response(200, ""));
    };
  } else if (path == "/v1/status/leader") {
    if (!get) return reply(405, "Invalid method");
    verb = "get";
    needs_acl = false;
    needs_leader = false;
    action = [&] {
      const auto colon = address_.rfind(':');
      const std::string host = colon == std::string::npos ? address_ : address_.substr(0, colon);
      writer->respond(json_response(200, json::value(leader_lost() ? std::string() : host + ":4647")));
    };
  } else if (path == "/v1/agent/self") {
    if (!get) return reply(405, "Invalid method");
    verb = "get";
    needs_leader = false;
    action = [&] {
      const auto colon = address_.rfind(':');
      const std::string host = colon == std::string::npos ? address_ : address_.substr(0, colon);
      writer->respond(json_response(
          200, json::object{{"config", json::object{{"Region", options_.region},
                                                    {"Datacenter", "dc1"},
                                                    {"NodeName", "berth-sim"},
                                                    {"Version", json::object{{"Version", "1.10.0"}}},
                                                    {"ACL", json::object{{"Enabled", !options_.acl_token.empty()}}}}},
                            {"member", json::object{{"Name", "berth-sim." + options_.region},
                                                    {"Addr", host},
                                                    {"Port", 4648},
                                                    {"Status", "alive"},
                                                    {"Tags", json::object{{"region", options_.region},
                                                                          {"dc", "dc1"},
                                                                          {"role", "nomad"},
                                                                          {"build", "1.10.0"}}}}},
                            {"stats", json::object{}}}));
    };
  } else {
    return reply(404, "404 page not found\n");
  }

  if (needs_acl && !authorized()) return;
  if (needs_leader && leader_lost() && !(get && flag(request, "stale"))) return reply(500, kNoLeader);
  if (auto code = faults_.draw(verb, rng_)) {
    if (*code == 500) return reply(500, kNoLeader);
    if (*code == 429) return reply(429, kTooManyConnections);
    if (*code == 502) return reply(502, "Bad Gateway");
    if (*code == 503) return reply(503, "Service Unavailable");
    if (*code == 504) return reply(504, "Gateway Timeout");
    return reply(*code, "injected fault (berth-sim)");
  }
  action();
}

// ---- blocking reads ------------------------------------------------------------------------

void SimulatorImpl::serve_read(const net::HttpRequest& request, std::shared_ptr<net::ResponseWriter>& writer,
                               Query query) {
  // Nomad parses wait before index.
  std::chrono::nanoseconds wait = kDefaultWait;
  if (auto text = request.param("wait")) {
    auto ns = parse_go_duration(*text);
    if (!ns || *ns < 0) return writer->respond(text_response(400, "Invalid wait time"));
    wait = std::min<std::chrono::nanoseconds>(std::chrono::nanoseconds(*ns), kMaxWait);
  }
  std::uint64_t min_index = 0;
  if (auto text = request.param("index")) {
    auto index = parse_index(*text);
    if (!index) return writer->respond(text_response(400, "Invalid index"));
    min_index = *index;
  }
  ReadResult result = query();
  if (min_index == 0 || result.index > min_index) return writer->respond(read_response(result, !leader_lost()));
  // As Nomad does, up to wait/16 of jitter is added.
  const auto jitter_range = static_cast<std::uint64_t>(wait.count() / 16);
  if (jitter_range > 0) wait += std::chrono::nanoseconds(rng_() % jitter_range);
  Waiter waiter;
  waiter.id = next_waiter_++;
  waiter.min_index = min_index;
  waiter.query = std::move(query);
  waiter.writer = writer;
  waiter.timeout = std::make_unique<asio::steady_timer>(strand_);
  waiter.timeout->expires_after(wait);
  const std::uint64_t id = waiter.id;
  waiter.timeout->async_wait([self = shared_from_this(), id](boost::system::error_code ec) {
    if (ec) return;
    auto it = self->waiters_.find(id);
    if (it == self->waiters_.end()) return;
    it->second.writer->respond(read_response(it->second.query(), !self->leader_lost()));
    self->waiters_.erase(it);
  });
  writer->on_close([self = shared_from_this(), id] {
    asio::post(self->strand_, [self, id] {
      auto it = self->waiters_.find(id);
      if (it == self->waiters_.end()) return;
      it->second.timeout->cancel();
      self->waiters_.erase(it);
    });
  });
  waiters_.emplace(id, std::move(waiter));
}

void SimulatorImpl::wake_waiters() {
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    ReadResult result = it->second.query();
    if (result.index > it->second.min_index) {
      it->second.timeout->cancel();
      it->second.writer->respond(read_response(result, !leader_lost()));
      it = waiters_.erase(it);
    } else {
      ++it;
    }
  }
}

// ---- administration -----------------------------------------------------------------------

json::object SimulatorImpl::state_document() const {
  std::map<std::string, int> job_counts;
  for (const auto& [key, job] : jobs_) ++job_counts[job.status];
  std::map<std::string, int> alloc_counts;
  for (const auto& [id, alloc] : allocs_) ++alloc_counts[alloc.client_status];
  std::map<std::string, int> eval_counts;
  for (const auto& [id, eval] : evals_) ++eval_counts[eval.status];
  auto object_of = [](const std::map<std::string, int>& counts) {
    json::object out;
    for (const auto& [k, v] : counts) out[k] = v;
    return out;
  };
  json::array nodes;
  for (const auto& [id, node] : nodes_) {
    std::int64_t cpu = 0;
    std::int64_t memory = 0;
    int cores = 0;
    int allocs = 0;
    std::map<std::string, int> devices;
    for (const auto& [alloc_id, alloc] : allocs_) {
      if (alloc.node_id != id || alloc.terminal()) continue;
      ++allocs;
      cpu += alloc.cpu;
      memory += alloc.memory_mb;
      cores += alloc.cores;
      for (const auto& [key, count] : alloc.devices) devices[key] += count;
    }
    json::object device_capacity;
    for (const auto& device : node.spec.devices) {
      device_capacity[device.vendor + "/" + device.type + "/" + device.model] = device.count;
    }
    nodes.push_back(json::object{
        {"Name", node.spec.name}, {"ID", id}, {"Status", node.status}, {"Datacenter", node.spec.datacenter},
        {"NodePool", node.spec.node_pool},
        {"Capacity", json::object{{"CPU", node.spec.cpu_mhz}, {"MemoryMB", node.spec.memory_mb},
                                  {"Cores", node.spec.cores}, {"Devices", std::move(device_capacity)}}},
        {"Used", json::object{{"CPU", cpu}, {"MemoryMB", memory}, {"Cores", cores}, {"Devices", object_of(devices)}}},
        {"Allocations", allocs}});
  }
  return json::object{{"Index", index_},
                      {"SimTime", now()},
                      {"Jobs", object_of(job_counts)},
                      {"JobCount", jobs_.size()},
                      {"Allocations", object_of(alloc_counts)},
                      {"Evaluations", object_of(eval_counts)},
                      {"Nodes", std::move(nodes)},
                      {"StreamSubscribers", subscribers_.size()},
                      {"BlockingQueries", waiters_.size()},
                      {"ListRequests", object_of(list_requests_)},
                      {"EventBuffer", json::object{{"Entries", buffer_.size()},
                                                   {"OldestIndex", buffer_.empty() ? 0 : buffer_.front().index},
                                                   {"NewestIndex", buffer_.empty() ? 0 : buffer_.back().index}}},
                      {"LeaderLost", leader_lost()}};
}

void SimulatorImpl::serve_admin(net::HttpRequest& request, std::shared_ptr<net::ResponseWriter>& writer) {
  const sim_common::AdminRequest admin(request);
  const sim_common::SharedAdmin shared{
      requests_, agenda_, faults_, "SimTime",
      [this](const sim_common::AdminRequest& faults_request, const sim_common::FaultUpdate& update) {
        if (update.reset) leader_back_at_ = {};
        if (faults_request.flag("drop_streams")) drop_streams();
        if (faults_request.flag("compact_events")) buffer_.clear();
        if (auto v = faults_request.number("leader_loss_for_ms")) {
          leader_back_at_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<std::int64_t>(*v));
          end_waiters_without_leader();
        }
        if (update.down_for) go_down(*update.down_for);
      },
      [this](json::object& described) {
        described["leader_lost"] = leader_lost();
        described["event_buffer_entries"] = buffer_.size();
      }};
  if (auto response = sim_common::serve_shared_admin(admin, shared)) return writer->respond(std::move(*response));
  const auto& parts = admin.parts();  // "sim", ...
  const json::object& body = admin.body();
  auto reply = [&](const Status& status, json::object extra = {}) {
    writer->respond(sim_common::admin_reply(status, std::move(extra)));
  };
  auto number = [&](const char* key) { return admin.number(key); };
  auto string_map = [](const json::object& object, const char* key) {
    std::map<std::string, std::string> out;
    auto it = object.find(key);
    if (it == object.end() || !it->value().is_object()) return out;
    for (const auto& [k, v] : it->value().as_object()) {
      out[std::string(k)] = v.is_string() ? std::string(v.as_string()) : json::serialize(v);
    }
    return out;
  };
  const std::string& method = request.method;
  if (parts.size() == 2 && parts[1] == "state" && method == "GET") {
    return writer->respond(sim_common::admin_json(200, state_document()));
  }
  if (parts.size() == 2 && parts[1] == "nodes" && method == "POST") {
    NodeSpec spec;
    auto text = [&](const char* key, const std::string& fallback) {
      auto it = body.find(key);
      return it != body.end() && it->value().is_string() ? std::string(it->value().as_string()) : fallback;
    };
    spec.name = text("name", "");
    spec.datacenter = text("datacenter", spec.datacenter);
    spec.node_pool = text("node_pool", spec.node_pool);
    spec.node_class = text("node_class", spec.node_class);
    spec.cpu_mhz = static_cast<std::int64_t>(number("cpu_mhz").value_or(static_cast<double>(spec.cpu_mhz)));
    spec.memory_mb = static_cast<std::int64_t>(number("memory_mb").value_or(static_cast<double>(spec.memory_mb)));
    spec.cores = static_cast<int>(number("cores").value_or(spec.cores));
    spec.attributes = string_map(body, "attributes");
    spec.meta = string_map(body, "meta");
    if (auto it = body.find("devices"); it != body.end() && it->value().is_array()) {
      for (const auto& d : it->value().as_array()) {
        if (!d.is_object()) continue;
        const auto& o = d.as_object();
        DeviceSpec device;
        if (auto v = o.find("vendor"); v != o.end() && v->value().is_string()) device.vendor = std::string(v->value().as_string());
        if (auto v = o.find("type"); v != o.end() && v->value().is_string()) device.type = std::string(v->value().as_string());
        if (auto v = o.find("model"); v != o.end() && v->value().is_string()) device.model = std::string(v->value().as_string());
        if (auto v = o.find("count"); v != o.end() && v->value().is_number()) device.count = v->value().to_number<int>();
        spec.devices.push_back(std::move(device));
      }
    }
    Status status = add_node(spec);
    Node* node = status.ok() ? find_node_by_name(spec.name) : nullptr;
    return reply(status, node ? json::object{{"ID", node->id}} : json::object{});
  }
  if (parts.size() == 4 && parts[1] == "nodes" && method == "POST" && (parts[3] == "down" || parts[3] == "up")) {
    return reply(set_node_status(parts[2], parts[3] == "up"));
  }
  if (parts.size() == 4 && parts[1] == "allocations" && method == "POST" && parts[3] == "exit") {
    return reply(client_exit(parts[2], static_cast<int>(number("code").value_or(0)), admin.flag("oom")));
  }
  writer->respond(sim_common::unknown_admin_endpoint(request));
}

// ---- Simulator --------------------------------------------------------------------------

Simulator::Simulator(asio::any_io_executor executor, SimulatorOptions options)
    : impl_(std::make_shared<SimulatorImpl>(std::move(executor), std::move(options))) {}

Simulator::~Simulator() { impl_->stop(); }

Status Simulator::start() { return impl_->start(); }
void Simulator::stop() { impl_->stop(); }
std::string Simulator::address() const {
  std::lock_guard lock(impl_->server_mutex_);
  return impl_->address_;
}
std::uint16_t Simulator::port() const {
  std::lock_guard lock(impl_->server_mutex_);
  return impl_->port_;
}

}  // namespace berth::sim::nomad
