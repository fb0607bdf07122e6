#include "config/toml_flags.h"

#include <cstdio>
#include <cstdlib>
#include <sstream>

#include <toml++/toml.h>

namespace coffre::config {
namespace {

// The file being read: CLI11 hands the formatter a stream only.
std::string ConfigFileOf(const CLI::App& app) {
  const CLI::Option* option = app.get_config_ptr();
  if (option == nullptr || option->results().empty()) return "configuration";
  return option->results().front();
}

[[noreturn]] void Fail(const std::string& where, const toml::source_region& at,
                       const std::string& field, const std::string& message) {
  throw CLI::ConfigError(where + ":" + std::to_string(at.begin.line) + ": " + field + ": " +
                         message);
}

// What kind of value a flag takes, from CLI11's type name ("INT", "UINT:INT in [1 - 7]", ...).
enum class Kind { kSwitch, kInteger, kUnsigned, kNumber, kText };
Kind KindOf(const CLI::Option& option) {
  if (option.get_expected_min() == 0) return Kind::kSwitch;
  std::string type = option.get_type_name();
  type = type.substr(0, type.find(':'));
  if (type == "INT") return Kind::kInteger;
  if (type == "UINT") return Kind::kUnsigned;
  if (type == "FLOAT") return Kind::kNumber;
  return Kind::kText;
}

std::string DescribeKind(Kind kind) {
  switch (kind) {
    case Kind::kSwitch: return "true or false";
    case Kind::kInteger: return "an integer";
    case Kind::kUnsigned: return "an integer >= 0";
    case Kind::kNumber: return "a number";
    case Kind::kText: return "a string";
  }
  return "a value";
}

// One TOML scalar as the text a flag would get, or nullopt if its type does not fit `kind`.
// A size flag (e.g. "64MiB") takes a string where its type is a number.
std::optional<std::string> ScalarText(const toml::node& node, Kind kind, bool takes_size) {
  if (auto b = node.as_boolean()) {
    if (kind == Kind::kSwitch) return b->get() ? "true" : "false";
    return std::nullopt;
  }
  if (auto i = node.as_integer()) {
    if (kind == Kind::kInteger || kind == Kind::kNumber || kind == Kind::kText) {
      return std::to_string(i->get());
    }
    if (kind == Kind::kUnsigned && i->get() >= 0) return std::to_string(i->get());
    return std::nullopt;
  }
  if (auto f = node.as_floating_point()) {
    if (kind != Kind::kNumber) return std::nullopt;
    char text[32];
    std::snprintf(text, sizeof text, "%.17g", f->get());
    return std::string(text);
  }
  if (auto s = node.as_string()) {
    if (kind == Kind::kText || ((kind == Kind::kUnsigned || kind == Kind::kInteger) && takes_size)) {
      return s->get();
    }
    return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

std::vector<CLI::ConfigItem> TomlFlags::from_config(std::istream& input) const {
  const std::string file = ConfigFileOf(app_);
  toml::table root;
  try {
    root = toml::parse(input, file);
  } catch (const toml::parse_error& error) {
    const auto& at = error.source().begin;
    throw CLI::ConfigError(file + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) +
                           ": not valid TOML: " + std::string(error.description()));
  }

  std::vector<CLI::ConfigItem> fields;
  auto read_field = [&](const std::string& table, const toml::key& key, const toml::node& node) {
    std::string field = table.empty() ? std::string(key.str()) : table + "." + std::string(key.str());
    std::string flag = table.empty() ? std::string(key.str()) : table + "-" + std::string(key.str());
    for (char& c : flag) {
      if (c == '_') c = '-';
    }
    auto& app = const_cast<CLI::App&>(app_);
    CLI::Option* option = app.get_option_no_throw("--" + flag);
    if (option == nullptr) {
      Fail(file, node.source(), field, "unknown setting (there is no --" + flag + ")");
    }
    if (!option->get_configurable()) {
      Fail(file, node.source(), field, "--" + flag + " is given on the command line only");
    }
    // The environment overrides the file: leave the flag to CLI11's environment step.
    if (const std::string env = option->get_envname(); !env.empty()) {
      const char* value = std::getenv(env.c_str());
      if (value != nullptr && *value != '\0') return;
    }
    const Kind kind = KindOf(*option);
    const bool takes_size = option->get_type_name().find("SIZE") != std::string::npos;
    const bool list = option->get_items_expected_max() > 1;
    CLI::ConfigItem item;
    item.name = flag;
    auto add = [&](const toml::node& value) {
      std::optional<std::string> text = ScalarText(value, kind, takes_size);
      if (!text) {
        Fail(file, value.source(), field,
             "expects " + DescribeKind(kind) + (list ? " or a list of them" : ""));
      }
      // The flag's own checks (ranges, choices), so that the error can say where.
      for (int i = 0;; ++i) {
        const CLI::Validator* validator = nullptr;
        try {
          validator = option->get_validator(i);
        } catch (const CLI::OptionNotFound&) {
          break;
        }
        std::string copy = *text;
        if (std::string error = (*validator)(copy); !error.empty()) {
          Fail(file, value.source(), field, error);
        }
      }
      item.inputs.push_back(std::move(*text));
    };
    if (const toml::array* array = node.as_array()) {
      if (!list) Fail(file, node.source(), field, "expects one value, not a list");
      for (const toml::node& value : *array) add(value);
      if (item.inputs.empty()) return;  // an empty list: the default
    } else {
      add(node);
    }
    fields.push_back(std::move(item));
  };

  for (const auto& [key, node] : root) {
    if (const toml::table* table = node.as_table()) {
      for (const auto& [inner_key, inner] : *table) {
        if (inner.is_table()) {
          Fail(file, inner.source(), std::string(key.str()) + "." + std::string(inner_key.str()),
               "tables nest one level only");
        }
        read_field(std::string(key.str()), inner_key, inner);
      }
    } else {
      read_field("", key, node);
    }
  }
  return fields;
}

// `coffre-hub --config F ... --help` has no use for this; CLI11 asks for it only when a program
// writes its settings back, which ours do not.
std::string TomlFlags::to_config(const CLI::App* app, bool, bool, std::string) const {
  std::ostringstream out;
  for (const CLI::Option* option : app->get_options()) {
    if (!option->get_configurable() || option->count() == 0 || option->get_lnames().empty()) {
      continue;
    }
    out << option->get_lnames().front() << " = ";
    const auto& results = option->results();
    if (results.size() == 1) {
      out << toml::value<std::string>(results.front()) << "\n";
      continue;
    }
    toml::array array;
    for (const std::string& r : results) array.push_back(r);
    out << array << "\n";
  }
  return out.str();
}

}  // namespace coffre::config
