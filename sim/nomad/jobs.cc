// Job specs and the job endpoints' writes: decoding and canonicalising the submitted JSON (the
// defaults Nomad's API fills in), validation with go-multierror bodies, register / update with
// EnforceIndex and the no-op re-register, deregister with and without purge, alloc stop, scale.

#include <algorithm>

#include "sim/nomad/internal.h"

namespace berth::sim::nomad {
namespace {

const char* kind_of(const json::value& value) {
  switch (value.kind()) {
    case json::kind::string: return "string";
    case json::kind::bool_: return "bool";
    case json::kind::array: return "array";
    case json::kind::object: return "object";
    case json::kind::null: return "null";
    default: return "number";
  }
}

// Reads typed fields the way encoding/json would, reporting the first mismatch as Go does.
class Decoder {
 public:
  std::optional<ApiError> error;

  std::int64_t integer(json::object& object, const char* key, std::int64_t fallback, const std::string& where) {
    auto it = object.find(key);
    if (it == object.end() || it->value().is_null()) {
      object[key] = fallback;
      return fallback;
    }
    const json::value& value = it->value();
    if (value.is_int64()) return value.as_int64();
    if (value.is_uint64()) return static_cast<std::int64_t>(value.as_uint64());
    if (value.is_double() && value.as_double() == static_cast<double>(static_cast<std::int64_t>(value.as_double()))) {
      const auto n = static_cast<std::int64_t>(value.as_double());
      object[key] = n;
      return n;
    }
    mismatch(value, where + "." + key, value.is_double() ? "int" : "int");
    return fallback;
  }
  std::string string(json::object& object, const char* key, const std::string& fallback, const std::string& where) {
    auto it = object.find(key);
    if (it == object.end() || it->value().is_null()) {
      object[key] = fallback;
      return fallback;
    }
    if (!it->value().is_string()) {
      mismatch(it->value(), where + "." + key, "string");
      return fallback;
    }
    return std::string(it->value().as_string());
  }
  bool boolean(json::object& object, const char* key, bool fallback, const std::string& where) {
    auto it = object.find(key);
    if (it == object.end() || it->value().is_null()) {
      object[key] = fallback;
      return fallback;
    }
    if (!it->value().is_bool()) {
      mismatch(it->value(), where + "." + key, "bool");
      return fallback;
    }
    return it->value().as_bool();
  }
  // An object field (created empty when `create`), or nullptr.
  json::object* object(json::object& parent, const char* key, const std::string& where, bool create) {
    auto it = parent.find(key);
    if (it == parent.end() || it->value().is_null()) {
      if (!create) return nullptr;
      parent[key] = json::object{};
      return &parent[key].as_object();
    }
    if (!it->value().is_object()) {
      mismatch(it->value(), where + "." + key, "struct");
      return nullptr;
    }
    return &it->value().as_object();
  }
  json::array* array(json::object& parent, const char* key, const std::string& where) {
    auto it = parent.find(key);
    if (it == parent.end() || it->value().is_null()) return nullptr;
    if (!it->value().is_array()) {
      mismatch(it->value(), where + "." + key, "slice");
      return nullptr;
    }
    return &it->value().as_array();
  }
  std::map<std::string, std::string> string_map(json::object& parent, const char* key, const std::string& where) {
    std::map<std::string, std::string> out;
    json::object* map = object(parent, key, where, false);
    if (!map) return out;
    for (const auto& [k, v] : *map) {
      if (!v.is_string()) {
        mismatch(v, where + "." + key, "string");
        continue;
      }
      out[std::string(k)] = std::string(v.as_string());
    }
    return out;
  }
  std::vector<Constraint> constraints(json::object& parent, const std::string& where) {
    std::vector<Constraint> out;
    json::array* list = array(parent, "Constraints", where);
    if (!list) return out;
    for (auto& item : *list) {
      if (!item.is_object()) {
        mismatch(item, where + ".Constraints", "struct");
        continue;
      }
      Constraint constraint;
      constraint.ltarget = string(item.as_object(), "LTarget", "", where + ".Constraints");
      constraint.rtarget = string(item.as_object(), "RTarget", "", where + ".Constraints");
      constraint.operand = string(item.as_object(), "Operand", "=", where + ".Constraints");
      out.push_back(std::move(constraint));
    }
    return out;
  }

