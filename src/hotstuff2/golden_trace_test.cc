// Golden traces of the HotStuff-2 replica (issue 5): one test per file in
// testdata/*.trace, plus a check that every trace can fail.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "hotstuff2/golden_trace.h"

namespace kestrel::hotstuff2::golden {
namespace {

// KESTREL_GOLDEN_TRACE_DIR replaces the source tree's testdata directory, to run
// a trace being written (or a deliberately broken copy) without touching it.
std::vector<std::string> trace_files() {
  std::vector<std::string> files;
  const char* dir = std::getenv("KESTREL_GOLDEN_TRACE_DIR");
  for (const auto& entry : std::filesystem::directory_iterator(dir ? dir : KESTREL_HOTSTUFF2_TESTDATA)) {
    if (entry.path().extension() == ".trace") files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());  // directory order is not deterministic
  return files;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string join_failures(const std::vector<std::string>& failures) {
  std::string s;
  for (const auto& f : failures) s += f + "\n";
  return s;
}

class GoldenTrace : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenTrace, Replays) {
  const std::string text = read_file(GetParam());
  ASSERT_FALSE(text.empty()) << GetParam();
  const auto failures = run_trace(GetParam(), text);
  EXPECT_TRUE(failures.empty()) << join_failures(failures);
}

// A test must be able to fail (STYLE.md): changing or deleting any expected
// output line, or changing any counters/state check, must make the trace fail,
// and the failure must name the file line that was changed.
TEST_P(GoldenTrace, EveryCheckedLineCanFail) {
  const std::string text = read_file(GetParam());
  std::vector<std::string> lines;
  std::stringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::size_t mutated = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    const bool output = line.rfind("< ", 0) == 0;
    const bool check = line.rfind("counters ", 0) == 0 || line.rfind("state ", 0) == 0;
    if (!output && !check) continue;
    for (int kind = 0; kind < (output ? 2 : 1); ++kind) {
      std::vector<std::string> copy = lines;
      if (kind == 0) {
        copy[i] += "9";  // changes the last value or name on the line
      } else {
        copy.erase(copy.begin() + static_cast<std::ptrdiff_t>(i));
      }
      std::string mutated_text;
      for (const auto& l : copy) mutated_text += l + "\n";
      const auto failures = run_trace(GetParam(), mutated_text);
      ASSERT_FALSE(failures.empty()) << GetParam() << ":" << i + 1 << " " << (kind ? "deleted" : "changed")
                                     << " and the trace still passes: " << line;
      if (kind == 0) {
        const std::string where = GetParam() + ":" + std::to_string(i + 1) + ":";
        EXPECT_NE(failures[0].find(where), std::string::npos)
            << "the failure should point at " << where << "\n" << failures[0];
      }
      ++mutated;
    }
  }
  EXPECT_GT(mutated, 0u) << GetParam() << " checks nothing";
}

std::string test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = std::filesystem::path(info.param).stem().string();
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(Traces, GoldenTrace, ::testing::ValuesIn(trace_files()), test_name);

// The harness itself: a trace error (typo, unknown name) is a failure, not a pass.
TEST(GoldenTraceHarness, SyntaxErrorsFail) {
  EXPECT_TRUE(run_trace("t", "config n=4 self=0\n> start 0\n< wake 1000\n").empty());
  EXPECT_FALSE(run_trace("t", "config n=4 self=0 timeuot=5\n").empty());
  EXPECT_FALSE(run_trace("t", "config n=4 self=0\n> recv from=1 proposal B9\n").empty());
  EXPECT_FALSE(run_trace("t", "config n=4 self=0\n< wake 1000\n").empty());
  EXPECT_FALSE(run_trace("t", "block B1 view=1 parent=G justify=QG\n").empty());
  // Outputs that are not listed fail: nothing is silently ignored.
  EXPECT_FALSE(run_trace("t", "config n=4 self=0\n> start 0\n").empty());
}

}  // namespace
}  // namespace kestrel::hotstuff2::golden
