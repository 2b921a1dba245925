// kestrel: the one binary operators use (DESIGN.md "Operating it").
#include <CLI/CLI.hpp>

#include <cstdio>

#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{"Kestrel: a post-quantum Byzantine-fault-tolerant consensus engine"};
  app.set_version_flag("--version", "kestrel 0.1.0");
  app.require_subcommand(1);
  kestrel::app::register_bench(app);
  kestrel::app::register_gates(app);
  kestrel::app::register_kat(app);
  kestrel::app::register_sim(app);
  CLI11_PARSE(app, argc, argv);
  return 0;
}
