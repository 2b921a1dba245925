// Connection slots: see connection_slots.h for the policy.
#include "node/connection_slots.h"

#include <algorithm>
#include <optional>

#include "common/assert.h"

namespace kestrel::node {

AddressKey address_key(const asio::ip::address& address) {
  const asio::ip::address_v6 v6 =
      address.is_v4() ? asio::ip::make_address_v6(asio::ip::v4_mapped, address.to_v4()) : address.to_v6();
  return net::address_group(v6.to_bytes());
}

namespace {

// True when `a` should be evicted before `b` (both evictable).
bool evict_before(const SlotHolder& a, const SlotHolder& b) {
  if (a.completed_request != b.completed_request) return !a.completed_request;
  const auto a_since = a.completed_request ? a.last_activity : a.accepted;
  const auto b_since = b.completed_request ? b.last_activity : b.accepted;
  if (a_since != b_since) return a_since < b_since;
  return a.id < b.id;
}

// The first victim among the holders `pick` selects; nullopt when all are busy.
template <typename Pick>
std::optional<std::uint64_t> victim_among(std::span<const SlotHolder> open, Pick pick) {
  const SlotHolder* best = nullptr;
  for (const SlotHolder& h : open) {
    if (h.busy || !pick(h)) continue;
    if (best == nullptr || evict_before(h, *best)) best = &h;
  }
  if (best == nullptr) return std::nullopt;
  return best->id;
}

}  // namespace

SlotAdmission admit_connection(std::span<const SlotHolder> open, const AddressKey& address,
                               std::size_t connections_max, std::size_t per_address_max) {
  KESTREL_ASSERT(per_address_max > 0 && per_address_max <= connections_max);
  KESTREL_ASSERT(open.size() <= connections_max);
  const auto same_address = [&](const SlotHolder& h) { return h.address == address; };
  const auto from_address = static_cast<std::size_t>(std::count_if(open.begin(), open.end(), same_address));
  KESTREL_ASSERT(from_address <= per_address_max);
  if (from_address == per_address_max) {
    const auto victim = victim_among(open, same_address);
    if (!victim) return {SlotVerdict::refuse_address_full, 0};
    return {SlotVerdict::evict_for_address, *victim};
  }
  if (open.size() == connections_max) {
    const auto victim = victim_among(open, [](const SlotHolder&) { return true; });
    if (!victim) return {SlotVerdict::refuse_port_full, 0};
    return {SlotVerdict::evict_for_port, *victim};
  }
  return {SlotVerdict::accept, 0};
}

}  // namespace kestrel::node
