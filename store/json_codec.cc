#include "store/json_codec.h"

#include <boost/json.hpp>
#include <charconv>
#include <limits>
#include <string_view>
#include <system_error>

namespace berth::store_internal {
namespace {

namespace json = boost::json;

json::array to_array(const std::vector<std::string>& strings) {
  json::array out;
  out.reserve(strings.size());
  for (const auto& s : strings) out.emplace_back(s);
  return out;
}

json::object to_object(const std::map<std::string, std::string>& map) {
  json::object out;
  out.reserve(map.size());
  for (const auto& [key, value] : map) out.emplace(key, value);
  return out;
}

std::string double_text(double value) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  return ec == std::errc() ? std::string(buf, end) : std::string("0");
}

// Reads optional keys into fields, keeping the first error.
class Reader {
 public:
  explicit Reader(std::string what) : what_(std::move(what)) {}

  bool ok() const { return error_.empty(); }
  Status status() const {
    return ok() ? Status::Ok() : Status::Internal(what_ + ": " + error_);
  }
  void fail(std::string_view key, std::string_view problem) {
    if (ok()) error_ = std::string(key) + " " + std::string(problem);
  }

  const json::value* find(const json::object& o, std::string_view key) {
    auto it = o.find(key);
    return it == o.end() ? nullptr : &it->value();
  }

  const json::object* object(const json::object& o, std::string_view key) {
    const json::value* v = find(o, key);
    if (v == nullptr || v->is_null()) return nullptr;
    if (!v->is_object()) fail(key, "is not an object");
    return v->if_object();
  }

  const json::array* array(const json::object& o, std::string_view key) {
    const json::value* v = find(o, key);
    if (v == nullptr) return nullptr;
    if (!v->is_array()) fail(key, "is not an array");
    return v->if_array();
  }

  void read(const json::object& o, std::string_view key, std::string& out) {
    if (const json::value* v = find(o, key)) string(*v, key, out);
  }

  void string(const json::value& v, std::string_view key, std::string& out) {
    if (const json::string* s = v.if_string()) {
      out.assign(s->data(), s->size());
    } else {
      fail(key, "is not a string");
    }
  }

  void read(const json::object& o, std::string_view key, std::int64_t& out) {
    if (const json::value* v = find(o, key)) integer(*v, key, out);
  }

  void integer(const json::value& v, std::string_view key, std::int64_t& out) {
    if (const std::int64_t* i = v.if_int64()) {
      out = *i;
    } else {
      fail(key, "is not a 64-bit integer");
    }
  }

  void read(const json::object& o, std::string_view key, std::int32_t& out) {
    std::int64_t wide = out;
    read(o, key, wide);
    if (wide < std::numeric_limits<std::int32_t>::min() ||
        wide > std::numeric_limits<std::int32_t>::max()) {
      fail(key, "is out of the 32-bit range");
      return;
    }
    out = static_cast<std::int32_t>(wide);
  }

  void read(const json::object& o, std::string_view key, double& out) {
    const json::value* v = find(o, key);
    if (v == nullptr) return;
    const json::string* s = v->if_string();
    if (s == nullptr) {
      fail(key, "is not a number in a string");
      return;
    }
    double value = 0;
    auto [end, ec] = std::from_chars(s->data(), s->data() + s->size(), value);
    if (ec != std::errc() || end != s->data() + s->size()) {
      fail(key, "is not a number in a string");
      return;
    }
    out = value;
  }

  void read(const json::object& o, std::string_view key, std::vector<std::string>& out) {
    if (const json::array* a = array(o, key)) strings(*a, key, out);
  }

  void strings(const json::array& a, std::string_view key, std::vector<std::string>& out) {
    out.clear();
    out.reserve(a.size());
    for (const json::value& v : a) string(v, key, out.emplace_back());
  }

  void read(const json::object& o, std::string_view key, std::map<std::string, std::string>& out) {
    const json::object* m = object(o, key);
    if (m == nullptr) return;
    out.clear();
    for (const auto& entry : *m) {
      std::string value;
      string(entry.value(), key, value);
      out.emplace(std::string(entry.key()), std::move(value));
    }
  }

 private:
  std::string what_;
  std::string error_;
};

// Parses text that must hold a JSON value of the given kind.
const json::value* parse(Reader& reader, const std::string& text, json::value& storage) {
  boost::system::error_code ec;
  // Strings are bytes to Berth: what was written with invalid UTF-8 must load back, not brick
  // the whole load.
  json::parse_options options;
  options.allow_invalid_utf8 = true;
  storage = json::parse(text, ec, {}, options);
  if (ec) {
    reader.fail("text", "is not JSON: " + ec.message());
    return nullptr;
  }
  return &storage;
}

}  // namespace

std::string encode_spec(const AppSpec& spec) {
  json::array profiles;
  for (const ResourceProfile& p : spec.profiles) {
    json::array resources;
    for (const CustomResource& r : p.resources) {
      resources.push_back(json::object{{"name", r.name}, {"vendor", r.vendor}, {"amount", r.amount}});
    }
    profiles.push_back(json::object{
        {"id", p.id},
        {"cores", p.cores},
        {"heap_mib", p.heap_mib},
        {"overhead_mib", p.overhead_mib},
        {"overhead_factor", double_text(p.overhead_factor)},
        {"offheap_mib", p.offheap_mib},
        {"pyspark_mib", p.pyspark_mib},
        {"resources", std::move(resources)},
    });
  }
  json::object launch{
      {"image", spec.launch->image},
      {"command", to_array(spec.launch->command)},
      {"args", to_array(spec.launch->args)},
      {"env", to_object(spec.launch->env)},
      {"labels", to_object(spec.launch->labels)},
      {"annotations", to_object(spec.launch->annotations)},
  };
  json::value pod = nullptr;
  if (spec.driver.pod) {
    pod = json::object{{"namespace", spec.driver.pod->name_space},
                       {"name", spec.driver.pod->name},
                       {"uid", spec.driver.pod->uid}};
  }
  json::object out{
      {"id", spec.id},
      {"tenant", spec.tenant},
      {"pools", to_array(spec.pools)},
      {"profiles", std::move(profiles)},
      {"launch", std::move(launch)},
      {"driver", json::object{{"url", spec.driver.url}, {"pod", std::move(pod)}}},
      {"lease_ttl_ms", static_cast<std::int64_t>(spec.lease_ttl.count())},
  };
  return json::serialize(out);
}

