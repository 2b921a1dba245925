// ML-KEM handlers for `kestrel kat` (FIPS 203; ACVP modes keyGen and
// encapDecap, see ../shared/testvectors/README.md):
//   keyGen                           KeyGen_internal(d, z) -> ek, dk (Algorithm 16)
//   encapDecap encapsulation         Encaps_internal(ek, m) -> c, k (Algorithm 17)
//   encapDecap decapsulation         Decaps(dk, c) -> k (Algorithm 21: checks + 18)
//   encapDecap encapsulationKeyCheck section 7.2 on ek -> testPassed
//   encapDecap decapsulationKeyCheck section 7.3 on dk -> testPassed
// The framework has already set the gate crypto.avx2 for the path under test.
#include <optional>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "crypto/mlkem.h"
#include "kat.h"

namespace kestrel::app {

namespace {

namespace mlkem = crypto::mlkem;

std::optional<mlkem::ParameterSet> parse_parameter_set(const std::string& name) {
  for (auto set : {mlkem::ParameterSet::ml_kem_512, mlkem::ParameterSet::ml_kem_768,
                   mlkem::ParameterSet::ml_kem_1024}) {
    if (name == mlkem::describe(set)) return set;
  }
  return std::nullopt;
}

// Counts a failure, keeping the first message.
void fail(KatCounts& counts, long tc_id, const std::string& what) {
  if (counts.failed == 0) counts.first_failure = "tcId " + std::to_string(tc_id) + ": " + what;
  ++counts.failed;
}

long tc_id_of(const nlohmann::json& test) {
  return test.contains("tcId") && test["tcId"].is_number_integer() ? test["tcId"].get<long>() : -1;
}

bool expected_passed(const nlohmann::json& test) {
  if (!test.contains("testPassed") || !test["testPassed"].is_boolean()) {
    throw KatFieldError{"missing boolean field 'testPassed'"};
  }
  return test["testPassed"].get<bool>();
}

// The whole group fails with one reason (unknown parameter set or function):
// every test is counted, none silently dropped.
KatCounts fail_group(const nlohmann::json& group, const std::string& reason) {
  KatCounts counts;
  const auto& tests = group.contains("tests") && group["tests"].is_array() ? group["tests"] : nlohmann::json::array();
  for (const auto& test : tests) fail(counts, tc_id_of(test), reason);
  if (counts.failed == 0) fail(counts, -1, reason + " (group has no tests)");
  return counts;
}

std::string mismatch(const char* field, const std::vector<std::uint8_t>& got) {
  std::string hex = to_hex(got);
  if (hex.size() > 32) hex = hex.substr(0, 32) + "...";
  return std::string(field) + " differs (got " + hex + ")";
}

template <typename Fn>
KatCounts for_each_test(const nlohmann::json& group, Fn&& fn) {
  KatCounts counts;
  if (!group.contains("tests") || !group["tests"].is_array()) return fail_group(group, "group has no 'tests' array");
  for (const auto& test : group["tests"]) {
    const long tc_id = tc_id_of(test);
    try {
      std::string failure = fn(test);
      if (failure.empty()) {
        ++counts.passed;
      } else {
        fail(counts, tc_id, failure);
      }
    } catch (const KatFieldError& e) {
      fail(counts, tc_id, e.message);
    }
  }
  return counts;
}

KatCounts run_keygen(const nlohmann::json& group, const KatOptions&) {
  const std::string set_name = group.value("parameterSet", std::string());
  const auto set = parse_parameter_set(set_name);
  if (!set) return fail_group(group, "unknown parameterSet '" + set_name + "'");
  const mlkem::Sizes sizes = mlkem::sizes(*set);
  return for_each_test(group, [&](const nlohmann::json& test) -> std::string {
    const auto d = kat_hex(test, "d");
    const auto z = kat_hex(test, "z");
    const auto expected_ek = kat_hex(test, "ek");
    const auto expected_dk = kat_hex(test, "dk");
    if (d.size() != mlkem::seed_bytes || z.size() != mlkem::seed_bytes) return "d or z is not 32 bytes";
    std::vector<std::uint8_t> ek(sizes.ek_bytes), dk(sizes.dk_bytes);
    auto status = mlkem::keygen_internal(*set, ek, dk, mlkem::Seed(d.data(), 32), mlkem::Seed(z.data(), 32));
    if (!status) return std::string("keygen failed: ") + mlkem::describe(status.error());
    if (ek != expected_ek) return mismatch("ek", ek);
    if (dk != expected_dk) return mismatch("dk", dk);
    return {};
  });
}

std::string run_encapsulation(mlkem::ParameterSet set, const nlohmann::json& test) {
  const auto ek = kat_hex(test, "ek");
  const auto m = kat_hex(test, "m");
  const auto expected_c = kat_hex(test, "c");
  const auto expected_k = kat_hex(test, "k");
  if (m.size() != mlkem::seed_bytes) return "m is not 32 bytes";
  std::vector<std::uint8_t> c(mlkem::sizes(set).ciphertext_bytes), k(mlkem::shared_key_bytes);
  auto status = mlkem::encaps_internal(set, mlkem::SharedKey(k.data(), 32), c, ek, mlkem::Seed(m.data(), 32));
  if (!status) return std::string("encaps failed: ") + mlkem::describe(status.error());
  if (c != expected_c) return mismatch("c", c);
  if (k != expected_k) return mismatch("k", k);
  return {};
}

std::string run_decapsulation(mlkem::ParameterSet set, const nlohmann::json& test) {
  const auto dk = kat_hex(test, "dk");
  const auto c = kat_hex(test, "c");
  const auto expected_k = kat_hex(test, "k");
  std::vector<std::uint8_t> k(mlkem::shared_key_bytes);
  auto status = mlkem::decaps(set, mlkem::SharedKey(k.data(), 32), c, dk);
  if (!status) return std::string("decaps failed: ") + mlkem::describe(status.error());
  if (k != expected_k) return mismatch("k", k);
  return {};
}

std::string run_key_check(mlkem::ParameterSet set, const nlohmann::json& test, bool encapsulation_key) {
  const bool expected = expected_passed(test);
  const auto key = kat_hex(test, encapsulation_key ? "ek" : "dk");
  auto status = encapsulation_key ? mlkem::check_encapsulation_key(set, key)
                                  : mlkem::check_decapsulation_key(set, key);
  if (status.ok() == expected) return {};
  return std::string("expected testPassed ") + (expected ? "true" : "false") + ", got " +
         (status.ok() ? "accepted" : std::string("rejected: ") + mlkem::describe(status.error()));
}

KatCounts run_encap_decap(const nlohmann::json& group, const KatOptions&) {
  const std::string set_name = group.value("parameterSet", std::string());
  const auto set = parse_parameter_set(set_name);
  if (!set) return fail_group(group, "unknown parameterSet '" + set_name + "'");
  const std::string function = group.contains("function") && group["function"].is_string()
                                   ? group["function"].get<std::string>()
                                   : std::string();
  if (function == "encapsulation") {
    return for_each_test(group, [&](const nlohmann::json& t) { return run_encapsulation(*set, t); });
  }
  if (function == "decapsulation") {
    return for_each_test(group, [&](const nlohmann::json& t) { return run_decapsulation(*set, t); });
  }
  if (function == "encapsulationKeyCheck" || function == "decapsulationKeyCheck") {
    const bool ek = function == "encapsulationKeyCheck";
    return for_each_test(group, [&](const nlohmann::json& t) { return run_key_check(*set, t, ek); });
  }
  return fail_group(group, "unknown function '" + function + "'");
}

}  // namespace

KESTREL_REGISTER_KAT("ML-KEM", "keyGen", run_keygen);
KESTREL_REGISTER_KAT("ML-KEM", "encapDecap", run_encap_decap);

}  // namespace kestrel::app
