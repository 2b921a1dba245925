// Subcommands of the `kestrel` binary. Each lives in its own file and registers
// itself on the CLI11 app; main.cc calls every register_* function.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/gates.h"
#include "common/result.h"

namespace CLI {
class App;
}
namespace kestrel::node {
struct NodeConfig;
class Node;
}  // namespace kestrel::node

namespace kestrel::app {

void register_bench(CLI::App& app);
void register_bench_compare(CLI::App& bench);  // `bench compare`, under the `bench` subcommand
void register_gates(CLI::App& app);
void register_kat(CLI::App& app);
void register_sim(CLI::App& app);
void register_keys(CLI::App& app);  // keygen, init
void register_node(CLI::App& app);
void register_demo(CLI::App& app);
void register_bench_cluster(CLI::App& bench);  // `bench cluster`, under `bench`

// The --gate settings given on the command line (applied on top of a config's [gates]).
std::vector<GateSetting>& cli_gate_settings();

// The client API and admin HTTP servers of a running node; destroying it stops them.
class NodeServers {
 public:
  virtual ~NodeServers() = default;
};
Result<std::unique_ptr<NodeServers>, std::string> start_node_servers(const node::NodeConfig& config, node::Node& node);
void register_submit(CLI::App& app);
void register_status(CLI::App& app);

}  // namespace kestrel::app
