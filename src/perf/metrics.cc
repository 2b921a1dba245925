#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <fstream>

#include "common/assert.h"
#include "common/limits.h"
#include "perf/perf.h"

namespace kestrel::perf {

const char* describe(MetricsError error) {
  switch (error) {
    case MetricsError::bad_name: return "metric name must match kestrel_[a-z0-9_]*";
    case MetricsError::bad_label: return "label name must match [a-z_][a-z0-9_]*";
    case MetricsError::type_conflict: return "metric exists with another type or help text";
    case MetricsError::counter_suffix: return "counter names end in _total";
    case MetricsError::full: return "too many metric series";
  }
  return "unknown metrics error";
}

// --- Histogram -----------------------------------------------------------------------

std::size_t Histogram::bucket_of(std::uint64_t value) {
  if (value == 0) return 0;
  const unsigned e = 63 - static_cast<unsigned>(std::countl_zero(value));  // floor(log2 value)
  if (e >= octaves) return bucket_count - 1;
  const std::uint64_t sub = e >= sub_buckets_log2 ? (value >> (e - sub_buckets_log2)) & 7
                                                  : (value << (sub_buckets_log2 - e)) & 7;
  const std::size_t index = 1 + (static_cast<std::size_t>(e) << sub_buckets_log2) + sub;
  KESTREL_DEBUG_ASSERT(index < bucket_count - 1);
  return index;
}

std::uint64_t Histogram::bucket_upper(std::size_t i) {
  KESTREL_ASSERT(i < bucket_count);
  if (i == 0) return 0;
  if (i == bucket_count - 1) return UINT64_MAX;
  const unsigned e = static_cast<unsigned>((i - 1) >> sub_buckets_log2);
  const std::uint64_t sub = (i - 1) & 7;
  if (e >= sub_buckets_log2) return ((9 + sub) << (e - sub_buckets_log2)) - 1;
  return (8 + sub) >> (sub_buckets_log2 - e);
}

std::uint64_t Histogram::quantile(double q) const {
  KESTREL_ASSERT(q > 0 && q <= 1);
  const std::uint64_t total = count();
  if (total == 0) return 0;
  const auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total)));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < bucket_count; ++i) {
    seen += bucket_value(i);
    if (seen >= rank) return bucket_upper(i);
  }
  return bucket_upper(bucket_count - 1);  // counts raced ahead of buckets
}

// --- Registry ------------------------------------------------------------------------

