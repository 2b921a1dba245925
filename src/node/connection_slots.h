// Connection slots: who gets a connection slot on a listener that faces
// untrusted clients (the client API port and the admin HTTP port), so that
// connections which never send a request cannot lock legitimate clients out.
//
// The policy (docs/client-api.md "Connection slots"), applied to each accepted
// connection before it is served:
//   1. Per source address: an address that already holds per_address_max slots
//      gets no more. The newcomer takes the slot of that address's own
//      longest-idle evictable connection (below); if all of them are busy, the
//      newcomer is refused. So one address never holds more than its share, and
//      a well-behaved client sharing an address with a flood (loopback, a NAT)
//      still gets in.
//   2. Port full: the newcomer takes the slot of the longest-idle evictable
//      connection of any address; if every connection is busy, it is refused.
//   Evictable: nothing in flight (no request being served, no response queued
//   or being written). Among those, connections that have not completed a
//   request go first, oldest accept first (bytes trickled in do not make a
//   connection younger, so a slow-header client cannot protect itself); then
//   connections that completed a request, longest since their last activity
//   first. Ties go to the lower id, so the choice is deterministic.
// Why evict rather than refuse: refusing the newcomer lets whoever fills the
// port first keep it for as long as the idle deadlines allow; evicting the
// longest-idle connection costs an attacker its oldest connection for each new
// one and never interrupts a client waiting for an answer. A client that has
// completed a request is only evicted once no never-completed connection is
// left to take.
//
// Addresses are compared by AddressKey, the validator port's source groups
// (net::address_group): an IPv4 address (or an IPv4-mapped IPv6 one) whole, an
// IPv6 address by its /64 prefix (one host commonly has a whole /64 to choose
// source addresses from).
//
// Pure functions, no I/O, no clock (times are passed in); thread-safe.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <span>

#include <asio/ip/address.hpp>

#include "net/admission.h"

namespace kestrel::node {

using AddressKey = net::IpAddress;
AddressKey address_key(const asio::ip::address& address);

// One open connection as the policy sees it.
struct SlotHolder {
  std::uint64_t id = 0;
  AddressKey address{};
  bool busy = false;               // a request in flight or a response not yet written
  bool completed_request = false;  // at least one complete request received
  std::chrono::steady_clock::time_point accepted{};
  std::chrono::steady_clock::time_point last_activity{};  // bytes received or a request answered
};

enum class SlotVerdict : std::uint8_t {
  accept,                  // a free slot
  evict_for_address,       // close `victim` (same address), then accept
  evict_for_port,          // close `victim` (any address), then accept
  refuse_address_full,     // the address holds per_address_max busy connections
  refuse_port_full,        // connections_max busy connections
};

struct SlotAdmission {
  SlotVerdict verdict = SlotVerdict::accept;
  std::uint64_t victim = 0;  // for the evict_* verdicts
};

// The decision for a newcomer from `address` given the open connections.
// REQUIRES: 0 < per_address_max <= connections_max; open.size() <= connections_max;
// no address in `open` holds more than per_address_max.
SlotAdmission admit_connection(std::span<const SlotHolder> open, const AddressKey& address,
                               std::size_t connections_max, std::size_t per_address_max);

}  // namespace kestrel::node
