#include "common/metrics/registry.h"

#include "common/check.h"

namespace coffre::metrics {

// One metric name: its HELP and TYPE, then its series.
class Registry::Collector {
 public:
  Collector(std::string name, std::string help, MetricType type,
            const std::vector<std::string>& label_names)
      : name_(std::move(name)), help_(std::move(help)), type_(type) {
    COFFRE_CHECK(ValidMetricName(name_));
    for (const std::string& label : label_names) {
      COFFRE_CHECK(ValidLabelName(label));
      COFFRE_CHECK(type != MetricType::kHistogram || label != "le");
    }
  }
  virtual ~Collector() = default;

  const std::string& name() const { return name_; }
  void Write(TextWriter& out) const {
    out.Header(name_, help_, type_);
    WriteSeries(out);
  }

 protected:
  virtual void WriteSeries(TextWriter& out) const = 0;

  const std::string name_;

 private:
  const std::string help_;
  const MetricType type_;
};

namespace {

void WriteOne(TextWriter& out, const std::string& name, const std::vector<std::string>& labels,
              const std::vector<std::string>& values, const Counter& c) {
  out.Sample(name, labels, values, static_cast<double>(c.value()));
}

void WriteOne(TextWriter& out, const std::string& name, const std::vector<std::string>& labels,
              const std::vector<std::string>& values, const Gauge& g) {
  out.Sample(name, labels, values, g.value());
}

void WriteOne(TextWriter& out, const std::string& name, const std::vector<std::string>& labels,
              const std::vector<std::string>& values, const Histogram& h) {
  Histogram::Snapshot s = h.Read();
  std::string bucket = name + "_bucket";
  for (size_t i = 0; i < s.upper_bounds.size(); ++i) {
    out.Sample(bucket, labels, values, static_cast<double>(s.cumulative[i]),
               FormatValue(s.upper_bounds[i]));
  }
  out.Sample(bucket, labels, values, static_cast<double>(s.count()), "+Inf");
  out.Sample(name + "_sum", labels, values, s.sum);
  out.Sample(name + "_count", labels, values, static_cast<double>(s.count()));
}

template <class Metric>
class FamilyCollector final : public Registry::Collector {
 public:
  FamilyCollector(std::string name, std::string help, MetricType type,
                  std::vector<std::string> label_names, typename Family<Metric>::Make make)
      : Collector(std::move(name), std::move(help), type, label_names),
        family(std::move(label_names), std::move(make)) {}

  Family<Metric> family;

 private:
  void WriteSeries(TextWriter& out) const override {
    family.ForEach([&](const std::vector<std::string>& values, const Metric& metric) {
      WriteOne(out, name_, family.label_names(), values, metric);
    });
  }
};

class CallbackCollector final : public Registry::Collector {
 public:
  CallbackCollector(std::string name, std::string help, MetricType type,
                    std::vector<std::string> label_names,
                    std::function<std::vector<Sample>()> read)
      : Collector(std::move(name), std::move(help), type, label_names),
        label_names_(std::move(label_names)),
        read_(std::move(read)) {
    COFFRE_CHECK(type != MetricType::kHistogram);
  }

 private:
  void WriteSeries(TextWriter& out) const override {
    for (const Sample& s : read_()) out.Sample(name_, label_names_, s.label_values, s.value);
  }

  const std::vector<std::string> label_names_;
  const std::function<std::vector<Sample>()> read_;
};

}  // namespace

Registry::Registry() = default;
Registry::~Registry() = default;

template <class T>
T& Registry::Add(std::unique_ptr<T> collector) {
  T& added = *collector;
  std::lock_guard<std::mutex> guard(mu_);
  for (const auto& c : collectors_) COFFRE_CHECK(c->name() != collector->name());
  collectors_.push_back(std::move(collector));
  return added;
}

Family<Counter>& Registry::Counters(std::string name, std::string help,
                                    std::vector<std::string> label_names) {
  return Add(std::make_unique<FamilyCollector<Counter>>(
                 std::move(name), std::move(help), MetricType::kCounter, std::move(label_names),
                 [] { return std::make_unique<Counter>(); }))
      .family;
}

Family<Gauge>& Registry::Gauges(std::string name, std::string help,
                                std::vector<std::string> label_names) {
  return Add(std::make_unique<FamilyCollector<Gauge>>(
                 std::move(name), std::move(help), MetricType::kGauge, std::move(label_names),
                 [] { return std::make_unique<Gauge>(); }))
      .family;
}

Family<Histogram>& Registry::Histograms(std::string name, std::string help,
                                        std::vector<std::string> label_names,
                                        std::vector<double> upper_bounds) {
  return Add(std::make_unique<FamilyCollector<Histogram>>(
                 std::move(name), std::move(help), MetricType::kHistogram,
                 std::move(label_names),
                 [bounds = std::move(upper_bounds)] { return std::make_unique<Histogram>(bounds); }))
      .family;
}

Counter& Registry::AddCounter(std::string name, std::string help) {
  return Counters(std::move(name), std::move(help), {}).With({});
}

Gauge& Registry::AddGauge(std::string name, std::string help) {
  return Gauges(std::move(name), std::move(help), {}).With({});
}

Histogram& Registry::AddHistogram(std::string name, std::string help,
                                  std::vector<double> upper_bounds) {
  return Histograms(std::move(name), std::move(help), {}, std::move(upper_bounds)).With({});
}

void Registry::AddCallback(std::string name, std::string help, MetricType type,
                           std::vector<std::string> label_names,
                           std::function<std::vector<Sample>()> read) {
  Add(std::make_unique<CallbackCollector>(std::move(name), std::move(help), type,
                                          std::move(label_names), std::move(read)));
}

void Registry::AddCallback(std::string name, std::string help, MetricType type,
                           std::function<double()> read) {
  AddCallback(std::move(name), std::move(help), type, {},
              [read = std::move(read)] { return std::vector<Sample>{{{}, read()}}; });
}

std::string Registry::Render() const {
  TextWriter out;
  std::lock_guard<std::mutex> guard(mu_);
  for (const auto& c : collectors_) c->Write(out);
  return out.Take();
}

}  // namespace coffre::metrics
