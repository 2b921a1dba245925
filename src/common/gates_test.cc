#include "common/gates.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace kestrel {
namespace {

TEST(GatesTest, TableIsInEnumOrderWithUniqueNames) {
  std::set<std::string_view> names;
  std::size_t i = 0;
  for (const auto& info : all_gates()) {
    EXPECT_EQ(static_cast<std::size_t>(info.gate), i++);
    EXPECT_TRUE(names.insert(info.name).second) << info.name;
    EXPECT_FALSE(info.description.empty());
    EXPECT_FALSE(info.risk_note.empty());
    EXPECT_NE(info.name.find('.'), std::string_view::npos) << "names are subsystem.name";
  }
  EXPECT_EQ(i, static_cast<std::size_t>(Gate::count_));
}

TEST(GatesTest, FindByNameAndUnknownIsError) {
  EXPECT_EQ(*find_gate("crypto.avx2"), Gate::crypto_avx2);
  EXPECT_EQ(find_gate("crypto.avx3").error(), GateError::unknown_gate);
  EXPECT_EQ(find_gate("").error(), GateError::unknown_gate);
}

TEST(GatesTest, SetResetAndScoped) {
  reset_gates();
  const bool initial = gate_enabled(Gate::crypto_avx2);
  EXPECT_EQ(initial, gate_info(Gate::crypto_avx2).default_enabled);
  {
    ScopedGate off(Gate::crypto_avx2, !initial);
    EXPECT_EQ(gate_enabled(Gate::crypto_avx2), !initial);
  }
  EXPECT_EQ(gate_enabled(Gate::crypto_avx2), initial);
  set_gate(Gate::crypto_avx2, !initial);
  reset_gates();
  EXPECT_EQ(gate_enabled(Gate::crypto_avx2), initial);
}

}  // namespace
}  // namespace kestrel
