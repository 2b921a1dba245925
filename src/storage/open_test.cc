// Opening a store: what it refuses (another cluster, a missing or foreign
// directory, a second open, corruption, other formats, inconsistent heights) and
// what a reopen with another keep_commits does.
#include "storage/storage.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <rocksdb/db.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "common/gates.h"
#include "common/limits.h"
#include "common/prng.h"
#include "storage/test_util.h"

namespace kestrel::storage {
namespace {

using namespace test;
namespace fs = std::filesystem;

TEST(StoreOpenTest, RefusesAnotherCluster) {
  TempDir dir;
  { ASSERT_TRUE(open_ok(options_for(dir))); }
  auto o = options_for(dir);
  o.cluster_id = sha256(as_bytes("cluster b"));
  std::string detail;
  auto s = Store::open(o, &detail);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error(), StorageError::wrong_cluster);
  EXPECT_NE(detail.find(cluster_a().hex()), std::string::npos) << detail;
}

TEST(StoreOpenTest, RefusesMissingAndForeignDirectories) {
  TempDir dir;
  auto o = options_for(dir);
  o.create_if_missing = false;
  EXPECT_EQ(Store::open(o).error(), StorageError::missing);
  fs::create_directories(dir.path());
  std::ofstream(dir.path() + "/notes.txt") << "not a database";
  EXPECT_EQ(Store::open(options_for(dir)).error(), StorageError::not_a_store);
  o.keep_commits = 0;
  EXPECT_EQ(Store::open(o).error(), StorageError::invalid_options);
  o.keep_commits = limits::storage_keep_commits_max + 1;
  EXPECT_EQ(Store::open(o).error(), StorageError::invalid_options);
}

TEST(StoreOpenTest, RefusesSecondOpenWhileLocked) {
  TempDir dir;
  auto first = open_ok(options_for(dir));
  ASSERT_TRUE(first);
  auto second = Store::open(options_for(dir));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error(), StorageError::locked);
}

TEST(StoreOpenTest, RefusesCorruptTable) {
  TempDir dir;
  {
    auto store = open_ok(options_for(dir));
    for (std::uint64_t h = 1; h <= 50; ++h) ASSERT_NO_FATAL_FAILURE(advance(*store, h));
    ASSERT_TRUE(store->flush().ok());
  }  // closing flushes memtables to .sst files
  std::size_t corrupted = 0;
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    if (entry.path().extension() != ".sst") continue;
    std::fstream f(entry.path(), std::ios::in | std::ios::out | std::ios::binary);
    const auto size = fs::file_size(entry.path());
    for (std::uint64_t at = 0; at < size / 2; at += 97) {  // the data blocks, not the footer
      f.seekg(static_cast<std::streamoff>(at));
      char c = 0;
      f.read(&c, 1);
      f.seekp(static_cast<std::streamoff>(at));
      c = static_cast<char>(c ^ 0x5a);
      f.write(&c, 1);
    }
    ++corrupted;
  }
  ASSERT_GT(corrupted, 0u);
  std::string detail;
  auto s = Store::open(options_for(dir), &detail);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error(), StorageError::corrupt) << describe(s.error()) << ": " << detail;
  EXPECT_FALSE(detail.empty());
}

std::string u64_le_string(std::uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>(v >> (8 * i));
  return s;
}
std::string be_key(std::uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>(v >> (56 - 8 * i));
  return s;
}
std::string string_of(ByteSpan b) { return std::string(b.begin(), b.end()); }

// A store as an earlier release left it, written with RocksDB directly: its column
// families and its metadata (the keys and encodings of those releases' storage.cc),
// and, for format 2, one committed block with everything that went with it, one
// pending block and a safety record.
void write_old_store(const std::string& path, std::uint64_t version) {
  const std::vector<std::string> format_1{"default", "blocks", "certificates", "safety", "heights", "receipts", "state"};
  std::vector<std::string> names = format_1;
  if (version == 2) {
    names.push_back("digests");
    names.push_back("pending_blocks");
  }
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const auto& name : names) families.emplace_back(name, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(db_options, path, families, &handles, &db).ok());
  auto put = [&](std::size_t family, const std::string& key, const std::string& value) {
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), handles[family], key, value).ok());
  };
  put(0, "magic", "kestrel-store");
  put(0, "format_version", u64_le_string(version));
  put(0, "cluster_id", string_of(cluster_a().span()));
  put(0, "committed_height", u64_le_string(version == 2 ? 1 : 0));
  put(0, "first_kept_height", u64_le_string(1));
  if (version == 2) {
    const std::string id = string_of(unit_id(1).span()), pending = string_of(unit_id(2).span());
    put(1, id, string_of(unit_bytes(1)));                         // blocks
    put(2, id, string_of(proof_bytes(1)));                        // certificates
    put(3, "safety_record", "view 2");                            // safety
    put(4, be_key(1), id);                                        // heights
    put(5, be_key(1), string_of(receipt_bytes(1)));               // receipts
    put(6, "account", "balance");                                 // state
    put(7, be_key(1), string_of(digest_of(1).span()));            // digests
    put(1, pending, string_of(unit_bytes(2)));                    // a pending block's bytes ...
    put(8, pending, u64_le_string(unit_bytes(2).size()));         // ... and its marker
  }
  for (auto* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
  delete db;
}

