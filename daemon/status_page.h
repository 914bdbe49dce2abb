#pragma once
// The status page's files (daemon/status_page/*), compiled into berthd by CMake
// (status_page.cc.in): plain HTML, CSS and JavaScript, with no build step and no external asset.

#include <string_view>

namespace berth {

extern const std::string_view kStatusPageHtml;
extern const std::string_view kStatusPageJs;
extern const std::string_view kStatusPageCss;

}  // namespace berth
