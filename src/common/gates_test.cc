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

// crypto.avx512 (the AVX-512 Keccak) takes effect only with crypto.avx2 on,
// without a declared dependency: turning crypto.avx2 off alone stays a valid
// setting (keccak_test checks that the portable permutation runs then).
TEST(GatesTest, Avx512IsNotADeclaredDependency) {
  EXPECT_EQ(*find_gate("crypto.avx512"), Gate::crypto_avx512);
  EXPECT_EQ(gate_info(Gate::crypto_avx512).required_gate, Gate::count_);
  ScopedGate avx2(Gate::crypto_avx2, false);
  ScopedGate avx512(Gate::crypto_avx512, true);
  EXPECT_TRUE(check_gate_dependencies().ok());
}

TEST(GatesTest, FindByNameAndUnknownIsError) {
  EXPECT_EQ(*find_gate("crypto.avx2"), Gate::crypto_avx2);
  EXPECT_EQ(find_gate("crypto.avx3").error(), GateError::unknown_gate);
  EXPECT_EQ(find_gate("").error(), GateError::unknown_gate);
}

TEST(GatesTest, ParseSettings) {
  auto off = parse_gate_setting("crypto.avx2=off");
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(off->gate, Gate::crypto_avx2);
  EXPECT_FALSE(off->enabled);
  EXPECT_TRUE(parse_gate_setting("crypto.avx2=on")->enabled);
  EXPECT_TRUE(parse_gate_setting("crypto.avx2=1")->enabled);
  EXPECT_FALSE(parse_gate_setting("crypto.avx2=false")->enabled);
  EXPECT_EQ(parse_gate_setting("crypto.avx2").error(), GateError::bad_setting);
  EXPECT_EQ(parse_gate_setting("crypto.avx2=maybe").error(), GateError::bad_setting);
  EXPECT_EQ(parse_gate_setting("crypto.avx3=on").error(), GateError::unknown_gate);
}

TEST(GatesTest, JsonListsEveryGateWithItsState) {
  reset_gates();
  ScopedGate off(Gate::crypto_avx2, false);
  const std::string json = gates_json();
  EXPECT_EQ(json.front(), '[');
  EXPECT_EQ(json.back(), ']');
  for (const auto& info : all_gates()) {
    EXPECT_NE(json.find("\"name\":\"" + std::string(info.name) + "\""), std::string::npos) << info.name;
    for (std::string_view text : {info.name, info.subsystem, info.description, info.risk_note}) {
      EXPECT_EQ(text.find_first_of("\"\\\n"), std::string_view::npos) << text;
    }
  }
  EXPECT_NE(json.find("\"name\":\"crypto.avx2\",\"enabled\":false,\"default\":true"), std::string::npos) << json;
}

TEST(GatesTest, DependenciesAreChecked) {
  // A synthetic table: gate 1 requires gate 0 (the real table declares a
  // requirement as soon as a gate has one).
  const GateInfo table[] = {
      {Gate::crypto_avx2, "a.base", "a", "base", GateRisk::low, "none", true},
      {Gate::common_sha256_reuse_context, "a.tuner", "a", "tunes the base", GateRisk::low, "none", true,
       Gate::crypto_avx2},
  };
  Gate offender = Gate::count_;
  EXPECT_TRUE(check_gate_dependencies(table, std::array<bool, 2>{true, true}, &offender).ok());
  EXPECT_TRUE(check_gate_dependencies(table, std::array<bool, 2>{false, false}, &offender).ok());
  EXPECT_TRUE(check_gate_dependencies(table, std::array<bool, 2>{true, false}, &offender).ok());
  EXPECT_EQ(check_gate_dependencies(table, std::array<bool, 2>{false, true}, &offender).error(),
            GateError::dependency_off);
  EXPECT_EQ(offender, Gate::common_sha256_reuse_context);
  // The real table, in its defaults, is consistent.
  reset_gates();
  EXPECT_TRUE(check_gate_dependencies().ok());
  for (const auto& info : all_gates()) EXPECT_NE(info.required_gate, info.gate) << info.name;
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
