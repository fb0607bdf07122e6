#pragma once
// Family: the series of one metric name, one per combination of label values
// (coffre_hub_messages_received_total{protocol="mqtt"}), each made on first use and kept for the
// family's life, so a reference to one stays valid. With() finds a series under a mutex without
// allocating once it exists; code on a hot path calls it once and keeps the reference. Label
// values must come from small fixed sets (protocols, reasons): never a device id, never a
// client's bytes. Thread-safe.

#include <algorithm>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/check.h"

namespace coffre::metrics {

template <class Metric>
class Family {
 public:
  using Make = std::function<std::unique_ptr<Metric>()>;

  Family(std::vector<std::string> label_names, Make make)
      : label_names_(std::move(label_names)), make_(std::move(make)) {}

  // `values` in the order of label_names() (a wrong count is a programming error: aborts).
  Metric& With(std::initializer_list<std::string_view> values) {
    return With(std::span<const std::string_view>(values.begin(), values.size()));
  }
  Metric& With(std::span<const std::string_view> values) {
    COFFRE_CHECK(values.size() == label_names_.size());
    std::lock_guard<std::mutex> guard(mu_);
    auto it = series_.find(values);
    if (it == series_.end()) {
      it = series_.emplace(std::vector<std::string>(values.begin(), values.end()), make_()).first;
    }
    return *it->second;
  }

  const std::vector<std::string>& label_names() const { return label_names_; }

  // fn(label values, metric) for each series, in the order of their label values.
  template <class Fn>
  void ForEach(Fn&& fn) const {
    std::lock_guard<std::mutex> guard(mu_);
    for (const auto& [values, metric] : series_) fn(values, *metric);
  }

 private:
  // Orders label value lists, and finds a stored one by a list of views.
  struct Less {
    using is_transparent = void;
    template <class A, class B>
    bool operator()(const A& a, const B& b) const {
      return std::lexicographical_compare(
          a.begin(), a.end(), b.begin(), b.end(),
          [](std::string_view x, std::string_view y) { return x < y; });
    }
  };

  const std::vector<std::string> label_names_;
  const Make make_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<Metric>, Less> series_;  // guarded by mu_
};

}  // namespace coffre::metrics
