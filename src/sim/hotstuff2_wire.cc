#include "sim/hotstuff2_wire.h"

#include <variant>
#include <vector>

namespace kestrel::sim::hotstuff2_wire {

void sign(const Keys& keys, consensus::ReplicaId signer, hs::Message& message) {
  std::visit(
      [&](auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, hs::Proposal>) {
          if (x.signature.empty()) {
            x.signature = keys.sign(signer, hs::proposal_signing_bytes(chain_id, x.block.id()));
          }
        } else if constexpr (std::is_same_v<T, hs::Vote>) {
          if (x.signature.empty()) {
            x.signature = keys.sign(signer, hs::vote_signing_bytes(chain_id, x.view, x.block_id));
          }
        } else if constexpr (std::is_same_v<T, hs::Timeout>) {
          if (x.signature.empty()) {
            x.signature = keys.sign(signer, hs::timeout_signing_bytes(chain_id, x.view, x.high_qc.view));
          }
        }
      },
      message);
}

void send(Network& network, consensus::ReplicaId from, std::optional<consensus::ReplicaId> to,
          const hs::Message& message) {
  network.send(from, to, hs::encode_message(message));
}

Result<hs::Message, std::string> open(Keys& keys, std::uint32_t n, ByteSpan bytes) {
  auto message = hs::decode_message(bytes);
  if (!message) return Err(std::string("undecodable: ") + kestrel::describe(message.error()));
  std::vector<hs::SignatureCheck> checks;
  bool valid = hs::collect_signature_checks(*message, chain_id, n, checks);
  for (std::size_t i = 0; valid && i < checks.size(); ++i) {
    valid = keys.verify(checks[i].signer, checks[i].message, checks[i].signature);
  }
  if (!valid) return Err(std::string("bad signature"));
  return std::move(*message);
}

std::string describe(const hs::Message& message) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, hs::Proposal>) {
          return "proposal v=" + std::to_string(x.block.view) + " h=" + std::to_string(x.block.height) +
                 " id=" + x.block.id().hex().substr(0, 8) + " justify=" + std::to_string(x.block.justify.view) +
                 (x.tc ? " tc=" + std::to_string(x.tc->view) : "");
        } else if constexpr (std::is_same_v<T, hs::Vote>) {
          return "vote v=" + std::to_string(x.view) + " id=" + x.block_id.hex().substr(0, 8);
        } else if constexpr (std::is_same_v<T, hs::Timeout>) {
          return "timeout v=" + std::to_string(x.view) + " high_qc=" + std::to_string(x.high_qc.view);
        } else if constexpr (std::is_same_v<T, hs::SyncCertificates>) {
          return std::string("sync") + (x.qc ? " qc=" + std::to_string(x.qc->view) : "") +
                 (x.tc ? " tc=" + std::to_string(x.tc->view) : "");
        } else if constexpr (std::is_same_v<T, hs::FetchRequest>) {
          return "fetch " + x.block_id.hex().substr(0, 8);
        } else {
          return "fetch-response " + std::to_string(x.blocks.size()) + " blocks";
        }
      },
      message);
}

}  // namespace kestrel::sim::hotstuff2_wire
