// Field-by-field equality of HotStuff-2 messages and records, for tests only
// (golden traces name a QC by equality; messages_test checks decode(encode(x)) == x).
//
// The public structs have no operator== on purpose: production code compares
// ids and views, never whole messages. Header-only; thread-safe (pure functions).
#pragma once

#include <optional>

#include "hotstuff2/hotstuff2.h"

namespace kestrel::hotstuff2::testing {

inline bool equal(const QuorumCertificate& a, const QuorumCertificate& b) {
  if (a.view != b.view || a.block_id != b.block_id || a.signatures.size() != b.signatures.size()) return false;
  for (std::size_t i = 0; i < a.signatures.size(); ++i) {
    if (a.signatures[i].signer != b.signatures[i].signer) return false;
    if (a.signatures[i].signature != b.signatures[i].signature) return false;
  }
  return true;
}

inline bool equal(const TimeoutCertificate& a, const TimeoutCertificate& b) {
  if (a.view != b.view || a.entries.size() != b.entries.size()) return false;
  for (std::size_t i = 0; i < a.entries.size(); ++i) {
    const TimeoutEntry& x = a.entries[i];
    const TimeoutEntry& y = b.entries[i];
    if (x.signer != y.signer || x.high_qc_view != y.high_qc_view || x.signature != y.signature) return false;
  }
  return true;
}

template <typename T>
bool equal(const std::optional<T>& a, const std::optional<T>& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a || equal(*a, *b);
}

inline bool equal(const Block& a, const Block& b) {
  return a.parent == b.parent && a.view == b.view && a.height == b.height && a.proposer == b.proposer &&
         equal(a.justify, b.justify) && a.payload == b.payload;
}

inline bool equal(const Proposal& a, const Proposal& b) {
  return equal(a.block, b.block) && equal(a.tc, b.tc) && a.signature == b.signature;
}

inline bool equal(const Vote& a, const Vote& b) {
  return a.view == b.view && a.block_id == b.block_id && a.voter == b.voter && a.signature == b.signature;
}

inline bool equal(const Timeout& a, const Timeout& b) {
  return a.view == b.view && equal(a.high_qc, b.high_qc) && a.sender == b.sender && a.signature == b.signature;
}

inline bool equal(const SyncCertificates& a, const SyncCertificates& b) {
  return equal(a.qc, b.qc) && equal(a.tc, b.tc);
}

inline bool equal(const FetchRequest& a, const FetchRequest& b) {
  return a.block_id == b.block_id && a.count_max == b.count_max;
}

inline bool equal(const FetchResponse& a, const FetchResponse& b) {
  if (a.blocks.size() != b.blocks.size()) return false;
  for (std::size_t i = 0; i < a.blocks.size(); ++i) {
    if (!equal(a.blocks[i], b.blocks[i])) return false;
  }
  return true;
}

inline bool equal(const Message& a, const Message& b) {
  if (a.index() != b.index()) return false;
  return std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        return equal(x, std::get<T>(b));
      },
      a);
}

}  // namespace kestrel::hotstuff2::testing
