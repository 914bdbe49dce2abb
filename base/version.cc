#include "base/version.h"

namespace berth {

// BERTH_PROJECT_VERSION comes from CMake (base/CMakeLists.txt).
const char* const kBerthVersion = BERTH_PROJECT_VERSION;
const char* const kBerthdUserAgent = "berthd/" BERTH_PROJECT_VERSION;

}  // namespace berth
