// `kestrel status`: asks a running node's admin port (docs/metrics.md "Admin
// routes") for /status, or for /stages and prints the bottleneck report.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "commands.h"
#include "node/admin_http.h"
#include "node/config.h"
#include "perf/stages.h"

namespace kestrel::app {

namespace {

struct StatusOptions {
  std::string admin;   // HOST:PORT
  std::string config;  // a node config: its [admin] address
  bool json = false;
  bool bottlenecks = false;
  std::uint32_t timeout_ms = 5000;
};

// CLI11 prints nothing for RuntimeError: say why, then exit 1.
[[noreturn]] void fail(const std::string& message) {
  std::fprintf(stderr, "kestrel status: %s\n", message.c_str());
  throw CLI::RuntimeError(1);
}

std::string describe_endpoint(const node::Endpoint& e) {
  return (e.host.find(':') != std::string::npos ? "[" + e.host + "]" : e.host) + ":" + std::to_string(e.port);
}

node::Endpoint admin_endpoint(const StatusOptions& options) {
  if (!options.admin.empty()) {
    auto endpoint = node::parse_host_port(options.admin);
    if (!endpoint) fail("--admin " + options.admin + ": expected HOST:PORT (or [IPV6]:PORT) with a port in 1..65535");
    return *endpoint;
  }
  if (options.config.empty()) fail("give --admin HOST:PORT or --config FILE (the node's config)");
  auto config = node::load_config(options.config);
  if (!config) fail(config.error().message());
  node::Endpoint endpoint = config->admin_listen;
  // A node listening on every address is reached on loopback.
  if (endpoint.host == "0.0.0.0") endpoint.host = "127.0.0.1";
  if (endpoint.host == "::") endpoint.host = "::1";
  return endpoint;
}

std::string fetch(const node::Endpoint& at, const char* path, std::uint32_t timeout_ms) {
  auto response = node::http_get(at, path, std::chrono::milliseconds(timeout_ms));
  if (!response) fail(describe_endpoint(at) + path + ": " + node::describe(response.error()));
  if (response->status != 200) {
    std::string body = response->body.substr(0, response->body.find('\n'));
    fail(describe_endpoint(at) + path + ": HTTP " + std::to_string(response->status) + (body.empty() ? "" : ": " + body));
  }
  return std::move(response->body);
}

// One line per scalar, nested objects as dotted keys; arrays of scalars joined.
void print_fields(const nlohmann::json& value, const std::string& prefix, std::size_t width) {
  if (value.is_object()) {
    for (const auto& [key, child] : value.items()) {
      print_fields(child, prefix.empty() ? key : prefix + "." + key, width);
    }
    return;
  }
  std::string text;
  if (value.is_array()) {
    bool scalars = true;
    for (const auto& item : value) scalars = scalars && !item.is_structured();
    if (!scalars) {
      for (std::size_t i = 0; i < value.size(); ++i) print_fields(value[i], prefix + "[" + std::to_string(i) + "]", width);
      return;
    }
    for (const auto& item : value) text += (text.empty() ? "" : ", ") + (item.is_string() ? item.get<std::string>() : item.dump());
  } else {
    text = value.is_string() ? value.get<std::string>() : value.dump();
  }
  std::printf("%-*s %s\n", static_cast<int>(width), (prefix + ":").c_str(), text.c_str());
}

void run_status(const StatusOptions& options) {
  const node::Endpoint at = admin_endpoint(options);
  if (options.bottlenecks) {
    const std::string body = fetch(at, "/stages", options.timeout_ms);
    auto document = perf::parse_stages_json(body);
    if (!document) fail(describe_endpoint(at) + "/stages: " + perf::describe(document.error()));
    const perf::BottleneckReport report = perf::bottleneck_report(document->snapshot, document->process);
    if (options.json) {
      std::printf("%s\n", report.to_json().dump(2).c_str());
    } else {
      std::printf("bottleneck report of %s (cumulative since the node started)\n\n%s", describe_endpoint(at).c_str(),
                  report.to_text().c_str());
    }
    return;
  }
  const std::string body = fetch(at, "/status", options.timeout_ms);
  if (options.json) {
    std::printf("%s%s", body.c_str(), !body.empty() && body.back() == '\n' ? "" : "\n");
    return;
  }
  const nlohmann::json status = nlohmann::json::parse(body, nullptr, false);
  if (status.is_discarded() || !status.is_object()) fail(describe_endpoint(at) + "/status: not a JSON object");
  std::printf("node at %s\n", describe_endpoint(at).c_str());
  print_fields(status, "", 28);
}

}  // namespace

void register_status(CLI::App& app) {
  static StatusOptions options;
  auto* command = app.add_subcommand("status", "Show a running node's status or its bottleneck report (admin port)");
  auto* admin = command->add_option("--admin", options.admin, "Admin address of the node, HOST:PORT");
  command->add_option("--config", options.config, "The node's config file (its [admin] address is used)")
      ->excludes(admin);
  command->add_flag("--json", options.json, "Print the raw JSON (of /status, or of the bottleneck report)");
  command->add_flag("--bottlenecks", options.bottlenecks, "Fetch /stages and print the bottleneck report");
  command->add_option("--timeout-ms", options.timeout_ms, "Give up after this long")->check(CLI::Range(1u, 600000u));
  command->callback([] { run_status(options); });
}

}  // namespace kestrel::app
