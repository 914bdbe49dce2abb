#pragma once
// RecordIO, the framing of the Mesos subscription stream: "<decimal length>\n<length bytes>"
// repeated, carried inside HTTP chunked encoding whose chunk boundaries have nothing to do with
// record boundaries. The reader takes bytes as they arrive and hands out whole records.
//
// Not thread-safe; one reader per stream.

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "base/status.h"

namespace berth::mesos {

class RecordIoReader {
 public:
  explicit RecordIoReader(std::size_t max_record_bytes = 64 * 1024 * 1024) : max_record_bytes_(max_record_bytes) {}

  // Feeds bytes; calls `record` for every record completed by them, in order. Returns an error
  // (and stops) on a malformed length line or a record larger than the limit; the stream is then
  // unusable.
  Status feed(std::string_view bytes, const std::function<void(std::string_view record)>& record);

 private:
  std::size_t max_record_bytes_;
  std::string buffer_;
  std::size_t expected_ = 0;  // length of the record being read; 0 = reading a length line
};

}  // namespace berth::mesos
