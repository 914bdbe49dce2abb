#include "adapters/mesos/recordio.h"

namespace berth::mesos {

Status RecordIoReader::feed(std::string_view bytes, const std::function<void(std::string_view record)>& record) {
  buffer_.append(bytes);
  std::size_t at = 0;
  for (;;) {
    if (expected_ == 0) {
      const std::size_t newline = buffer_.find('\n', at);
      if (newline == std::string::npos) {
        if (buffer_.size() - at > 32) return Status::InvalidArgument("RecordIO: a length line longer than 32 bytes");
        break;
      }
      std::string_view line(buffer_.data() + at, newline - at);
      at = newline + 1;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.empty()) continue;  // tolerated between records
      std::size_t length = 0;
      for (char c : line) {
        if (c < '0' || c > '9') return Status::InvalidArgument("RecordIO: the length line \"" + std::string(line) + "\" is not a number");
        length = length * 10 + static_cast<std::size_t>(c - '0');
        if (length > max_record_bytes_) return Status::InvalidArgument("RecordIO: a record larger than the limit");
      }
      if (length == 0) return Status::InvalidArgument("RecordIO: a record of length 0");
      expected_ = length;
    }
    if (buffer_.size() - at < expected_) break;
    record(std::string_view(buffer_.data() + at, expected_));
    at += expected_;
    expected_ = 0;
  }
  buffer_.erase(0, at);
  return Status::Ok();
}

}  // namespace berth::mesos