Status decode_spec(const std::string& text, AppSpec& spec) {
  Reader r("app spec");
  json::value storage;
  const json::value* root = parse(r, text, storage);
  if (root == nullptr) return r.status();
  const json::object* o = root->if_object();
  if (o == nullptr) {
    r.fail("text", "is not an object");
    return r.status();
  }
  spec = AppSpec{};
  r.read(*o, "id", spec.id);
  r.read(*o, "tenant", spec.tenant);
  r.read(*o, "pools", spec.pools);
  if (const json::array* profiles = r.array(*o, "profiles")) {
    for (const json::value& pv : *profiles) {
      const json::object* po = pv.if_object();
      if (po == nullptr) {
        r.fail("profiles", "holds a non-object");
        break;
      }
      ResourceProfile& p = spec.profiles.emplace_back();
      r.read(*po, "id", p.id);
      r.read(*po, "cores", p.cores);
      r.read(*po, "heap_mib", p.heap_mib);
      r.read(*po, "overhead_mib", p.overhead_mib);
      r.read(*po, "overhead_factor", p.overhead_factor);
      r.read(*po, "offheap_mib", p.offheap_mib);
      r.read(*po, "pyspark_mib", p.pyspark_mib);
      if (const json::array* resources = r.array(*po, "resources")) {
        for (const json::value& rv : *resources) {
          const json::object* ro = rv.if_object();
          if (ro == nullptr) {
            r.fail("resources", "holds a non-object");
            break;
          }
          CustomResource& res = p.resources.emplace_back();
          r.read(*ro, "name", res.name);
          r.read(*ro, "vendor", res.vendor);
          r.read(*ro, "amount", res.amount);
        }
      }
    }
  }
  if (const json::object* launch = r.object(*o, "launch")) {
    LaunchSpec read;
    r.read(*launch, "image", read.image);
    r.read(*launch, "command", read.command);
    r.read(*launch, "args", read.args);
    r.read(*launch, "env", read.env);
    r.read(*launch, "labels", read.labels);
    r.read(*launch, "annotations", read.annotations);
    spec.launch = std::move(read);
  }
  if (const json::object* driver = r.object(*o, "driver")) {
    r.read(*driver, "url", spec.driver.url);
    if (const json::object* pod = r.object(*driver, "pod")) {
      DriverPod& p = spec.driver.pod.emplace();
      r.read(*pod, "namespace", p.name_space);
      r.read(*pod, "name", p.name);
      r.read(*pod, "uid", p.uid);
    }
  }
  std::int64_t lease_ttl_ms = 0;
  r.read(*o, "lease_ttl_ms", lease_ttl_ms);
  spec.lease_ttl = Duration(lease_ttl_ms);
  return r.status();
}

std::string encode_targets(const std::map<ProfileId, std::int32_t>& targets) {
  // An array of [profile, target] pairs: JSON object keys would have to be strings.
  json::array out;
  out.reserve(targets.size());
  for (const auto& [profile, target] : targets) out.push_back(json::array{profile, target});
  return json::serialize(out);
}

Status decode_targets(const std::string& text, std::map<ProfileId, std::int32_t>& targets) {
  Reader r("app targets");
  json::value storage;
  const json::value* root = parse(r, text, storage);
  if (root == nullptr) return r.status();
  targets.clear();
  const json::array* pairs = root->if_array();
  if (pairs == nullptr) {
    r.fail("text", "is not an array");
    return r.status();
  }
  for (const json::value& pv : *pairs) {
    const json::array* pair = pv.if_array();
    if (pair == nullptr || pair->size() != 2) {
      r.fail("targets", "holds something other than a [profile, target] pair");
      break;
    }
    std::int64_t profile = 0;
    std::int64_t target = 0;
    r.integer((*pair)[0], "profile", profile);
    r.integer((*pair)[1], "target", target);
    if (profile < std::numeric_limits<ProfileId>::min() ||
        profile > std::numeric_limits<ProfileId>::max() ||
        target < std::numeric_limits<std::int32_t>::min() ||
        target > std::numeric_limits<std::int32_t>::max()) {
      r.fail("targets", "holds a value out of the 32-bit range");
    }
    if (!r.ok()) break;
    targets[static_cast<ProfileId>(profile)] = static_cast<std::int32_t>(target);
  }
  return r.status();
}

std::string encode_strings(const std::vector<std::string>& strings) {
  return json::serialize(to_array(strings));
}

Status decode_strings(const std::string& text, std::vector<std::string>& strings) {
  Reader r("string list");
  json::value storage;
  const json::value* root = parse(r, text, storage);
  if (root == nullptr) return r.status();
  const json::array* a = root->if_array();
  if (a == nullptr) {
    r.fail("text", "is not an array");
    return r.status();
  }
  r.strings(*a, "strings", strings);
  return r.status();
}

}  // namespace berth::store_internal
