// RecordIO framing: records split anywhere by the transport come out whole, in order.

#include <catch2/catch.hpp>

#include "adapters/mesos/recordio.h"

namespace berth::mesos {
namespace {

std::vector<std::string> feed_all(RecordIoReader& reader, const std::vector<std::string>& pieces, Status* status) {
  std::vector<std::string> records;
  for (const auto& piece : pieces) {
    *status = reader.feed(piece, [&](std::string_view record) { records.emplace_back(record); });
    if (!status->ok()) break;
  }
  return records;
}

TEST_CASE("records split at every byte boundary come out whole") {
  const std::string stream = "20\n{\"type\":\"HEARTBEAT\"}5\nhello\n3\nabc";
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    RecordIoReader reader;
    Status status;
    auto records = feed_all(reader, {stream.substr(0, cut), stream.substr(cut)}, &status);
    INFO(cut);
    REQUIRE(status.ok());
    REQUIRE(records.size() == 3);
    CHECK(records[0] == "{\"type\":\"HEARTBEAT\"}");
    CHECK(records[1] == "hello");
    CHECK(records[2] == "abc");
  }
}

TEST_CASE("byte by byte, and a record holding newlines") {
  const std::string stream = "6\na\nb\nc\n2\nok";
  RecordIoReader reader;
  std::vector<std::string> pieces;
  for (char c : stream) pieces.emplace_back(1, c);
  Status status;
  auto records = feed_all(reader, pieces, &status);
  REQUIRE(status.ok());
  REQUIRE(records.size() == 2);
  CHECK(records[0] == "a\nb\nc\n");
  CHECK(records[1] == "ok");
}

TEST_CASE("garbage length lines, empty and oversized records are errors") {
  for (const std::string& bad : std::vector<std::string>{"x1\nabc", "0\n", std::string(40, '1')}) {
    RecordIoReader reader(1024);
    Status status;
    feed_all(reader, {bad}, &status);
    INFO(bad);
    CHECK_FALSE(status.ok());
  }
  RecordIoReader small(10);
  Status status;
  feed_all(small, {"11\n"}, &status);
  CHECK_THAT(status.message(), Catch::Contains("larger than the limit"));
}

}  // namespace
}  // namespace berth::mesos
