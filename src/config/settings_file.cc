#include "config/settings_file.h"

#include <algorithm>
#include <map>
#include <sstream>

#include <toml++/toml.h>

#include "common/files.h"

namespace coffre::config {
namespace {

bool IsInteger(std::string_view text) {
  if (!text.empty() && text.front() == '-') text.remove_prefix(1);
  return !text.empty() && text.size() <= 18 &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

void WriteValue(std::ostream& out, const std::string& value) {
  if (IsInteger(value)) {
    out << value;
  } else {
    out << toml::value<std::string>(value);  // quoted and escaped
  }
}

}  // namespace

Status WriteSettingsFile(const std::filesystem::path& file, const std::vector<std::string>& header,
                         const std::vector<std::string>& flags) {
  std::vector<std::string> order;
  std::map<std::string, std::vector<std::string>> values;
  for (size_t i = 0; i < flags.size(); ++i) {
    if (flags[i].rfind("--", 0) != 0) {
      return InvalidArgument("settings: '" + flags[i] + "' is not a flag");
    }
    std::string name = flags[i].substr(2);
    std::replace(name.begin(), name.end(), '-', '_');
    bool has_value = i + 1 < flags.size() && flags[i + 1].rfind("--", 0) != 0;
    if (!values.contains(name)) order.push_back(name);
    values[name].push_back(has_value ? flags[++i] : "");
  }
  std::ostringstream out;
  for (const std::string& line : header) out << "# " << line << "\n";
  for (const std::string& name : order) {
    const std::vector<std::string>& v = values[name];
    out << name << " = ";
    if (v.size() == 1 && v.front().empty()) {
      out << "true";
    } else if (v.size() == 1) {
      WriteValue(out, v.front());
    } else {
      out << "[";
      for (size_t i = 0; i < v.size(); ++i) {
        if (i > 0) out << ", ";
        WriteValue(out, v[i]);
      }
      out << "]";
    }
    out << "\n";
  }
  std::string text = out.str();
  return WriteFileDurably(file, AsBytes(text), 0600);
}

}  // namespace coffre::config
