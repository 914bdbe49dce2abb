// Arbitrary text through parse_config. Besides ASan and UBSan findings, it aborts when an
// invariant of the parser's contract breaks: the only error code is INVALID_ARGUMENT (an escaped
// yaml-cpp exception would surface as INTERNAL), every message starts with the file name, and a
// config plans no change against itself.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "config/config.h"

namespace {

void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "config_fuzz: %s: %s\n", what, detail.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace berth;
  const std::string text(reinterpret_cast<const char*>(data), size);
  StatusOr<config::Config> loaded = config::parse_config(text, "fuzz.yaml", {"local", "kubernetes", "nomad", "mesos"});
  if (!loaded.ok()) {
    const Status& status = loaded.status();
    if (status.code() != StatusCode::kInvalidArgument) fail("unexpected code", status.to_string());
    if (status.message().rfind("fuzz.yaml", 0) != 0) fail("message without file", status.message());
    return 0;
  }
  const config::ReloadPlan plan = config::plan_reload(*loaded, *loaded);
  if (!plan.changes.empty() || !plan.needs_restart.empty()) fail("self reload", text);
  for (const config::PoolConfig& pool : loaded->pools) {
    config::Section section = pool.section();  // what an adapter does first
    section.get_string("address");
    section.get_duration("poll_interval", Duration(1000));
    section.get_string_map("labels");
    const Status status = section.finish();
    if (!status.ok() && status.message().rfind("fuzz.yaml", 0) != 0) {
      fail("adapter message without file", status.message());
    }
  }
  return 0;
}
