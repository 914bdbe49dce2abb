#pragma once
// The benchmark report: one row per figure with Berth's value beside its baseline measured in
// the same run, written as bench/results/<name>.md (a table) and <name>.json. Generated, never
// edited by hand.

#include <string>
#include <vector>

namespace berth::bench {

// min / median / max over repeated runs.
struct Spread {
  double min = 0;
  double median = 0;
  double max = 0;
  static Spread of(std::vector<double> samples);
  std::string format(int precision) const;
};

struct Row {
  std::string figure;
  Spread berth;
  std::string baseline_name;
  Spread baseline;
  std::string units;
  bool higher_is_better = true;
  std::string note;
};

class Report {
 public:
  explicit Report(std::string name) : name_(std::move(name)) {}
  void add(Row row) { rows_.push_back(std::move(row)); }
  void note(std::string text) { notes_.push_back(std::move(text)); }
  // Writes <dir>/<name>.md and <dir>/<name>.json; returns the markdown.
  std::string write(const std::string& dir, int runs) const;

 private:
  std::string name_;
  std::vector<Row> rows_;
  std::vector<std::string> notes_;
};

// "2 cores, 23.4 GiB" from /proc.
std::string machine_description();

}  // namespace berth::bench
