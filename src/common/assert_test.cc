#include "common/assert.h"

#include <gtest/gtest.h>

namespace kestrel {
namespace {

TEST(AssertDeathTest, FailurePrintsFileLineAndExpression) {
  int x = 1;
  EXPECT_DEATH(KESTREL_ASSERT(x == 2), "assert_test.cc:[0-9]+: .*assertion failed: x == 2");
}

TEST(AssertTest, PassingAssertionDoesNothing) {
  int calls = 0;
  KESTREL_ASSERT(++calls == 1);  // evaluated exactly once
  EXPECT_EQ(calls, 1);
}

#ifndef NDEBUG
TEST(AssertDeathTest, DebugAssertFiresInDebugBuilds) {
  EXPECT_DEATH(KESTREL_DEBUG_ASSERT(1 + 1 == 3), "assertion failed");
}
#else
TEST(AssertTest, DebugAssertIsCompiledOutInRelease) {
  int calls = 0;
  KESTREL_DEBUG_ASSERT(++calls == 5);  // not evaluated
  EXPECT_EQ(calls, 0);
}
#endif

}  // namespace
}  // namespace kestrel
