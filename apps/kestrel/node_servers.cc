// The servers a running validator exposes besides its peer port: the client API
// and the admin HTTP port (docs/client-api.md, docs/metrics.md).
#include <atomic>

#include "commands.h"
#include "common/gates.h"
#include "node/admin_http.h"
#include "node/client_server.h"
#include "node/config.h"
#include "node/node.h"

namespace kestrel::app {

namespace {

class Servers final : public NodeServers {
 public:
  std::unique_ptr<node::ClientServer> client;
  std::unique_ptr<node::AdminServer> admin;
  // The admin server, for its own /metrics route (set once it started; the
  // route may run on the admin thread before that).
  std::atomic<node::AdminServer*> admin_for_metrics{nullptr};
  ~Servers() override {
    if (admin) admin->stop();
    if (client) client->stop();
  }
};

}  // namespace

Result<std::unique_ptr<NodeServers>, std::string> start_node_servers(const node::NodeConfig& config, node::Node& node) {
  auto servers = std::make_unique<Servers>();
  node::ClientServerConfig cc;
  cc.listen_host = config.client_listen.host;
  cc.listen_port = config.client_listen.port;
  cc.in_flight_max = config.client_in_flight_max;
  auto client = node::ClientServer::start(cc, node);
  if (!client) {
    return Err("client listener " + cc.listen_host + ":" + std::to_string(cc.listen_port) + ": " +
               node::describe(client.error()));
  }
  servers->client = std::move(*client);

  node::Routes routes;
  routes["/health"] = [&node] {
    return node.healthy() ? node::HttpReply{200, "text/plain; charset=utf-8", "ok\n"}
                          : node::HttpReply{503, "text/plain; charset=utf-8", "consensus thread stopped\n"};
  };
  routes["/status"] = [&node] { return node::HttpReply{200, "application/json", node::status_json(node.status()) + "\n"}; };
  routes["/metrics"] = [&node, client = servers->client.get(), self = servers.get()] {
    // The servers' counters are snapshots: refreshed when scraped.
    node.refresh_server_metrics(client->counters());
    if (node::AdminServer* admin = self->admin_for_metrics.load()) node.refresh_server_metrics(admin->counters());
    return node::HttpReply{200, std::string(node::prometheus_content_type), node.metrics_text()};
  };
  routes["/gates"] = [] { return node::HttpReply{200, "application/json", gates_json() + "\n"}; };
  routes["/stages"] = [&node] { return node::HttpReply{200, "application/json", node.stages_json() + "\n"}; };
  auto admin = node::AdminServer::start(config.admin_listen, std::move(routes));
  if (!admin) {
    return Err("admin listener " + config.admin_listen.host + ":" + std::to_string(config.admin_listen.port) + ": " +
               node::describe(admin.error()));
  }
  servers->admin = std::move(*admin);
  servers->admin_for_metrics = servers->admin.get();
  return std::unique_ptr<NodeServers>(std::move(servers));
}

}  // namespace kestrel::app
