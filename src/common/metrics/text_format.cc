#include "common/metrics/text_format.h"

#include <charconv>
#include <cmath>

#include "common/check.h"

namespace coffre::metrics {
namespace {

bool NameChar(char c, bool first, bool colon) {
  bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  return letter || (colon && c == ':') || (!first && c >= '0' && c <= '9');
}

bool ValidName(std::string_view name, bool colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (!NameChar(name[i], i == 0, colon)) return false;
  }
  return true;
}

void AppendEscaped(std::string& out, std::string_view text, bool quote) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

}  // namespace

std::string_view TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter: return "counter";
    case MetricType::kGauge: return "gauge";
    case MetricType::kHistogram: return "histogram";
  }
  return "untyped";
}

bool ValidMetricName(std::string_view name) { return ValidName(name, true); }

bool ValidLabelName(std::string_view name) {
  return ValidName(name, false) && !name.starts_with("__");
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::trunc(value) && std::fabs(value) < 9007199254740992.0) {  // 2^53
    return std::to_string(static_cast<int64_t>(value));
  }
  char buffer[32];
  auto [end, error] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  COFFRE_CHECK(error == std::errc());
  return std::string(buffer, end);
}

void TextWriter::Header(std::string_view name, std::string_view help, MetricType type) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  AppendEscaped(out_, help, false);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += TypeName(type);
  out_ += '\n';
}

void TextWriter::Sample(std::string_view name, std::span<const std::string> names,
                        std::span<const std::string> values, double value, std::string_view le) {
  COFFRE_CHECK(names.size() == values.size());
  out_ += name;
  if (!names.empty() || !le.empty()) {
    out_ += '{';
    for (size_t i = 0; i < names.size(); ++i) {
      if (i > 0) out_ += ',';
      out_ += names[i];
      out_ += "=\"";
      AppendEscaped(out_, values[i], true);
      out_ += '"';
    }
    if (!le.empty()) {
      if (!names.empty()) out_ += ',';
      out_ += "le=\"";
      out_ += le;
      out_ += '"';
    }
    out_ += '}';
  }
  out_ += ' ';
  out_ += FormatValue(value);
  out_ += '\n';
}

}  // namespace coffre::metrics
