// kestrel: the one binary operators use (DESIGN.md "Operating it").
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "commands.h"
#include "common/gates.h"

std::vector<kestrel::GateSetting>& kestrel::app::cli_gate_settings() {
  static std::vector<GateSetting> settings;
  return settings;
}

int main(int argc, char** argv) {
  CLI::App app{"Kestrel: a post-quantum Byzantine-fault-tolerant consensus engine"};
  app.set_version_flag("--version", "kestrel 0.1.0");
  app.require_subcommand(1);
  // Optimization gates for this run (DESIGN.md "Performance framework"); unknown
  // names and values are errors, never ignored.
  app.add_option_function<std::vector<std::string>>(
         "--gate",
         [](const std::vector<std::string>& settings) {
           for (const auto& text : settings) {
             auto setting = kestrel::parse_gate_setting(text);
             if (!setting) {
               throw CLI::ValidationError("--gate " + text, kestrel::describe(setting.error()));
             }
             kestrel::set_gate(setting->gate, setting->enabled);
             kestrel::app::cli_gate_settings().push_back(*setting);
           }
         },
         "Set an optimization gate for this run: NAME=on|off (repeatable; see `kestrel gates`)")
      ->type_name("NAME=on|off")
      ->trigger_on_parse();
  kestrel::app::register_bench(app);
  kestrel::app::register_bench_compare(*app.get_subcommand("bench"));
  kestrel::app::register_gates(app);
  kestrel::app::register_kat(app);
  kestrel::app::register_sim(app);
  kestrel::app::register_keys(app);
  kestrel::app::register_node(app);
  kestrel::app::register_demo(app);
  kestrel::app::register_submit(app);
  kestrel::app::register_status(app);
  app.parse_complete_callback([] {
    kestrel::Gate offender = kestrel::Gate::count_;
    if (!kestrel::check_gate_dependencies(&offender)) {
      const auto& info = kestrel::gate_info(offender);
      throw CLI::ValidationError("--gate", std::string(info.name) + " requires " +
                                               std::string(kestrel::gate_info(info.required_gate).name) + ", which is off");
    }
  });
  CLI11_PARSE(app, argc, argv);
  return 0;
}
