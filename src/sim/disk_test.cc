#include "sim/disk.h"

#include <gtest/gtest.h>

namespace kestrel::sim {
namespace {

consensus::JournalOp put(std::string key, std::string value) {
  return {consensus::JournalOp::Kind::put, Bytes(key.begin(), key.end()), Bytes(value.begin(), value.end())};
}
consensus::JournalOp erase(std::string key) {
  return {consensus::JournalOp::Kind::erase, Bytes(key.begin(), key.end()), {}};
}

std::string get(const Disk& disk, std::string key) {
  auto it = disk.journal().find(Bytes(key.begin(), key.end()));
  return it == disk.journal().end() ? "<none>" : std::string(it->second.begin(), it->second.end());
}

consensus::Commit commit(consensus::Sequence sequence) {
  consensus::Commit c;
  c.sequence = sequence;
  c.id.bytes[0] = static_cast<std::uint8_t>(sequence);
  return c;
}

TEST(DiskTest, DurableWriteAppliesPutsAndErasesInOrder) {
  Disk disk(4);
  disk.write({put("a", "1"), put("b", "1"), put("a", "2"), erase("b")}, 4);
  EXPECT_EQ(get(disk, "a"), "2");
  EXPECT_EQ(get(disk, "b"), "<none>");
  EXPECT_EQ(disk.journal().size(), 1u);
}

// A crash keeps a prefix of the step's operations and nothing after it; what
// earlier steps made durable stays as it was.
TEST(DiskTest, CrashKeepsOnlyTheDurablePrefix) {
  const std::vector<consensus::JournalOp> step = {put("a", "2"), put("b", "2"), erase("c"), put("d", "2")};
  const char* expected[5][4] = {
      {"1", "1", "1", "<none>"},  // cut before the first operation
      {"2", "1", "1", "<none>"},
      {"2", "2", "1", "<none>"},
      {"2", "2", "<none>", "<none>"},
      {"2", "2", "<none>", "2"},  // the whole step
  };
  for (std::size_t durable = 0; durable <= step.size(); ++durable) {
    Disk disk(4);
    disk.write({put("a", "1"), put("b", "1"), put("c", "1")}, 3);
    disk.write(step, durable);
    EXPECT_EQ(get(disk, "a"), expected[durable][0]) << durable;
    EXPECT_EQ(get(disk, "b"), expected[durable][1]) << durable;
    EXPECT_EQ(get(disk, "c"), expected[durable][2]) << durable;
    EXPECT_EQ(get(disk, "d"), expected[durable][3]) << durable;
  }
}

TEST(DiskTest, CommitStreamKeepsABoundedTail) {
  Disk disk(3);
  EXPECT_FALSE(disk.last_committed());
  disk.append({commit(1), commit(2)});
  disk.append({});
  disk.append({commit(3), commit(4), commit(5)});
  ASSERT_EQ(disk.commit_tail().size(), 3u);
  EXPECT_EQ(disk.commit_tail().front().sequence, 3u);
  EXPECT_EQ(disk.commit_tail().back().sequence, 5u);
  EXPECT_EQ(*disk.last_committed(), 5u);
}

TEST(DiskTest, CommitStreamIsGapFree) {
  Disk disk(3);
  disk.append({commit(7)});  // a stream may begin above 1 (disk.h)
  EXPECT_DEATH(disk.append({commit(9)}), "assertion failed");
}

}  // namespace
}  // namespace kestrel::sim