 private:
  void mismatch(const json::value& value, const std::string& field, const char* type) {
    if (error) return;
    error = ApiError{400, std::string("json: cannot unmarshal ") + kind_of(value) + " into Go struct field " + field +
                              " of type " + type};
  }
};

void merge_defaults(json::object& target, const json::object& defaults) {
  for (const auto& [key, value] : defaults) {
    auto it = target.find(key);
    if (it == target.end() || it->value().is_null()) target[key] = value;
  }
}

json::object restart_defaults(const std::string& type) {
  if (type == "batch" || type == "sysbatch") {
    return {{"Attempts", 3}, {"Interval", 24 * 3600 * kSecond}, {"Delay", 15 * kSecond}, {"Mode", "fail"},
            {"RenderTemplates", false}};
  }
  return {{"Attempts", 2}, {"Interval", 30 * 60 * kSecond}, {"Delay", 15 * kSecond}, {"Mode", "fail"},
          {"RenderTemplates", false}};
}

json::object reschedule_defaults(const std::string& type) {
  if (type == "batch") {
    return {{"Attempts", 1}, {"Interval", 24 * 3600 * kSecond}, {"Delay", 5 * kSecond},
            {"DelayFunction", "constant"}, {"MaxDelay", 0}, {"Unlimited", false}};
  }
  return {{"Attempts", 0}, {"Interval", 0}, {"Delay", 30 * kSecond}, {"DelayFunction", "exponential"},
          {"MaxDelay", 3600 * kSecond}, {"Unlimited", true}};
}

// The group's JSON without its Count: a change of anything else replaces its allocations.
std::string group_fingerprint(json::object group) {
  group.erase("Count");
  return json::serialize(group);
}

bool truthy(const std::string& text) { return text == "true" || text == "True" || text == "1" || text == "yes"; }

std::map<std::string, std::string> merged(std::map<std::string, std::string> base,
                                          const std::map<std::string, std::string>& over) {
  for (const auto& [k, v] : over) base[k] = v;
  return base;
}

}  // namespace

Behaviour SimulatorImpl::behaviour_for(const std::string& job_id, const std::map<std::string, std::string>& meta) const {
  std::map<std::string, std::string> values;
  for (const auto& rule : options_.behaviours) {
    if (job_id.rfind(rule.job_prefix, 0) == 0) values = merged(values, rule.meta);
  }
  values = merged(values, meta);
  auto get = [&](const char* name) -> std::optional<std::string> {
    auto it = values.find(std::string(kMetaPrefix) + name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
  Behaviour behaviour;
  if (auto v = get("start-delay")) behaviour.start_delay = parse_seconds(*v).value_or(behaviour.start_delay);
  if (auto v = get("run-for")) behaviour.run_for = parse_seconds(*v);
  if (auto v = get("exit-code")) {
    try {
      behaviour.exit_code = std::stoi(*v);
    } catch (const std::exception&) {
    }
  }
  if (auto v = get("oom")) behaviour.oom = truthy(*v);
  if (auto v = get("driver-failure")) behaviour.driver_failure = truthy(*v);
  if (auto v = get("shutdown-delay")) behaviour.shutdown_delay = parse_seconds(*v).value_or(behaviour.shutdown_delay);
  if (behaviour.oom && !behaviour.run_for) behaviour.run_for = 1.0;
  return behaviour;
}

std::optional<ApiError> SimulatorImpl::parse_job(const json::object& object, Job& job,
                                                 std::vector<std::string>& errors) const {
  Decoder decode;
  json::object spec = object;
  for (const char* server_field : {"Status", "StatusDescription", "Stable", "Version", "SubmitTime", "CreateIndex",
                                   "ModifyIndex", "JobModifyIndex"}) {
    spec.erase(server_field);
  }
  job.stop = decode.boolean(spec, "Stop", false, "Job");
  spec.erase("Stop");
  job.id = decode.string(spec, "ID", "", "Job");
  const std::string name = decode.string(spec, "Name", job.id, "Job");
  spec["Namespace"] = job.namespace_name;
  decode.string(spec, "Region", options_.region, "Job");
  job.type = decode.string(spec, "Type", "service", "Job");
  job.priority = static_cast<int>(decode.integer(spec, "Priority", 50, "Job"));
  job.node_pool = decode.string(spec, "NodePool", "default", "Job");
  decode.string(spec, "ParentID", "", "Job");
  if (!decode.array(spec, "Datacenters", "Job")) spec["Datacenters"] = json::array{"*"};
  job.datacenters.clear();
  for (const auto& dc : spec["Datacenters"].as_array()) {
    if (dc.is_string()) job.datacenters.emplace_back(dc.as_string());
  }
  const auto job_meta = decode.string_map(spec, "Meta", "Job");
  if (!spec.contains("Meta")) spec["Meta"] = nullptr;
  job.constraints = decode.constraints(spec, "Job");
  if (decode.error) return decode.error;

  if (job.id.empty()) errors.push_back("Missing job ID");
  if (job.id.find(' ') != std::string::npos) errors.push_back("Job ID contains a space");
  if (name.empty()) errors.push_back("Missing job name");
  if (job.type != "service" && job.type != "batch" && job.type != "system" && job.type != "sysbatch") {
    errors.push_back("Invalid job type: \"" + job.type + "\"");
  }
  if (job.priority < 1 || job.priority > 100) errors.push_back("Job priority must be between [1, 100]");
  for (const auto& dc : job.datacenters) {
    if (dc.empty()) errors.push_back("datacenter must be non-empty string");
  }

  job.groups.clear();
  json::array* groups = decode.array(spec, "TaskGroups", "Job");
  if (!groups || groups->empty()) errors.push_back("Missing job task groups");
  std::map<std::string, std::size_t> group_names;
  for (std::size_t gi = 0; groups && gi < groups->size(); ++gi) {
    if (!(*groups)[gi].is_object()) return ApiError{400, "json: cannot unmarshal " + std::string(kind_of((*groups)[gi])) +
                                                             " into Go struct field Job.TaskGroups of type api.TaskGroup"};
    json::object& g = (*groups)[gi].as_object();
    const std::string where = "TaskGroup";
    GroupSpec group;
    group.name = decode.string(g, "Name", "", where);
    group.count = static_cast<int>(decode.integer(g, "Count", 1, where));
    // Each policy is read before the next is added to the group: adding may move its members.
    if (json::object* restart = decode.object(g, "RestartPolicy", where, true)) {
      merge_defaults(*restart, restart_defaults(job.type));
      group.restart_attempts = static_cast<int>(decode.integer(*restart, "Attempts", 0, "RestartPolicy"));
      group.restart_delay_ns = decode.integer(*restart, "Delay", 15 * kSecond, "RestartPolicy");
      group.restart_interval_ns = decode.integer(*restart, "Interval", 0, "RestartPolicy");
      group.restart_mode = decode.string(*restart, "Mode", "fail", "RestartPolicy");
    }
    if (job.type == "service" || job.type == "batch") {
      if (json::object* reschedule = decode.object(g, "ReschedulePolicy", where, true)) {
        merge_defaults(*reschedule, reschedule_defaults(job.type));
        group.reschedule_attempts = static_cast<int>(decode.integer(*reschedule, "Attempts", 0, "ReschedulePolicy"));
        group.reschedule_unlimited = decode.boolean(*reschedule, "Unlimited", false, "ReschedulePolicy");
        group.reschedule_delay_ns = decode.integer(*reschedule, "Delay", 5 * kSecond, "ReschedulePolicy");
      }
    }
    if (json::object* disk = decode.object(g, "EphemeralDisk", where, true)) {
      merge_defaults(*disk, {{"SizeMB", 300}, {"Migrate", false}, {"Sticky", false}});
    }
    const auto group_meta = decode.string_map(g, "Meta", where);
    group.constraints = decode.constraints(g, where);

    std::vector<std::string> group_errors;
    if (group.name.empty()) group_errors.push_back("Missing task group name");
    if (group.count < 0) group_errors.push_back("Task group count can't be negative");
    if (group.restart_mode != "fail" && group.restart_mode != "delay") {
      group_errors.push_back("Unsupported restart mode: \"" + group.restart_mode + "\"");
    }
    json::array* tasks = decode.array(g, "Tasks", where);
    if (!tasks || tasks->empty()) group_errors.push_back("Missing tasks for task group");
    std::map<std::string, std::size_t> task_names;
    for (std::size_t ti = 0; tasks && ti < tasks->size(); ++ti) {
      if (!(*tasks)[ti].is_object()) {
        return ApiError{400, "json: cannot unmarshal " + std::string(kind_of((*tasks)[ti])) +
                                 " into Go struct field TaskGroup.Tasks of type api.Task"};
      }
      json::object& t = (*tasks)[ti].as_object();
      TaskSpec task;
      task.name = decode.string(t, "Name", "", "Task");
      task.driver = decode.string(t, "Driver", "", "Task");
      task.kill_timeout_ns = decode.integer(t, "KillTimeout", 5 * kSecond, "Task");
      if (json::object* config = decode.object(t, "Config", "Task", false)) {
        auto image = config->find("image");
        if (image != config->end() && image->value().is_string()) task.image = std::string(image->value().as_string());
      }
      json::object* resources = decode.object(t, "Resources", "Task", true);
      if (resources) {
        const bool has_cores = resources->contains("Cores") && !resources->at("Cores").is_null();
        task.cores = static_cast<int>(decode.integer(*resources, "Cores", 0, "Resources"));
        task.cpu = decode.integer(*resources, "CPU", has_cores ? 0 : 100, "Resources");
        task.memory_mb = decode.integer(*resources, "MemoryMB", 300, "Resources");
        const std::int64_t memory_max = decode.integer(*resources, "MemoryMaxMB", 0, "Resources");
        if (json::array* devices = decode.array(*resources, "Devices", "Resources")) {
          for (auto& d : *devices) {
            if (!d.is_object()) continue;
            DeviceRequest request;
            request.name = decode.string(d.as_object(), "Name", "", "RequestedDevice");
            request.count = static_cast<int>(decode.integer(d.as_object(), "Count", 1, "RequestedDevice"));
            task.devices.push_back(std::move(request));
          }
        }
        std::vector<std::string> task_errors;
        if (task.name.empty()) task_errors.push_back("Missing task name");
        if (task.driver.empty()) task_errors.push_back("Missing task driver");
        if (task.kill_timeout_ns < 0) task_errors.push_back("KillTimeout must be a positive value");
        if (task.cores > 0 && task.cpu > 0 && has_cores && resources->contains("CPU")) {
          task_errors.push_back("Task can only ask for 'cpu' or 'cores' resource, not both.");
        } else if (task.cores == 0 && task.cpu < 1) {
          task_errors.push_back("minimum CPU value is 1; got " + std::to_string(task.cpu));
        }
        if (task.memory_mb < 10) task_errors.push_back("minimum MemoryMB value is 10; got " + std::to_string(task.memory_mb));
        if (memory_max != 0 && memory_max < task.memory_mb) {
          task_errors.push_back("MemoryMaxMB value (" + std::to_string(memory_max) +
                                ") should be larger than MemoryMB value (" + std::to_string(task.memory_mb) + ")");
        }
        for (const auto& device : task.devices) {
          if (device.name.empty()) task_errors.push_back("device name must be given as one of the following: type, vendor/type, or vendor/type/name");
          if (device.count < 0) task_errors.push_back("device count can't be negative");
        }
        if (!task_errors.empty()) {
          group_errors.push_back("Task " + (task.name.empty() ? std::to_string(ti + 1) : task.name) +
                                 " validation failed: " + multierror(task_errors));
        }
      }
      const auto task_meta = decode.string_map(t, "Meta", "Task");
      task.constraints = decode.constraints(t, "Task");
      task.behaviour = behaviour_for(job.id, merged(merged(job_meta, group_meta), task_meta));
      if (!task.name.empty()) {
        auto [it, inserted] = task_names.emplace(task.name, ti);
        if (!inserted) {
          group_errors.push_back("Task " + std::to_string(ti + 1) + " redefines '" + task.name + "' from task " +
                                 std::to_string(it->second + 1));
        }
      }
      group.tasks.push_back(std::move(task));
    }
    if (decode.error) return decode.error;
    if (!group.name.empty()) {
      auto [it, inserted] = group_names.emplace(group.name, gi);
      if (!inserted) {
        errors.push_back("Job task group " + std::to_string(gi + 1) + " redefines '" + group.name + "' from group " +
                         std::to_string(it->second + 1));
      }
    }
    if (!group_errors.empty()) {
      errors.push_back("Task group " + (group.name.empty() ? std::to_string(gi + 1) : group.name) +
                       " validation failed: " + multierror(group_errors));
    }
    group.fingerprint = group_fingerprint(g);
    job.groups.push_back(std::move(group));
  }
  if (decode.error) return decode.error;
  job.spec = std::move(spec);
  return std::nullopt;
}

// ---- register ---------------------------------------------------------------------------

void SimulatorImpl::register_job(const std::string& url_id, const std::string& query_namespace,
                                 const std::string& body, ReadResult& out) {
  auto fail = [&](int code, std::string message) {
    out.code = code;
    out.error = std::move(message);
  };
  if (body.empty()) return fail(400, "Request body is empty");
  boost::system::error_code ec;
  json::value parsed = json::parse(body, ec);
  if (ec) return fail(400, "Failed to decode request: " + ec.message());
  if (!parsed.is_object()) return fail(400, "json: cannot unmarshal " + std::string(kind_of(parsed)) +
                                                " into Go value of type api.JobRegisterRequest");
  json::object& request = parsed.as_object();
  auto job_it = request.find("Job");
  if (job_it == request.end() || job_it->value().is_null()) return fail(400, "Job must be specified");
  if (!job_it->value().is_object()) {
    return fail(400, "json: cannot unmarshal " + std::string(kind_of(job_it->value())) +
                         " into Go struct field JobRegisterRequest.Job of type api.Job");
  }
  const json::object& submitted = job_it->value().as_object();
  auto id_it = submitted.find("ID");
  if (id_it == submitted.end() || id_it->value().is_null()) return fail(400, "Job ID hasn't been provided");
  if (!url_id.empty() && (!id_it->value().is_string() || id_it->value().as_string() != url_id)) {
    return fail(400, "Job ID does not match name");
  }

  // Namespace: ?namespace= > the request's Namespace > Job.Namespace > default.
  Job job;
  job.namespace_name = "default";
  if (auto ns = submitted.find("Namespace"); ns != submitted.end() && ns->value().is_string() &&
                                              !ns->value().as_string().empty()) {
    job.namespace_name = std::string(ns->value().as_string());
  }
  if (auto ns = request.find("Namespace"); ns != request.end() && ns->value().is_string() &&
                                            !ns->value().as_string().empty()) {
    job.namespace_name = std::string(ns->value().as_string());
  }
  if (!query_namespace.empty()) job.namespace_name = query_namespace;

  std::vector<std::string> errors;
  if (auto decode_error = parse_job(submitted, job, errors)) return fail(decode_error->code, decode_error->message);
  if (!errors.empty()) return fail(500, multierror(errors));
  if (!namespaces_.count(job.namespace_name)) {
    return fail(500, "job \"" + job.id + "\" is in nonexistent namespace \"" + job.namespace_name + "\"");
  }

  Job* existing = find_job(job.namespace_name, job.id);
  bool enforce = false;
  std::uint64_t enforce_index = 0;
  if (auto it = request.find("EnforceIndex"); it != request.end() && it->value().is_bool()) enforce = it->value().as_bool();
  if (auto it = request.find("JobModifyIndex"); it != request.end() && it->value().is_number()) {
    enforce_index = it->value().to_number<std::uint64_t>();
  }
  if (enforce) {
    const std::string prefix = "Enforcing job modify index " + std::to_string(enforce_index);
    if (enforce_index == 0 && existing) return fail(500, prefix + ": job already exists");
    if (enforce_index != 0 && !existing) return fail(500, prefix + ": job does not exist");
    if (enforce_index != 0 && existing->job_modify_index != enforce_index) {
      return fail(500, prefix + ": job exists with conflicting job modify index: " +
                           std::to_string(existing->job_modify_index));
    }
  }

  if (existing && existing->spec == job.spec && existing->stop == job.stop) {
    // Nothing changed: no new version, no evaluation.
    out.index = existing->job_modify_index;
    out.body = json::object{{"EvalID", ""}, {"EvalCreateIndex", 0}, {"JobModifyIndex", existing->job_modify_index},
                            {"Warnings", ""}, {"Index", existing->job_modify_index}, {"LastContact", 0},
                            {"KnownLeader", true}};
    return;
  }

  const std::uint64_t index = begin_write();
  const std::int64_t now_ns = unix_nanos(now());
  if (existing) {
    job.create_index = existing->create_index;
    job.version = existing->version + 1;
    job.generation = existing->generation;
    job.queued = existing->queued;
    job.status = existing->status;
    job.summary_index = existing->summary_index;
  } else {
    job.create_index = index;
    job.generation = ++generations_[job.key()];
  }
  job.modify_index = index;
  job.job_modify_index = index;
  job.submit_time = now_ns;
  const std::string key = job.key();
  jobs_[key] = std::move(job);
  Job& stored = jobs_[key];
  Changes changes;
  changes.jobs.push_back(key);
  Eval& eval = create_eval(stored, "job-register", changes);
  const std::string eval_id = eval.id;
  end_write("JobRegistered", std::move(changes));
  schedule_eval(eval_id);
  out.index = index;
  out.body = json::object{{"EvalID", eval_id}, {"EvalCreateIndex", index}, {"JobModifyIndex", index},
                          {"Warnings", ""}, {"Index", index}, {"LastContact", 0}, {"KnownLeader", true}};
}

// ---- deregister -------------------------------------------------------------------------

void SimulatorImpl::deregister_job(const std::string& namespace_name, const std::string& id, bool purge,
                                   ReadResult& out) {
  Job* job = find_job(namespace_name, id);
  if (!job) {
    out.index = index_;
    out.body = json::object{{"EvalID", ""}, {"EvalCreateIndex", 0}, {"JobModifyIndex", 0}, {"VolumeEvalID", ""},
                            {"VolumeEvalIndex", 0}, {"Index", index_}, {"LastContact", 0}, {"KnownLeader", true}};
    return;
  }
  const std::uint64_t index = begin_write();
  Changes changes;
  // Blocked evaluations of a stopped job will never place anything.
  for (auto& [eval_id, eval] : evals_) {
    if (eval.namespace_name == namespace_name && eval.job_id == id && eval.status == "blocked") {
      eval.status = "canceled";
      eval.status_description = "evaluation canceled since the job was deregistered";
      eval.modify_index = index;
      eval.modify_time = unix_nanos(now());
      changes.evals.push_back(eval_id);
    }
  }
  if (!job->stop) {
    job->stop = true;
    ++job->version;
  }
  job->modify_index = index;
  job->job_modify_index = index;
  job->queued.clear();
  Eval& eval = create_eval(*job, "job-deregister", changes);
  const std::string eval_id = eval.id;
  if (purge) {
    json::object last = job_document(*job);
    jobs_.erase(job->key());
    changes.removed_jobs.push_back(std::move(last));
  } else {
    changes.jobs.push_back(job->key());
  }
  end_write("JobDeregistered", std::move(changes));
  schedule_eval(eval_id);
  out.index = index;
  out.body = json::object{{"EvalID", eval_id}, {"EvalCreateIndex", index}, {"JobModifyIndex", index},
                          {"VolumeEvalID", ""}, {"VolumeEvalIndex", 0}, {"Index", index}, {"LastContact", 0},
                          {"KnownLeader", true}};
}

// ---- alloc stop -------------------------------------------------------------------------

void SimulatorImpl::stop_alloc(const std::string& id, bool reschedule, ReadResult& out) {
  Alloc* alloc = find_alloc(id);
  if (!alloc) {
    out.code = 404;
    out.error = "allocation not found";
    return;
  }
  const std::uint64_t index = begin_write();
  Changes changes;
  alloc->migrate = true;
  alloc->replace_when_stopped = reschedule;
  alloc->modify_index = index;
  alloc->modify_time = unix_nanos(now());
  changes.allocs.push_back(alloc->id);
  std::string eval_id;
  Job* job = find_job(alloc->namespace_name, alloc->job_id);
  if (job && job->generation == alloc->job_generation) {
    eval_id = create_eval(*job, "alloc-stop", changes).id;
  }
  end_write("AllocationUpdateDesiredStatus", std::move(changes));
  if (!eval_id.empty()) schedule_eval(eval_id);
  out.index = index;
  out.body = json::object{{"EvalID", eval_id}, {"Index", index}};
}

// ---- scale ------------------------------------------------------------------------------

void SimulatorImpl::scale_job(const std::string& namespace_name, const std::string& id, const std::string& body,
                              ReadResult& out) {
  auto fail = [&](int code, std::string message) {
    out.code = code;
    out.error = std::move(message);
  };
  Job* job = find_job(namespace_name, id);
  if (!job) return fail(404, "job not found");
  boost::system::error_code ec;
  json::value parsed = json::parse(body, ec);
  if (ec || !parsed.is_object()) return fail(400, "Failed to decode request: " + (ec ? ec.message() : "not an object"));
  const json::object& request = parsed.as_object();
  std::string group_name;
  if (auto target = request.find("Target"); target != request.end() && target->value().is_object()) {
    const auto& t = target->value().as_object();
    if (auto g = t.find("Group"); g != t.end() && g->value().is_string()) group_name = std::string(g->value().as_string());
    if (auto j = t.find("Job"); j != t.end() && j->value().is_string() && j->value().as_string() != id) {
      return fail(400, "job ID in payload did not match URL");
    }
  }
  if (group_name.empty()) return fail(400, "missing task group name for scaling action");
  std::optional<std::int64_t> count;
  if (auto c = request.find("Count"); c != request.end() && c->value().is_number()) {
    count = c->value().to_number<std::int64_t>();
  }
  json::array& groups = job->spec["TaskGroups"].as_array();
  json::object* group = nullptr;
  for (auto& g : groups) {
    if (g.as_object().at("Name").as_string() == group_name) group = &g.as_object();
  }
  if (!group) return fail(400, "task group \"" + group_name + "\" specified for scaling does not exist in job");
  if (!count) {
    out.index = job->job_modify_index;
    out.body = json::object{{"EvalID", ""}, {"EvalCreateIndex", 0}, {"JobModifyIndex", job->job_modify_index},
                            {"Warnings", ""}, {"Index", job->job_modify_index}};
    return;
  }
  if (*count < 0) return fail(400, "scaling action count can't be negative");
  (*group)["Count"] = *count;
  for (auto& g : job->groups) {
    if (g.name == group_name) {
      g.count = static_cast<int>(*count);
      g.fingerprint = group_fingerprint(*group);
    }
  }
  const std::uint64_t index = begin_write();
  ++job->version;
  job->modify_index = index;
  job->job_modify_index = index;
  Changes changes;
  changes.jobs.push_back(job->key());
  const std::string eval_id = create_eval(*job, "job-scaling", changes).id;
  end_write("JobRegistered", std::move(changes));
  schedule_eval(eval_id);
  out.index = index;
  out.body = json::object{{"EvalID", eval_id}, {"EvalCreateIndex", index}, {"JobModifyIndex", index},
                          {"Warnings", ""}, {"Index", index}, {"LastContact", 0}, {"KnownLeader", true}};
}

}  // namespace berth::sim::nomad
