// Helpers shared by the store's tests (storage_test.cc, open_test.cc): a
// temporary directory, options, deterministic commits and their checks.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>

#include "common/prng.h"
#include "storage/storage.h"

namespace kestrel::storage::test {

namespace fs = std::filesystem;

inline Hash32 cluster_a() { return sha256(as_bytes("cluster a")); }

inline Bytes unit_bytes(std::uint64_t sequence) {
  Prng prng(sequence);
  Bytes b(100 + sequence % 300);
  prng.fill(b);
  return b;
}
inline Hash32 unit_id(std::uint64_t sequence) { return sha256(unit_bytes(sequence)); }
inline Bytes proof_bytes(std::uint64_t sequence) { return Bytes(50, static_cast<std::uint8_t>(sequence)); }
inline Bytes receipt_bytes(std::uint64_t height) { return Bytes(3, static_cast<std::uint8_t>(height + 1)); }
inline Hash32 digest_of(std::uint64_t height) { return sha256(as_bytes("digest " + std::to_string(height))); }

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("kestrel-storage-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    fs::remove_all(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string path() const { return path_.string(); }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

inline Options options_for(const TempDir& dir, std::uint64_t keep = 10000) {
  Options o;
  o.path = dir.path();
  o.cluster_id = cluster_a();
  o.keep_commits = keep;
  return o;
}

inline std::unique_ptr<Store> open_ok(const Options& o) {
  std::string detail;
  auto s = Store::open(o, &detail);
  EXPECT_TRUE(s.ok()) << detail;
  return s.ok() ? std::move(s).value() : nullptr;
}

inline void commit(Store& store, std::uint64_t sequence) {
  auto s = store.append_commit(sequence, unit_id(sequence), unit_bytes(sequence), proof_bytes(sequence));
  ASSERT_TRUE(s.ok()) << sequence << ": " << describe(s.error());
}
inline void execute(Store& store, std::uint64_t height, std::span<const StateWrite> writes = {}) {
  auto s = store.apply_execution(height, receipt_bytes(height), writes, digest_of(height));
  ASSERT_TRUE(s.ok()) << height << ": " << describe(s.error());
}
inline void advance(Store& store, std::uint64_t height) {
  ASSERT_NO_FATAL_FAILURE(commit(store, height));
  ASSERT_NO_FATAL_FAILURE(execute(store, height));
}

inline void expect_commit(Store& store, std::uint64_t sequence) {
  auto c = store.commit_at(sequence);
  ASSERT_TRUE(c.ok()) << sequence << ": " << describe(c.error());
  EXPECT_EQ(c->id, unit_id(sequence));
  EXPECT_EQ(*c->unit, unit_bytes(sequence));
  EXPECT_EQ(c->proof, proof_bytes(sequence));
  auto by_id = store.sequence_of(unit_id(sequence));
  ASSERT_TRUE(by_id.ok()) << sequence;
  EXPECT_EQ(*by_id, sequence);
  auto unit = store.unit(unit_id(sequence));
  ASSERT_TRUE(unit.ok()) << sequence;
  EXPECT_EQ(**unit, unit_bytes(sequence));
}
inline void expect_executed(Store& store, std::uint64_t height) {
  auto receipts = store.receipts(height);
  ASSERT_TRUE(receipts.ok()) << height << ": " << describe(receipts.error());
  EXPECT_EQ(*receipts, receipt_bytes(height));
  auto digest = store.state_digest_at(height);
  ASSERT_TRUE(digest.ok()) << height;
  EXPECT_EQ(*digest, digest_of(height));
}

inline std::map<Bytes, Bytes> journal_of(Store& store) {
  auto entries = store.journal();
  EXPECT_TRUE(entries.ok());
  return entries.ok() ? std::map<Bytes, Bytes>(entries->begin(), entries->end()) : std::map<Bytes, Bytes>{};
}
inline std::map<Hash32, Bytes> units_of(Store& store) {
  auto units = store.journal_units();
  EXPECT_TRUE(units.ok());
  return units.ok() ? std::map<Hash32, Bytes>(units->begin(), units->end()) : std::map<Hash32, Bytes>{};
}

}  // namespace kestrel::storage::test
