#pragma once
// Registry: every metric one daemon exposes, in the order they were added, and their rendering
// in the Prometheus text format (text_format.h) for GET /metrics. Metrics are added at start;
// adding one with a name already taken, or an invalid name, is a programming error (aborts).
// By Prometheus' conventions: a prefix per daemon (coffre_hub_, coffre_vault_), base units
// (seconds, bytes) in the name, counters ending in _total.
// Callback metrics hold a value kept elsewhere (a queue's length, free disk space, a count a
// part keeps): they are read when scraped, so what they read must outlive the registry's
// renderings. Thread-safe.

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/metrics/counter.h"
#include "common/metrics/family.h"
#include "common/metrics/gauge.h"
#include "common/metrics/histogram.h"
#include "common/metrics/text_format.h"

namespace coffre::metrics {

// One series of a callback metric: its label values (in the order of the label names) and value.
struct Sample {
  std::vector<std::string> label_values;
  double value = 0;
};

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  Family<Counter>& Counters(std::string name, std::string help,
                            std::vector<std::string> label_names);
  Family<Gauge>& Gauges(std::string name, std::string help, std::vector<std::string> label_names);
  // Every series of the family has the same bucket bounds.
  Family<Histogram>& Histograms(std::string name, std::string help,
                                std::vector<std::string> label_names,
                                std::vector<double> upper_bounds);
  // Without labels: the family's one series.
  Counter& AddCounter(std::string name, std::string help);
  Gauge& AddGauge(std::string name, std::string help);
  Histogram& AddHistogram(std::string name, std::string help, std::vector<double> upper_bounds);

  // A counter or gauge read when scraped: `read` returns its series (none: the family shows
  // only its HELP and TYPE). Counters must never go down.
  void AddCallback(std::string name, std::string help, MetricType type,
                   std::vector<std::string> label_names,
                   std::function<std::vector<Sample>()> read);
  void AddCallback(std::string name, std::string help, MetricType type,
                   std::function<double()> read);

  // The text of a scrape.
  std::string Render() const;

  class Collector;  // registry.cc

 private:
  template <class T>
  T& Add(std::unique_ptr<T> collector);

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Collector>> collectors_;  // guarded by mu_
};

}  // namespace coffre::metrics
