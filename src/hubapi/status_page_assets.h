#pragma once
// The status page's files (src/hubapi/status_page/), compiled in by CMake (embed_files.cmake):
// the hub serves them from memory, so the page works with no file beside the binary.

#include <string_view>

namespace coffre::hubapi {

extern const std::string_view kStatusPageHtml;    // index.html
extern const std::string_view kStatusPageScript;  // app.js
extern const std::string_view kStatusPageStyle;   // style.css

}  // namespace coffre::hubapi