namespace {

bool valid_identifier(std::string_view s) {
  if (s.empty() || !(std::islower(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  for (char c : s) {
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_')) {
      return false;
    }
  }
  return true;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string escape_label_value(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string render_labels(const Labels& labels, const std::string& extra = {}) {
  if (labels.empty() && extra.empty()) return {};
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ",";
    first = false;
    out += k + "=\"" + escape_label_value(v) + "\"";
  }
  if (!extra.empty()) {
    if (!first) out += ",";
    out += extra;
  }
  return out + "}";
}

std::string format_double(double v) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.9g", v);
  return buffer;
}

}  // namespace

Result<Registry::Family*, MetricsError> Registry::family(std::string_view name, std::string_view help, Kind kind,
                                                          const Labels& labels) {
  if (!valid_identifier(name) || name.substr(0, 8) != "kestrel_") return Err(MetricsError::bad_name);
  if (kind == Kind::counter && !ends_with(name, "_total")) return Err(MetricsError::counter_suffix);
  for (const auto& [k, v] : labels) {
    if (!valid_identifier(k) || k == "le") return Err(MetricsError::bad_label);
  }
  auto it = families_.find(name);
  if (it == families_.end()) {
    it = families_.emplace(std::string(name), Family{kind, std::string(help), {}, {}, {}}).first;
  } else if (it->second.kind != kind || it->second.help != help) {
    return Err(MetricsError::type_conflict);
  }
  return &it->second;
}

Result<Counter*, MetricsError> Registry::counter(std::string_view name, std::string_view help, Labels labels,
                                                 double unit_scale) {
  std::sort(labels.begin(), labels.end());  // one series per label set, whatever the order given
  std::lock_guard lock(mutex_);
  auto f = family(name, help, Kind::counter, labels);
  if (!f) return Err(f.error());
  auto& slot = (*f)->counters[labels];
  if (!slot) {
    if (series_ >= limits::metric_series_max) {
      (*f)->counters.erase(labels);
      return Err(MetricsError::full);
    }
    slot = std::make_unique<Counter>(unit_scale);
    ++series_;
  }
  return slot.get();
}

Result<Gauge*, MetricsError> Registry::gauge(std::string_view name, std::string_view help, Labels labels,
                                             double unit_scale) {
  std::sort(labels.begin(), labels.end());
  std::lock_guard lock(mutex_);
  auto f = family(name, help, Kind::gauge, labels);
  if (!f) return Err(f.error());
  auto& slot = (*f)->gauges[labels];
  if (!slot) {
    if (series_ >= limits::metric_series_max) {
      (*f)->gauges.erase(labels);
      return Err(MetricsError::full);
    }
    slot = std::make_unique<Gauge>(unit_scale);
    ++series_;
  }
  return slot.get();
}

Result<Histogram*, MetricsError> Registry::histogram(std::string_view name, std::string_view help,
                                                     double unit_scale, Labels labels) {
  std::sort(labels.begin(), labels.end());
  std::lock_guard lock(mutex_);
  auto f = family(name, help, Kind::histogram, labels);
  if (!f) return Err(f.error());
  auto& slot = (*f)->histograms[labels];
  if (!slot) {
    if (series_ >= limits::metric_series_max) {
      (*f)->histograms.erase(labels);
      return Err(MetricsError::full);
    }
    slot = std::make_unique<Histogram>(unit_scale);
    ++series_;
  }
  return slot.get();
}

std::size_t Registry::series() const {
  std::lock_guard lock(mutex_);
  return series_;
}

std::string Registry::prometheus_text() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& [name, f] : families_) {
    const char* type = f.kind == Kind::counter ? "counter" : f.kind == Kind::gauge ? "gauge" : "histogram";
    out += "# HELP " + name + " " + f.help + "\n# TYPE " + name + " " + type + "\n";
    for (const auto& [labels, c] : f.counters) {
      const std::string value = c->unit_scale() == 1.0
                                    ? std::to_string(c->value())
                                    : format_double(static_cast<double>(c->value()) * c->unit_scale());
      out += name + render_labels(labels) + " " + value + "\n";
    }
    for (const auto& [labels, g] : f.gauges) {
      const std::string value = g->unit_scale() == 1.0
                                    ? std::to_string(g->value())
                                    : format_double(static_cast<double>(g->value()) * g->unit_scale());
      out += name + render_labels(labels) + " " + value + "\n";
    }
    for (const auto& [labels, h] : f.histograms) {
      // Cumulative buckets at octave boundaries up to the highest non-empty one.
      std::size_t highest = 0;
      for (std::size_t i = 0; i < Histogram::bucket_count; ++i) {
        if (h->bucket_value(i)) highest = i;
      }
      // Buckets are read once each; +Inf and _count use their sum, so a scrape
      // racing with observe() is still monotonic.
      std::uint64_t cumulative = 0;
      std::uint64_t total = 0;
      for (std::size_t i = 0; i < Histogram::bucket_count; ++i) total += h->bucket_value(i);
      const std::size_t per_octave = std::size_t{1} << Histogram::sub_buckets_log2;
      for (std::size_t i = 0; i < Histogram::bucket_count - 1; ++i) {
        cumulative += h->bucket_value(i);
        cumulative = std::min(cumulative, total);
        const bool octave_end = i == 0 || (i % per_octave) == 0;
        if (!octave_end) continue;
        const double le = static_cast<double>(Histogram::bucket_upper(i)) * h->unit_scale();
        out += name + "_bucket" + render_labels(labels, "le=\"" + format_double(le) + "\"") + " " +
               std::to_string(cumulative) + "\n";
        if (i >= highest) break;
      }
      out += name + "_bucket" + render_labels(labels, "le=\"+Inf\"") + " " + std::to_string(total) + "\n";
      out += name + "_sum" + render_labels(labels) + " " +
             format_double(static_cast<double>(h->sum()) * h->unit_scale()) + "\n";
      out += name + "_count" + render_labels(labels) + " " + std::to_string(total) + "\n";
    }
  }
  return out;
}

Registry& global_registry() {
  static Registry registry;
  return registry;
}

void update_process_metrics(Registry& registry) {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const double cpu_seconds = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                             static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  auto cpu = registry.gauge("kestrel_process_cpu_seconds", "CPU time used, user + system", {}, 1e-3);
  auto rss = registry.gauge("kestrel_process_resident_memory_bytes", "Resident set size");
  auto peak = registry.gauge("kestrel_process_peak_resident_memory_bytes", "Peak resident set size");
  if (!cpu || !rss || !peak) return;  // a full registry is an operating condition: skip this refresh
  (*cpu)->set(static_cast<std::int64_t>(cpu_seconds * 1000.0));
  (*peak)->set(static_cast<std::int64_t>(usage.ru_maxrss) * 1024);
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size_pages = 0, resident_pages = 0;
  if (statm >> size_pages >> resident_pages) {
    (*rss)->set(static_cast<std::int64_t>(resident_pages * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE))));
  }
}

}  // namespace kestrel::perf
