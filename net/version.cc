#include "net/version.h"

namespace berth {

// BERTH_PROJECT_VERSION comes from CMake (net/CMakeLists.txt).
const char* const kBerthVersion = BERTH_PROJECT_VERSION;
const char* const kBerthdUserAgent = "berthd/" BERTH_PROJECT_VERSION;

}  // namespace berth
