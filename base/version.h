#pragma once
// Berth's version and the User-Agent berthd sends to every backend. The version is written once,
// as the VERSION of project() in the top CMakeLists.txt; this is how C++ reads it.

namespace berth {

extern const char* const kBerthVersion;     // "0.1.0"
extern const char* const kBerthdUserAgent;  // "berthd/0.1.0"

}  // namespace berth
