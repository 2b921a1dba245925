// `kestrel gates`: the optimization gates, their defaults and risks.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "commands.h"
#include "common/cpu.h"
#include "common/gates.h"

namespace kestrel::app {

void register_gates(CLI::App& app) {
  auto* command = app.add_subcommand("gates", "List optimization gates with defaults and risks");
  command->callback([] {
    std::printf("%-30s %-4s %-8s %-7s %-9s %s\n", "gate", "now", "default", "risk", "workload", "description");
    for (const auto& info : all_gates()) {
      std::printf("%-30.*s %-4s %-8s %-7s %-9s %.*s\n", static_cast<int>(info.name.size()), info.name.data(),
                  gate_enabled(info.gate) ? "on" : "off", info.default_enabled ? "on" : "off", describe(info.risk),
                  describe(info.workload), static_cast<int>(info.description.size()), info.description.data());
    }
    const CpuFeatures& cpu = cpu_features();
    std::printf("\ncpu: avx2=%s bmi2=%s sha-ni=%s\n", cpu.avx2 ? "yes" : "no",
                cpu.bmi2 ? "yes" : "no", cpu.sha_ni ? "yes" : "no");
  });
}

}  // namespace kestrel::app