// Formats 1 and 2 are refused, named, and left untouched (nothing converted, no
// family of format 3 created): the release that wrote one still opens it.
TEST(StoreOpenTest, RefusesFormats1And2) {
  for (std::uint64_t version : {1u, 2u}) {
    TempDir dir;
    ASSERT_NO_FATAL_FAILURE(write_old_store(dir.path(), version));
    std::vector<std::string> before;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir.path(), &before).ok());
    std::string detail;
    auto s = Store::open(options_for(dir), &detail);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error(), StorageError::format_version) << detail;
    const std::string expected =
        "the store is format " + std::to_string(version) + ", this build reads format 3 (no conversion: ";
    EXPECT_NE(detail.find(expected), std::string::npos) << detail;
    std::vector<std::string> after;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir.path(), &after).ok());
    EXPECT_EQ(after, before);
  }
}

// Rewrites one metadata record of a format 3 store behind its back.
void rewrite_meta(const std::string& path, const std::string& key, const std::string& value) {
  std::vector<std::string> names;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const auto& name : names) families.emplace_back(name, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), path, families, &handles, &db).ok());
  ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), db->DefaultColumnFamily(), key, value).ok());
  for (auto* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
  delete db;
}

TEST(StoreOpenTest, RefusesANewerFormat) {
  TempDir dir;
  { ASSERT_TRUE(open_ok(options_for(dir))); }
  ASSERT_NO_FATAL_FAILURE(rewrite_meta(dir.path(), "format_version", u64_le_string(4)));
  std::string detail;
  auto s = Store::open(options_for(dir), &detail);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error(), StorageError::format_version);
  EXPECT_NE(detail.find("the store is format 4, this build reads format 3 (a newer build"), std::string::npos)
      << detail;
}

TEST(StoreOpenTest, RefusesInconsistentHeights) {
  TempDir dir;
  {
    auto store = open_ok(options_for(dir));
    ASSERT_TRUE(store);
    for (std::uint64_t h = 1; h <= 3; ++h) ASSERT_NO_FATAL_FAILURE(advance(*store, h));
    ASSERT_TRUE(store->flush().ok());
  }
  // Executed above committed: execution never runs ahead of the stream.
  ASSERT_NO_FATAL_FAILURE(rewrite_meta(dir.path(), "executed_height", u64_le_string(4)));
  std::string detail;
  auto s = Store::open(options_for(dir), &detail);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error(), StorageError::corrupt);
  EXPECT_NE(detail.find("executed 4"), std::string::npos) << detail;
  // The first kept height above the executed one: pruning never goes there.
  ASSERT_NO_FATAL_FAILURE(rewrite_meta(dir.path(), "executed_height", u64_le_string(2)));
  ASSERT_NO_FATAL_FAILURE(rewrite_meta(dir.path(), "first_kept_height", u64_le_string(3)));
  EXPECT_EQ(Store::open(options_for(dir)).error(), StorageError::corrupt);
  // Both back: it opens.
  ASSERT_NO_FATAL_FAILURE(rewrite_meta(dir.path(), "first_kept_height", u64_le_string(1)));
  auto store = open_ok(options_for(dir));
  ASSERT_TRUE(store);
  EXPECT_EQ(store->executed_height(), 2u);
  ASSERT_NO_FATAL_FAILURE(execute(*store, 3));
}

TEST(StoreOpenTest, ReopenWithLargerKeepLeavesPrunedHeightsPruned) {
  TempDir dir;
  {
    auto store = open_ok(options_for(dir, 2));
    for (std::uint64_t h = 1; h <= 3; ++h) ASSERT_NO_FATAL_FAILURE(advance(*store, h));
    ASSERT_TRUE(store->flush().ok());
  }
  auto store = open_ok(options_for(dir, 100));
  ASSERT_TRUE(store);
  EXPECT_EQ(store->first_kept_height(), 2u);
  EXPECT_EQ(store->commit_at(1).error(), StorageError::pruned);
  ASSERT_NO_FATAL_FAILURE(expect_commit(*store, 3));
}

TEST(StoreOpenTest, ReopenWithSmallerKeepPrunesABoundedBacklogPerCall) {
  TempDir dir;
  {
    auto store = open_ok(options_for(dir, 1000));
    for (std::uint64_t h = 1; h <= 300; ++h) ASSERT_NO_FATAL_FAILURE(advance(*store, h));
    ASSERT_TRUE(store->flush().ok());
  }
  auto store = open_ok(options_for(dir, 1));
  ASSERT_TRUE(store);
  EXPECT_EQ(store->first_kept_height(), 1u);
  ASSERT_NO_FATAL_FAILURE(commit(*store, 301));
  EXPECT_EQ(store->first_kept_height(), 1 + limits::storage_prune_commits_per_call_max);
  ASSERT_NO_FATAL_FAILURE(execute(*store, 301));
  EXPECT_EQ(store->first_kept_height(), 1 + 2 * limits::storage_prune_commits_per_call_max);
  for (std::uint64_t h = 302; h <= 310; ++h) ASSERT_NO_FATAL_FAILURE(advance(*store, h));
  EXPECT_EQ(store->first_kept_height(), 310u);  // caught up: the last commit only
}

}  // namespace
}  // namespace kestrel::storage
