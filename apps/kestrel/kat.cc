// `kestrel kat FILE...`: see kat.h.
#include "kat.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <utility>

#include "commands.h"
#include "common/bytes.h"
#include "common/cpu.h"
#include "common/gates.h"

namespace kestrel::app {

namespace {

std::map<std::pair<std::string, std::string>, KatGroupHandler>& handlers() {
  static std::map<std::pair<std::string, std::string>, KatGroupHandler> registry;
  return registry;
}

struct FileLoad {
  nlohmann::json document;
  std::string error;
};

FileLoad load_json(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {{}, "cannot open " + path.string()};
  try {
    return {nlohmann::json::parse(in), {}};
  } catch (const nlohmann::json::exception& e) {
    return {{}, "not valid JSON: " + std::string(e.what())};
  }
}

// prompt.json carries inputs only; its expected outputs live in
// expectedResults.json beside it. Copy every expected field into the matching test.
std::string join_expected(nlohmann::json& prompt, const nlohmann::json& expected) {
  std::map<std::pair<long, long>, const nlohmann::json*> by_id;
  for (const auto& group : expected.at("testGroups")) {
    for (const auto& test : group.at("tests")) {
      by_id[{group.at("tgId").get<long>(), test.at("tcId").get<long>()}] = &test;
    }
  }
  for (auto& group : prompt.at("testGroups")) {
    for (auto& test : group.at("tests")) {
      auto it = by_id.find({group.at("tgId").get<long>(), test.at("tcId").get<long>()});
      if (it == by_id.end()) return "no expected result for tcId " + std::to_string(test.at("tcId").get<long>());
      for (const auto& [key, value] : it->second->items()) {
        if (!test.contains(key)) test[key] = value;
      }
    }
  }
  return {};
}

struct Totals {
  std::size_t passed = 0, failed = 0, skipped = 0;
  bool error = false;
};

void run_file(const std::string& file, bool avx2, Totals& totals) {
  const std::filesystem::path path(file);
  FileLoad load = load_json(path);
  if (!load.error.empty()) {
    std::printf("%s: ERROR %s\n", file.c_str(), load.error.c_str());
    totals.error = true;
    return;
  }
  nlohmann::json& doc = load.document;
  try {
    if (path.filename() == "prompt.json") {
      const auto expected_path = path.parent_path() / "expectedResults.json";
      FileLoad expected = load_json(expected_path);
      if (!expected.error.empty()) {
        std::printf("%s: ERROR prompt.json needs %s: %s\n", file.c_str(),
                    expected_path.string().c_str(), expected.error.c_str());
        totals.error = true;
        return;
      }
      const std::string join_error = join_expected(doc, expected.document);
      if (!join_error.empty()) {
        std::printf("%s: ERROR %s\n", file.c_str(), join_error.c_str());
        totals.error = true;
        return;
      }
    }
    const std::string algorithm = doc.at("algorithm").get<std::string>();
    const std::string mode = doc.at("mode").get<std::string>();
    auto it = handlers().find({algorithm, mode});
    std::printf("%s: %s %s, %s path\n", file.c_str(), algorithm.c_str(), mode.c_str(),
                avx2 ? "avx2" : "portable");
    if (it == handlers().end()) {
      std::printf("  ERROR no handler for algorithm %s mode %s\n", algorithm.c_str(), mode.c_str());
      totals.error = true;
      return;
    }
    KatOptions options;
    options.avx2 = avx2;
    ScopedGate gate(Gate::crypto_avx2, avx2);
    Totals file_totals;
    for (const auto& group : doc.at("testGroups")) {
      const KatCounts counts = it->second(group, options);
      std::string label = "tg " + std::to_string(group.at("tgId").get<long>()) + " " +
                          group.value("parameterSet", std::string("?")) + " " +
                          group.value("testType", std::string("?"));
      for (const char* option : {"function", "signatureInterface", "preHash"}) {
        if (group.contains(option) && group[option].is_string()) label += " " + group[option].get<std::string>();
      }
      if (group.contains("externalMu") && group["externalMu"].is_boolean() && group["externalMu"].get<bool>()) {
        label += " externalMu";
      }
      if (group.contains("deterministic") && group["deterministic"].is_boolean()) {
        label += group["deterministic"].get<bool>() ? " deterministic" : " hedged";
      }
      std::printf("  %-60s passed %4zu  failed %4zu  skipped %4zu\n", label.c_str(), counts.passed,
                  counts.failed, counts.skipped);
      if (counts.skipped > 0) std::printf("    skipped because: %s\n", counts.skip_reason.c_str());
      if (counts.failed > 0) std::printf("    first failure: %s\n", counts.first_failure.c_str());
      file_totals.passed += counts.passed;
      file_totals.failed += counts.failed;
      file_totals.skipped += counts.skipped;
    }
    std::printf("  total: passed %zu, failed %zu, skipped %zu\n", file_totals.passed,
                file_totals.failed, file_totals.skipped);
    totals.passed += file_totals.passed;
    totals.failed += file_totals.failed;
    totals.skipped += file_totals.skipped;
  } catch (const nlohmann::json::exception& e) {
    std::printf("  ERROR malformed ACVP file: %s\n", e.what());
    totals.error = true;
  }
}

}  // namespace

KatRegistration::KatRegistration(const char* algorithm, const char* mode, KatGroupHandler handler) {
  handlers()[{algorithm, mode}] = handler;
}

std::string kat_string(const nlohmann::json& object, const char* field) {
  if (!object.contains(field) || !object[field].is_string()) {
    throw KatFieldError{std::string("missing string field '") + field + "'"};
  }
  return object[field].get<std::string>();
}

std::vector<std::uint8_t> kat_hex(const nlohmann::json& object, const char* field) {
  auto bytes = from_hex(kat_string(object, field));
  if (!bytes) throw KatFieldError{std::string("field '") + field + "': " + describe(bytes.error())};
  return std::move(bytes).value();
}

void register_kat(CLI::App& app) {
  auto* command = app.add_subcommand(
      "kat", "Run NIST ACVP known-answer files (internalProjection.json, or prompt.json with "
             "expectedResults.json beside it)");
  static std::vector<std::string> files;
  static std::string path_choice = "both";
  command->add_option("files", files, "ACVP JSON files")->required();
  command->add_option("--path", path_choice, "Code path: portable, avx2 or both")
      ->check(CLI::IsMember({"portable", "avx2", "both"}));
  command->callback([] {
    std::vector<bool> paths;
    if (path_choice != "avx2") paths.push_back(false);
    if (path_choice != "portable") {
      if (cpu_features().avx2) {
        paths.push_back(true);
      } else {
        std::printf("avx2 path skipped: this CPU has no AVX2\n");
        if (path_choice == "avx2") throw CLI::RuntimeError(1);
      }
    }
    Totals totals;
    for (const auto& file : files) {
      for (bool avx2 : paths) run_file(file, avx2, totals);
    }
    std::printf("kat: passed %zu, failed %zu, skipped %zu%s\n", totals.passed, totals.failed,
                totals.skipped, totals.error ? ", with errors" : "");
    if (totals.failed > 0 || totals.error || totals.passed == 0) throw CLI::RuntimeError(1);
  });
}

}  // namespace kestrel::app
