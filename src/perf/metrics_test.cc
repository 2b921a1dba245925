#include <gtest/gtest.h>

#include <sstream>
#include <thread>

#include "common/limits.h"
#include "common/prng.h"
#include "perf/perf.h"

namespace kestrel::perf {
namespace {

TEST(HistogramTest, BucketsAreMonotonicAndCoverEveryValue) {
  // Every value lands in a bucket whose upper bound is >= it and whose previous
  // bucket's upper bound is < it.
  Prng prng(1);
  for (int i = 0; i < 100000; ++i) {
    const std::uint64_t v = prng.next_u64() >> prng.uniform(64);
    const std::size_t b = Histogram::bucket_of(v);
    ASSERT_GE(Histogram::bucket_upper(b), v);
    if (b > 0) {
      ASSERT_LT(Histogram::bucket_upper(b - 1), v) << v;
    }
  }
  for (std::uint64_t v = 0; v < 5000; ++v) {
    const std::size_t b = Histogram::bucket_of(v);
    ASSERT_GE(Histogram::bucket_upper(b), v);
    if (b > 0) {
      ASSERT_LT(Histogram::bucket_upper(b - 1), v);
    }
  }
  for (std::size_t i = 1; i < Histogram::bucket_count; ++i) {
    ASSERT_GE(Histogram::bucket_upper(i), Histogram::bucket_upper(i - 1));
  }
}

TEST(HistogramTest, QuantilesWithinBucketError) {
  Histogram h;
  for (std::uint64_t v = 1; v <= 100000; ++v) h.observe(v);
  for (double q : {0.5, 0.95, 0.99}) {
    const double exact = q * 100000;
    const double got = static_cast<double>(h.quantile(q));
    EXPECT_GE(got, exact);
    EXPECT_LE(got, exact * 1.0913) << q;  // 8 buckets per octave: at most 2^(1/8) - 1 above
  }
  EXPECT_EQ(h.count(), 100000u);
  EXPECT_EQ(h.sum(), 100000ull * 100001 / 2);
  Histogram empty;
  EXPECT_EQ(empty.quantile(0.5), 0u);
}

TEST(RegistryTest, NamingRulesAreEnforced) {
  Registry r;
  EXPECT_EQ(r.counter("votes_total", "x").error(), MetricsError::bad_name);
  EXPECT_EQ(r.counter("kestrel_Votes_total", "x").error(), MetricsError::bad_name);
  EXPECT_EQ(r.counter("kestrel_votes", "x").error(), MetricsError::counter_suffix);
  EXPECT_EQ(r.counter("kestrel_votes_total", "x", {{"Peer", "1"}}).error(), MetricsError::bad_label);
  EXPECT_EQ(r.histogram("kestrel_h_seconds", "x", 1e-9, {{"le", "1"}}).error(), MetricsError::bad_label);
  ASSERT_TRUE(r.counter("kestrel_votes_total", "votes").ok());
  EXPECT_EQ(r.gauge("kestrel_votes_total", "votes").error(), MetricsError::type_conflict);
  EXPECT_EQ(r.counter("kestrel_votes_total", "other help").error(), MetricsError::type_conflict);
}

TEST(RegistryTest, SameNameAndLabelsGiveTheSameSeries) {
  Registry r;
  Counter* a = *r.counter("kestrel_frames_total", "frames", {{"peer", "1"}});
  Counter* b = *r.counter("kestrel_frames_total", "frames", {{"peer", "1"}});
  Counter* c = *r.counter("kestrel_frames_total", "frames", {{"peer", "2"}});
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(r.series(), 2u);
  // Label order does not make a new series.
  Counter* d = *r.counter("kestrel_msgs_total", "m", {{"peer", "1"}, {"type", "vote"}});
  Counter* e = *r.counter("kestrel_msgs_total", "m", {{"type", "vote"}, {"peer", "1"}});
  EXPECT_EQ(d, e);
}

TEST(RegistryTest, SeriesAreBounded) {
  Registry r;
  std::size_t made = 0;
  for (std::size_t i = 0; i < limits::metric_series_max + 10; ++i) {
    auto c = r.counter("kestrel_x_total", "x", {{"id", std::to_string(i)}});
    if (c.ok()) {
      ++made;
    } else {
      EXPECT_EQ(c.error(), MetricsError::full);
    }
  }
  EXPECT_EQ(made, limits::metric_series_max);
}

TEST(RegistryTest, PrometheusTextFormat) {
  Registry r;
  (*r.counter("kestrel_votes_total", "Votes sent", {{"peer", "2"}}))->add(3);
  (*r.counter("kestrel_votes_total", "Votes sent", {{"peer", "1"}}))->add(5);
  (*r.gauge("kestrel_view", "Current view"))->set(42);
  (*r.gauge("kestrel_cpu_seconds", "CPU", {}, 1e-3))->set(1500);
  (*r.counter("kestrel_drops_total", "Drops", {{"reason", "a\"b\\c\nd"}}))->add();
  Histogram* h = *r.histogram("kestrel_latency_seconds", "Latency", 1e-9);
  h->observe(1000);      // 1 µs
  h->observe(2000000);   // 2 ms
  const std::string text = r.prometheus_text();
  // Families sorted by name, series by labels; HELP/TYPE once per family.
  EXPECT_NE(text.find("# HELP kestrel_votes_total Votes sent\n# TYPE kestrel_votes_total counter\n"
                      "kestrel_votes_total{peer=\"1\"} 5\nkestrel_votes_total{peer=\"2\"} 3\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("kestrel_view 42\n"), std::string::npos);
  EXPECT_NE(text.find("kestrel_cpu_seconds 1.5\n"), std::string::npos);
  EXPECT_NE(text.find("kestrel_drops_total{reason=\"a\\\"b\\\\c\\nd\"} 1\n"), std::string::npos) << text;
  EXPECT_LT(text.find("kestrel_cpu_seconds"), text.find("kestrel_drops_total"));
  EXPECT_NE(text.find("# TYPE kestrel_latency_seconds histogram\n"), std::string::npos);
  EXPECT_NE(text.find("kestrel_latency_seconds_bucket{le=\"+Inf\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("kestrel_latency_seconds_count 2\n"), std::string::npos);
  EXPECT_NE(text.find("kestrel_latency_seconds_sum 0.002001\n"), std::string::npos) << text;
  // Cumulative buckets never decrease, and the last finite one holds both observations.
  std::istringstream lines(text);
  std::string line;
  std::uint64_t previous = 0;
  int buckets = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("kestrel_latency_seconds_bucket", 0) != 0) continue;
    const std::uint64_t v = std::stoull(line.substr(line.rfind(' ') + 1));
    EXPECT_GE(v, previous);
    previous = v;
    ++buckets;
  }
  EXPECT_GT(buckets, 10);
  EXPECT_EQ(previous, 2u);
}

TEST(RegistryTest, ConcurrentUpdatesAreNotLost) {
  Registry r;
  Counter* c = *r.counter("kestrel_c_total", "c");
  Histogram* h = *r.histogram("kestrel_h", "h");
  auto work = [&] {
    for (int i = 0; i < 200000; ++i) {
      c->add();
      h->observe(static_cast<std::uint64_t>(i));
    }
  };
  std::thread a(work), b(work);
  a.join();
  b.join();
  EXPECT_EQ(c->value(), 400000u);
  EXPECT_EQ(h->count(), 400000u);
}

TEST(ProcessMetricsTest, ReportsNonZeroResidentMemory) {
  Registry r;
  update_process_metrics(r);
  const std::string text = r.prometheus_text();
  EXPECT_NE(text.find("kestrel_process_resident_memory_bytes "), std::string::npos);
  EXPECT_EQ(text.find("kestrel_process_resident_memory_bytes 0\n"), std::string::npos);
}

}  // namespace
}  // namespace kestrel::perf
