#include "cli/health_check.h"

#include <google/protobuf/unknown_field_set.h>

namespace berth::cli {

namespace {
constexpr int kServiceField = 1;
constexpr int kStatusField = 1;
}  // namespace

std::string encode_health_check_request(std::string_view service) {
  google::protobuf::UnknownFieldSet fields;
  if (!service.empty()) fields.AddLengthDelimited(kServiceField, std::string(service));
  std::string bytes;
  fields.SerializeToString(&bytes);
  return bytes;
}

std::optional<int> decode_health_check_response(std::string_view bytes) {
  google::protobuf::UnknownFieldSet fields;
  if (!fields.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return std::nullopt;
  int status = 0;
  for (int i = 0; i < fields.field_count(); ++i) {
    const google::protobuf::UnknownField& field = fields.field(i);
    if (field.number() != kStatusField) continue;
    if (field.type() != google::protobuf::UnknownField::TYPE_VARINT) return std::nullopt;
    status = static_cast<int>(field.varint());  // the last occurrence wins, as in protobuf
  }
  return status;
}

std::string health_status_name(int status) {
  switch (status) {
    case 0: return "UNKNOWN";
    case 1: return "SERVING";
    case 2: return "NOT_SERVING";
    case 3: return "SERVICE_UNKNOWN";
    default: return "STATUS_" + std::to_string(status);
  }
}

}  // namespace berth::cli
