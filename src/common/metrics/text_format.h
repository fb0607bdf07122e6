#pragma once
// The Prometheus text exposition format, version 0.0.4: what GET /metrics answers. Each family
// is "# HELP name text", "# TYPE name type", then its samples, one per line:
//   name{label="value",...} 1.5
// Label values escape \, " and newline; help text escapes \ and newline. Values are integers
// when they are whole (below 2^53), otherwise the shortest decimal that reads back the same
// double; +Inf, -Inf and NaN as Prometheus spells them. Stateless.

#include <span>
#include <string>
#include <string_view>

namespace coffre::metrics {

inline constexpr std::string_view kTextContentType = "text/plain; version=0.0.4; charset=utf-8";

enum class MetricType { kCounter, kGauge, kHistogram };
std::string_view TypeName(MetricType type);  // "counter", "gauge", "histogram"

// Whether `name` may name a metric ([a-zA-Z_:][a-zA-Z0-9_:]*) or a label ([a-zA-Z_][a-zA-Z0-9_]*,
// not starting with "__", which Prometheus reserves).
bool ValidMetricName(std::string_view name);
bool ValidLabelName(std::string_view name);

std::string FormatValue(double value);

// Appends to one scrape's text.
class TextWriter {
 public:
  void Header(std::string_view name, std::string_view help, MetricType type);
  // `names` and `values` pair up; `le`, if not empty, is added last (a histogram's bucket).
  void Sample(std::string_view name, std::span<const std::string> names,
              std::span<const std::string> values, double value, std::string_view le = {});
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace coffre::metrics
