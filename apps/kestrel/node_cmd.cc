// `kestrel node --config FILE`: run one validator until SIGINT/SIGTERM
// (docs/node.md, docs/configuration.md).
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>

#include "commands.h"
#include "common/gates.h"
#include "common/limits.h"
#include "node/config.h"
#include "node/memory.h"
#include "node/node.h"

namespace kestrel::app {

namespace {

struct NodeOptions {
  std::string config;
  std::uint32_t status_every_s = 10;
};

int run_node(const NodeOptions& o) {
  auto config = node::load_config(o.config);
  if (!config) {
    std::fprintf(stderr, "kestrel node: %s\n", config.error().message().c_str());
    return 2;
  }
  spdlog::set_level(spdlog::level::from_str(config->log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e [%l] node" + std::to_string(config->id) + ": %v");
  // [gates] from the file, then --gate from the command line on top.
  for (const auto& g : config->gates) set_gate(g.gate, g.enabled);
  for (const auto& g : cli_gate_settings()) set_gate(g.gate, g.enabled);
  Gate offender = Gate::count_;
  if (!check_gate_dependencies(&offender)) {
    const auto& info = gate_info(offender);
    std::fprintf(stderr, "kestrel node: %s: gates: %s requires %s, which is off\n", o.config.c_str(),
                 std::string(info.name).c_str(), std::string(gate_info(info.required_gate).name).c_str());
    return 2;
  }

  // Few malloc arenas and large buffers outside the heap (docs/node.md "Memory").
  node::apply_malloc_policy();

  // Signals are taken by sigwait below, not by a handler: block them before any
  // thread starts so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto started = node::Node::start(*config);
  if (!started) {
    spdlog::critical("cannot start: {}", started.error());
    return 1;
  }
  auto& validator = **started;
  auto servers = start_node_servers(*config, validator);
  if (!servers) {
    spdlog::critical("cannot start: {}", servers.error());
    validator.stop();
    return 1;
  }
  spdlog::info("validator {} of {} up: peers on {}:{}, clients on {}:{}, admin on {}:{}", config->id,
               config->validators.size(), config->validators[config->id].address.host,
               config->validators[config->id].address.port, config->client_listen.host, config->client_listen.port,
               config->admin_listen.host, config->admin_listen.port);
  // This thread waits for signals, logs the status line and trims the heap.
  using Clock = std::chrono::steady_clock;
  const auto status_every = std::chrono::seconds(o.status_every_s);
  const auto trim_every = std::chrono::milliseconds(limits::node_malloc_trim_interval_ms);
  const auto failure_poll = std::chrono::milliseconds(limits::node_failure_poll_interval_ms);
  auto next_status = Clock::now() + status_every;
  auto next_trim = Clock::now() + trim_every;
  for (;;) {
    const auto wake = std::min({next_status, next_trim, Clock::now() + failure_poll});
    const auto wait_ns =
        std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::nanoseconds>(wake - Clock::now()).count());
    timespec wait{static_cast<time_t>(wait_ns / 1000000000), static_cast<long>(wait_ns % 1000000000)};
    const int signal = sigtimedwait(&signals, nullptr, &wait);
    if (signal == SIGINT || signal == SIGTERM) {
      spdlog::info("signal {}: stopping", signal == SIGINT ? "SIGINT" : "SIGTERM");
      break;
    }
    if (validator.failed()) {
      // It logged why at critical; a supervisor restarts it and it catches up.
      spdlog::critical("the node stopped itself; exiting with status {}", node::fatal_exit_status);
      break;
    }
    const auto now = Clock::now();
    if (now >= next_trim) {
      (void)node::trim_memory();
      next_trim = now + trim_every;
    }
    if (now >= next_status) {
      const auto s = validator.status();
      spdlog::info("height {} view {} leader {} mempool {} raw {} committed tx {} raw {}", s.committed_height, s.view,
                   s.leader, s.mempool_transactions, s.raw_pool, s.transactions_committed, s.raw_committed);
      next_status = now + status_every;
    }
  }
  servers->reset();
  validator.stop();
  spdlog::info("stopped");
  // Also when a signal came with the failure.
  return validator.failed() ? node::fatal_exit_status : 0;
}

}  // namespace

void register_node(CLI::App& app) {
  static NodeOptions options;
  auto* command = app.add_subcommand("node", "Run a validator from its TOML config until SIGINT/SIGTERM");
  command->add_option("--config", options.config, "The node's config.toml (kestrel init writes them)")->required();
  command->add_option("--status-every", options.status_every_s, "Seconds between status lines in the log")
      ->check(CLI::Range(1, 3600));
  command->callback([] {
    const int code = run_node(options);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace kestrel::app
