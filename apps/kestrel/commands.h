// Subcommands of the `kestrel` binary. Each lives in its own file and registers
// itself on the CLI11 app; main.cc calls every register_* function.
#pragma once

namespace CLI {
class App;
}

namespace kestrel::app {

void register_bench(CLI::App& app);
void register_gates(CLI::App& app);
void register_kat(CLI::App& app);
void register_sim(CLI::App& app);
void register_keys(CLI::App& app);  // keygen, init
void register_status(CLI::App& app);

}  // namespace kestrel::app
