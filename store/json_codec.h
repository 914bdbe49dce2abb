#pragma once
// JSON text for the parts of an Application that the SQLite store keeps in one column each: the
// AppSpec, the per-profile targets and the conditions. Internal to store/.
//
// Round-trips every field exactly: integers as JSON integers, doubles as strings in their
// shortest round-trip form (Boost.JSON 1.81 does not parse every double exactly). A key missing
// from the text reads as the field's default, so rows written before a field existed still load;
// a key of the wrong type is an error.

#include <map>
#include <string>
#include <vector>

#include "base/status.h"
#include "core/types.h"

namespace berth::store_internal {

std::string encode_spec(const AppSpec& spec);
// Errors: kInternal naming the offending key.
Status decode_spec(const std::string& text, AppSpec& spec);

std::string encode_targets(const std::map<ProfileId, std::int32_t>& targets);
Status decode_targets(const std::string& text, std::map<ProfileId, std::int32_t>& targets);

std::string encode_strings(const std::vector<std::string>& strings);
Status decode_strings(const std::string& text, std::vector<std::string>& strings);

}  // namespace berth::store_internal
