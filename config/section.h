#pragma once
// Section: strict, typed reading of one YAML mapping of a config file. Every getter records the
// key as known; finish() rejects keys nobody asked for. Errors name the file, line and column and
// the key's path: "berthd.yaml:12:5: pools[0].local.poll_interval: expected a duration such as
// 500ms, 10s or 5m, got \"soon\"". Adapters parse their own pool section with it.
//
// Not thread-safe; used at start-up and on SIGHUP only.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/status.h"
#include "core/types.h"

namespace berth::config {

class Section {
 public:
  // `node` must be a mapping or null (an absent section reads as empty). `path` is the key path
  // of this section ("" for the document root, "pools[0].local" ...).
  Section(YAML::Node node, std::string file, std::string path);
  // The same, for a node that may be absent from the file: errors about it (a required key that
  // is missing, say) point at `where`, usually the mapping that would have held it.
  Section(YAML::Node node, std::string file, std::string path, YAML::Mark where);

  bool has(const std::string& key) const;

  // Getters return the value, or `fallback` when the key is absent. A present key with a value of
  // the wrong type records an error (see status()) and returns the fallback.
  std::string get_string(const std::string& key, const std::string& fallback = "");
  std::int64_t get_int(const std::string& key, std::int64_t fallback, std::int64_t min = INT64_MIN,
                       std::int64_t max = INT64_MAX);
  bool get_bool(const std::string& key, bool fallback);
  Duration get_duration(const std::string& key, Duration fallback);  // "500ms", "10s", "5m", "1h" or integer seconds
  std::vector<std::string> get_string_list(const std::string& key);
  std::map<std::string, std::string> get_string_map(const std::string& key);
  // Required variants record "is required" when the key is absent.
  std::string require_string(const std::string& key);

  // A nested mapping (absent = empty section).
  Section child(const std::string& key);
  // A sequence of mappings: "pools" -> sections with paths pools[0], pools[1], ...
  std::vector<Section> children(const std::string& key);

  // Records an error about `key` (or the section itself when key is empty) at its position.
  // `key` may name a list element, "default_pools[1]". Only the first error of a section family
  // is kept: later ones are usually consequences of it.
  void error(const std::string& key, const std::string& message);

  // The first error recorded in this section or any section derived from it, plus unknown keys
  // (and duplicate keys) of this section. Call after all getters; calling it again after further
  // error() calls returns the first error of all.
  Status finish();

  const std::string& path() const { return path_; }
  const std::string& file() const { return file_; }
  YAML::Node node() const { return node_; }

 private:
  struct Errors;  // shared between a section and its children
  Section(YAML::Node node, std::string file, std::string path, YAML::Mark where,
          std::shared_ptr<Errors> errors);
  // The value under `key` (absent = null node) and where to point errors about it.
  YAML::Node value(const std::string& key, YAML::Mark* mark) const;
  void record(const YAML::Mark& mark, const std::string& key, const std::string& message);

  YAML::Node node_;
  YAML::Mark mark_;  // the node's position, or where its absence was noticed
  std::string file_;
  std::string path_;
  std::set<std::string> known_;
  std::shared_ptr<Errors> errors_;
};

}  // namespace berth::config
