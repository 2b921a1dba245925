// Performance framework, part 1: the metrics registry (DESIGN.md "Performance
// framework"). Counters, gauges and histograms cheap enough for hot paths: an
// update is one relaxed atomic operation (histograms: three), never a lock.
// Registration takes a mutex once; callers keep the returned reference.
//
// Exposition: Prometheus text format 0.0.4 (`prometheus_text`), families sorted
// by name and series by labels, so output is deterministic. Conventions enforced
// at registration: names match [a-z_][a-z0-9_]*, start with `kestrel_`; counters
// end in `_total`; label names match [a-z_][a-z0-9_]*.
//
// Thread-safety: all functions are thread-safe. References returned by the
// registry stay valid for the registry's lifetime.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace kestrel::perf {

class Counter {
 public:
  // unit_scale: the exposition multiplies the integer count by it (CPU time
  // counted in nanoseconds is exposed as `_seconds_total` with 1e-9).
  explicit Counter(double unit_scale = 1.0) : unit_scale_(unit_scale) {}
  double unit_scale() const { return unit_scale_; }
  void add(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
  double unit_scale_;
};

class Gauge {
 public:
  explicit Gauge(double unit_scale = 1.0) : unit_scale_(unit_scale) {}
  double unit_scale() const { return unit_scale_; }
  void set(std::int64_t v) { value_.store(v, std::memory_order_relaxed); }
  void add(std::int64_t d) { value_.fetch_add(d, std::memory_order_relaxed); }
  std::int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> value_{0};
  double unit_scale_;
};

// Log-scale histogram of non-negative integer observations (a unit of the
// caller's choice: nanoseconds, bytes, items). Buckets: 0, then 8 per power of
// two up to 2^48, so a quantile read from bucket bounds is within 9.1 % of the
// true value. The exposition scales by `unit_scale` (1e-9 turns ns into the
// `_seconds` Prometheus convention).
class Histogram {
 public:
  static constexpr unsigned sub_buckets_log2 = 3;  // 8 per octave
  static constexpr unsigned octaves = 48;
  static constexpr std::size_t bucket_count = 1 + (octaves << sub_buckets_log2) + 1;  // zero, octaves, overflow

  explicit Histogram(double unit_scale = 1.0) : unit_scale_(unit_scale) {}

  void observe(std::uint64_t value) {
    buckets_[bucket_of(value)].fetch_add(1, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(value, std::memory_order_relaxed);
  }

  std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  std::uint64_t sum() const { return sum_.load(std::memory_order_relaxed); }
  // The upper bound of the bucket holding quantile q (0 < q <= 1), in the
  // caller's unit; 0 when empty.
  std::uint64_t quantile(double q) const;
  double unit_scale() const { return unit_scale_; }

  static std::size_t bucket_of(std::uint64_t value);
  // Largest value that falls in bucket i (inclusive upper bound).
  static std::uint64_t bucket_upper(std::size_t i);
  std::uint64_t bucket_value(std::size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }

 private:
  std::array<std::atomic<std::uint64_t>, bucket_count> buckets_{};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_{0};
  double unit_scale_;
};

enum class MetricsError : std::uint8_t {
  bad_name,       // not [a-z_][a-z0-9_]* with the kestrel_ prefix
  bad_label,      // a label name that is not [a-z_][a-z0-9_]*
  type_conflict,  // the family exists with another type or help
  counter_suffix, // a counter must end in _total
  full,           // limits::metric_series_max reached
};
const char* describe(MetricsError error);

using Labels = std::vector<std::pair<std::string, std::string>>;

class Registry {
 public:
  Result<Counter*, MetricsError> counter(std::string_view name, std::string_view help, Labels labels = {},
                                         double unit_scale = 1.0);
  // unit_scale: the exposition multiplies the integer value by it (a gauge kept
  // in milliseconds is exposed in seconds with 1e-3).
  Result<Gauge*, MetricsError> gauge(std::string_view name, std::string_view help, Labels labels = {},
                                     double unit_scale = 1.0);
  Result<Histogram*, MetricsError> histogram(std::string_view name, std::string_view help,
                                             double unit_scale = 1.0, Labels labels = {});
  std::string prometheus_text() const;
  std::size_t series() const;

 private:
  enum class Kind : std::uint8_t { counter, gauge, histogram };
  struct Family {
    Kind kind;
    std::string help;
    std::map<Labels, std::unique_ptr<Counter>> counters;
    std::map<Labels, std::unique_ptr<Gauge>> gauges;
    std::map<Labels, std::unique_ptr<Histogram>> histograms;
  };
  Result<Family*, MetricsError> family(std::string_view name, std::string_view help, Kind kind,
                                       const Labels& labels);
  mutable std::mutex mutex_;
  std::map<std::string, Family, std::less<>> families_;
  std::size_t series_ = 0;
};

// The process-wide registry the node exposes at /metrics.
Registry& global_registry();

// Sets kestrel_process_cpu_seconds, kestrel_process_resident_memory_bytes and
// kestrel_process_peak_resident_memory_bytes in `registry` from getrusage and
// /proc/self/statm. Meant for a once-a-second refresh (it registers by name).
void update_process_metrics(Registry& registry);

}  // namespace kestrel::perf
