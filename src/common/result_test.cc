#include "common/result.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace kestrel {
namespace {

enum class TestError { first, second };

Result<int, TestError> parse_positive(int x) {
  if (x <= 0) return Err(TestError::first);
  return x;
}

Result<int, TestError> doubled(int x) {
  KESTREL_TRY(parse_positive(x));
  return 2 * x;
}

Status<TestError> check(bool good) {
  if (!good) return Err(TestError::second);
  return {};
}

TEST(ResultTest, HoldsValueOrError) {
  auto good = parse_positive(3);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 3);
  auto bad = parse_positive(-1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error(), TestError::first);
}

TEST(ResultTest, TryPropagatesErrors) {
  EXPECT_EQ(*doubled(4), 8);
  EXPECT_EQ(doubled(0).error(), TestError::first);
}

TEST(ResultTest, VoidStatus) {
  EXPECT_TRUE(check(true).ok());
  EXPECT_EQ(check(false).error(), TestError::second);
}

TEST(ResultTest, MoveOnlyValues) {
  Result<std::unique_ptr<std::string>, TestError> r(std::make_unique<std::string>("x"));
  std::unique_ptr<std::string> taken = std::move(r).value();
  EXPECT_EQ(*taken, "x");
}

TEST(ResultDeathTest, ValueOfErrorAsserts) {
  auto bad = parse_positive(0);
  EXPECT_DEATH((void)bad.value(), "assertion failed");
  auto good = parse_positive(1);
  EXPECT_DEATH((void)good.error(), "assertion failed");
}

}  // namespace
}  // namespace kestrel
