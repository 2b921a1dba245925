// `kestrel kat`: runs NIST ACVP known-answer files (JSON, the format of
// ../shared/testvectors/, see its README) against Kestrel's own implementations.
//
// The framework loads a file, joins prompt.json with the expectedResults.json
// next to it (by tgId and tcId) when given a prompt, and hands each test group
// to the handler registered for the file's (algorithm, mode). A handler checks
// every test of the group and returns counts; a skipped test must carry a
// printed reason. Handlers live in kat_<algorithm>.cc and register themselves
// with KESTREL_REGISTER_KAT.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>

namespace kestrel::app {

struct KatCounts {
  std::size_t passed = 0;
  std::size_t failed = 0;
  std::size_t skipped = 0;
  std::string skip_reason;  // required when skipped > 0
  std::string first_failure;  // "tcId N: what differed", for the report
};

struct KatOptions {
  bool avx2 = false;  // which code path the handler must use (the gate crypto.avx2)
};

// Runs one test group. `group` holds parameterSet, options and `tests` (expected
// fields already joined in).
using KatGroupHandler = KatCounts (*)(const nlohmann::json& group, const KatOptions& options);

struct KatRegistration {
  KatRegistration(const char* algorithm, const char* mode, KatGroupHandler handler);
};

#define KESTREL_REGISTER_KAT_CONCAT2(a, b) a##b
#define KESTREL_REGISTER_KAT_CONCAT(a, b) KESTREL_REGISTER_KAT_CONCAT2(a, b)
#define KESTREL_REGISTER_KAT(algorithm, mode, handler)                                     \
  static const ::kestrel::app::KatRegistration KESTREL_REGISTER_KAT_CONCAT(kat_registration_, \
                                                                            __LINE__)(     \
      algorithm, mode, handler)

// Hex field of a test as bytes; throws KatFieldError when missing or malformed
// (a malformed vector file is reported as a failure of that test, not a crash).
struct KatFieldError {
  std::string message;
};
std::string kat_string(const nlohmann::json& object, const char* field);
std::vector<std::uint8_t> kat_hex(const nlohmann::json& object, const char* field);

}  // namespace kestrel::app
