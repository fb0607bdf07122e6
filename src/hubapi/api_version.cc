#include "hubapi/api_version.h"

#include <algorithm>
#include <array>
#include <string_view>

#include "hubapi/service_api.h"

namespace coffre::hubapi {
namespace {

constexpr std::array<std::string_view, 17> kSupported = {
    "2016-02-03", "2016-11-14",         "2017-06-30",         "2017-11-08-preview",
    "2018-01-26", "2018-04-01",         "2018-06-28",         "2018-06-30",
    "2018-08-30-preview", "2019-03-30", "2019-07-01-preview", "2019-10-01",
    "2020-03-13", "2020-05-31-preview", "2020-06-30-preview", "2020-09-30",
    "2021-04-12"};

}  // namespace

std::optional<net::HttpResponse> CheckApiVersion(const net::HttpRequest& request) {
  std::optional<std::string> version = request.Query("api-version");
  if (!version) {
    return ServiceApi::Error(400, "ArgumentInvalid", "The api-version query parameter is required.");
  }
  if (std::find(kSupported.begin(), kSupported.end(), *version) == kSupported.end()) {
    return ServiceApi::Error(400, "ArgumentInvalid",
                             "api-version '" + version->substr(0, 40) +
                                 "' is not supported; use 2021-04-12.");
  }
  return std::nullopt;
}

}  // namespace coffre::hubapi
