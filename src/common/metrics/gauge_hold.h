#pragma once
// GaugeHold: one unit of a gauge for as long as the hold lives, e.g. a connection counted in
// "connections open" from its accept to its end, by whichever path it ends. Reset moves the unit
// to another gauge (the connection authenticated) or gives it back. A null gauge counts nothing,
// so code with metrics turned off needs no branch. Move-only; the hold is its owner's to
// synchronise, the gauge is thread-safe.

#include <utility>

#include "common/metrics/gauge.h"

namespace coffre::metrics {

class GaugeHold {
 public:
  GaugeHold() = default;
  explicit GaugeHold(Gauge* gauge) { Reset(gauge); }
  ~GaugeHold() { Reset(); }
  GaugeHold(GaugeHold&& other) noexcept : gauge_(std::exchange(other.gauge_, nullptr)) {}
  GaugeHold& operator=(GaugeHold&& other) noexcept {
    if (this != &other) {
      Reset();
      gauge_ = std::exchange(other.gauge_, nullptr);
    }
    return *this;
  }
  GaugeHold(const GaugeHold&) = delete;
  GaugeHold& operator=(const GaugeHold&) = delete;

  // Gives the unit back, and takes one of `gauge` (null: none).
  void Reset(Gauge* gauge = nullptr) {
    if (gauge == gauge_) return;
    if (gauge_ != nullptr) gauge_->Add(-1);
    gauge_ = gauge;
    if (gauge_ != nullptr) gauge_->Add(1);
  }
  Gauge* gauge() const { return gauge_; }

 private:
  Gauge* gauge_ = nullptr;
};

}  // namespace coffre::metrics
