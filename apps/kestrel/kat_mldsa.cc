// `kestrel kat` handlers for ML-DSA (FIPS 204) ACVP files: keyGen, sigGen and
// sigVer, every interface of the format (internal with or without external mu,
// external pure, external pre-hash). See ../shared/testvectors/README.md.
//
// The handlers read only what the format defines (parameterSet, group options,
// test fields), so any ACVP-Server revision of these files runs here.
#include <algorithm>
#include <optional>
#include <string>

#include "common/bytes.h"
#include "crypto/mldsa.h"
#include "kat.h"

namespace kestrel::app {

namespace {

// A group whose own fields are malformed fails every one of its tests.
KatCounts failed_group(const nlohmann::json& group, const KatFieldError& error) {
  KatCounts counts;
  counts.failed = group.at("tests").size();
  counts.first_failure = "group: " + error.message;
  return counts;
}

namespace mldsa = crypto::mldsa;

std::optional<mldsa::ParameterSet> parameter_set(const nlohmann::json& group) {
  const std::string name = kat_string(group, "parameterSet");
  for (auto set : {mldsa::ParameterSet::ml_dsa_44, mldsa::ParameterSet::ml_dsa_65, mldsa::ParameterSet::ml_dsa_87}) {
    if (name == mldsa::parameter_set_name(set)) return set;
  }
  return std::nullopt;
}

bool group_flag(const nlohmann::json& group, const char* field) {
  if (!group.contains(field)) return false;
  if (!group[field].is_boolean()) throw KatFieldError{std::string("group field '") + field + "' is not a boolean"};
  return group[field].get<bool>();
}

void record_failure(KatCounts& counts, const nlohmann::json& test, const std::string& what) {
  ++counts.failed;
  if (counts.first_failure.empty()) {
    counts.first_failure = "tcId " + (test.contains("tcId") ? test["tcId"].dump() : std::string("?")) + ": " + what;
  }
}

// Runs fn(test) for each test, counting a KatFieldError as a failure of that test.
template <typename Fn>
KatCounts for_each_test(const nlohmann::json& group, Fn&& fn) {
  KatCounts counts;
  std::optional<mldsa::ParameterSet> set;
  try {
    set = parameter_set(group);
  } catch (const KatFieldError& e) {
    return failed_group(group, e);
  }
  if (!set) {
    counts.skipped = group.at("tests").size();
    counts.skip_reason = "unknown parameterSet " + group.value("parameterSet", std::string("?"));
    return counts;
  }
  for (const auto& test : group.at("tests")) {
    try {
      std::string failure = fn(*set, test);
      if (failure.empty()) {
        ++counts.passed;
      } else {
        record_failure(counts, test, failure);
      }
    } catch (const KatFieldError& e) {
      record_failure(counts, test, e.message);
    }
  }
  return counts;
}

std::string compare(const char* what, const Bytes& got, const Bytes& expected) {
  if (got == expected) return {};
  std::size_t i = 0;
  while (i < got.size() && i < expected.size() && got[i] == expected[i]) ++i;
  return std::string(what) + " differs at byte " + std::to_string(i) + " (got " + std::to_string(got.size()) +
         " bytes, expected " + std::to_string(expected.size()) + ")";
}

// keyGen: ML-DSA.KeyGen_internal(seed) (Algorithm 6) against pk and sk.
KatCounts key_gen(const nlohmann::json& group, const KatOptions&) {
  return for_each_test(group, [](mldsa::ParameterSet set, const nlohmann::json& test) -> std::string {
    const Bytes seed = kat_hex(test, "seed");
    const Bytes expected_pk = kat_hex(test, "pk");
    const Bytes expected_sk = kat_hex(test, "sk");
    if (seed.size() != mldsa::seed_bytes) return "seed is not 32 bytes";
    Bytes pk(mldsa::public_key_bytes(set));
    Bytes sk(mldsa::secret_key_bytes(set));
    mldsa::key_gen_internal(set, mldsa::Seed(seed.data(), mldsa::seed_bytes), pk, sk);
    std::string failure = compare("pk", pk, expected_pk);
    if (failure.empty()) failure = compare("sk", sk, expected_sk);
    return failure;
  });
}

struct Interface {
  bool internal = false;
  bool external_mu = false;
  bool pre_hash = false;
};

Interface read_interface(const nlohmann::json& group) {
  Interface interface;
  const std::string kind = kat_string(group, "signatureInterface");
  if (kind == "internal") {
    interface.internal = true;
    interface.external_mu = group_flag(group, "externalMu");
  } else if (kind == "external") {
    const std::string pre_hash = kat_string(group, "preHash");
    if (pre_hash == "preHash") {
      interface.pre_hash = true;
    } else if (pre_hash != "pure") {
      throw KatFieldError{"unknown preHash '" + pre_hash + "'"};
    }
  } else {
    throw KatFieldError{"unknown signatureInterface '" + kind + "'"};
  }
  return interface;
}

// sigGen: deterministic groups use rnd = 0^32, hedged groups the test's rnd.
KatCounts sig_gen(const nlohmann::json& group, const KatOptions&) {
  Interface interface;
  bool deterministic = false;
  try {
    interface = read_interface(group);
    deterministic = group_flag(group, "deterministic");
  } catch (const KatFieldError& e) {
    return failed_group(group, e);
  }
  return for_each_test(group, [&](mldsa::ParameterSet set, const nlohmann::json& test) -> std::string {
    const Bytes sk = kat_hex(test, "sk");
    const Bytes expected = kat_hex(test, "signature");
    Bytes rnd(mldsa::seed_bytes, 0);
    if (!deterministic) rnd = kat_hex(test, "rnd");
    if (rnd.size() != mldsa::seed_bytes) return "rnd is not 32 bytes";
    const mldsa::Seed seed(rnd.data(), mldsa::seed_bytes);
    Bytes signature(mldsa::signature_bytes(set));
    Status<mldsa::MlDsaError> status;
    if (interface.internal && interface.external_mu) {
      status = mldsa::sign_mu(set, sk, kat_hex(test, "mu"), seed, signature);
    } else if (interface.internal) {
      status = mldsa::sign_internal(set, sk, kat_hex(test, "message"), seed, signature);
    } else if (interface.pre_hash) {
      auto pre_hash = mldsa::parse_pre_hash(kat_string(test, "hashAlg"));
      if (!pre_hash) return "unknown hashAlg " + kat_string(test, "hashAlg");
      status = mldsa::hash_sign_with_rnd(set, sk, kat_hex(test, "message"), kat_hex(test, "context"), *pre_hash,
                                         seed, signature);
    } else {
      status = mldsa::sign_with_rnd(set, sk, kat_hex(test, "message"), kat_hex(test, "context"), seed, signature);
    }
    if (!status) return std::string("sign failed: ") + mldsa::describe(status.error());
    return compare("signature", signature, expected);
  });
}

// sigVer: the verdict must equal testPassed.
KatCounts sig_ver(const nlohmann::json& group, const KatOptions&) {
  Interface interface;
  try {
    interface = read_interface(group);
  } catch (const KatFieldError& e) {
    return failed_group(group, e);
  }
  return for_each_test(group, [&](mldsa::ParameterSet set, const nlohmann::json& test) -> std::string {
    const Bytes pk = kat_hex(test, "pk");
    const Bytes signature = kat_hex(test, "signature");
    if (!test.contains("testPassed") || !test["testPassed"].is_boolean()) {
      throw KatFieldError{"missing boolean field 'testPassed'"};
    }
    const bool expected = test["testPassed"].get<bool>();
    Status<mldsa::MlDsaError> status;
    if (interface.internal && interface.external_mu) {
      status = mldsa::verify_mu(set, pk, kat_hex(test, "mu"), signature);
    } else if (interface.internal) {
      status = mldsa::verify_internal(set, pk, kat_hex(test, "message"), signature);
    } else if (interface.pre_hash) {
      auto pre_hash = mldsa::parse_pre_hash(kat_string(test, "hashAlg"));
      if (!pre_hash) return "unknown hashAlg " + kat_string(test, "hashAlg");
      status = mldsa::hash_verify(set, pk, kat_hex(test, "message"), kat_hex(test, "context"), *pre_hash, signature);
    } else {
      status = mldsa::verify(set, pk, kat_hex(test, "message"), kat_hex(test, "context"), signature);
    }
    if (status.ok() == expected) return {};
    return std::string("expected ") + (expected ? "valid" : "invalid") + ", got " +
           (status.ok() ? "valid" : std::string("invalid (") + mldsa::describe(status.error()) + ")");
  });
}

}  // namespace

KESTREL_REGISTER_KAT("ML-DSA", "keyGen", key_gen);
KESTREL_REGISTER_KAT("ML-DSA", "sigGen", sig_gen);
KESTREL_REGISTER_KAT("ML-DSA", "sigVer", sig_ver);

}  // namespace kestrel::app
