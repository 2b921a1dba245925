// The names of sim.h's faults and schemes, and their parsers.
#include "sim/sim.h"

#include <algorithm>

namespace kestrel::sim {

const char* fault_name(Fault fault) {
  switch (fault) {
    case Fault::loss: return "loss";
    case Fault::duplication: return "duplication";
    case Fault::reordering: return "reordering";
    case Fault::partition: return "partition";
    case Fault::crash: return "crash";
    case Fault::equivocation: return "equivocation";
    case Fault::double_vote: return "double-vote";
    case Fault::withhold: return "withhold";
    case Fault::subset: return "subset";
    case Fault::bad_view: return "bad-view";
    case Fault::forged_cert: return "forged-cert";
    case Fault::bad_signature: return "bad-signature";
    case Fault::garbage: return "garbage";
    case Fault::fork: return "fork";
    case Fault::flood: return "flood";
    case Fault::count_: break;
  }
  return "unknown";
}

const char* describe(SimError error) {
  switch (error) {
    case SimError::unknown_fault: return "unknown fault name";
    case SimError::unknown_scheme: return "unknown signature scheme";
    case SimError::bad_config: return "invalid simulation config";
  }
  return "unknown sim error";
}

Result<std::uint32_t, SimError> parse_faults(const std::string& list) {
  constexpr auto count = static_cast<std::uint32_t>(Fault::count_);
  if (list == "all") return (1u << count) - 1;
  if (list == "none" || list.empty()) return 0u;
  std::uint32_t mask = 0;
  std::size_t start = 0;
  while (start <= list.size()) {
    const std::size_t comma = std::min(list.find(',', start), list.size());
    const std::string name = list.substr(start, comma - start);
    bool found = false;
    for (std::uint32_t i = 0; i < count; ++i) {
      if (name == fault_name(static_cast<Fault>(i))) {
        mask |= 1u << i;
        found = true;
      }
    }
    if (!found) return Err(SimError::unknown_fault);
    start = comma + 1;
  }
  return mask;
}

Result<SimScheme, SimError> parse_scheme(const std::string& name) {
  if (name == "insecure-fast-mac") return SimScheme::insecure_fast_mac;
  if (name == "ed25519") return SimScheme::ed25519;
  if (name == "ml-dsa-65") return SimScheme::ml_dsa_65;
  return Err(SimError::unknown_scheme);
}

const char* scheme_name(SimScheme scheme) {
  switch (scheme) {
    case SimScheme::insecure_fast_mac: return "insecure-fast-mac";
    case SimScheme::ed25519: return "ed25519";
    case SimScheme::ml_dsa_65: return "ml-dsa-65";
  }
  return "unknown";
}

}  // namespace kestrel::sim
