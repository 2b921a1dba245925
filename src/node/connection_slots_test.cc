#include "node/connection_slots.h"

#include <gtest/gtest.h>

#include <vector>

namespace kestrel::node {
namespace {

using std::chrono::seconds;
const auto t0 = std::chrono::steady_clock::time_point{} + seconds(1000);

AddressKey v4(const char* text) { return address_key(asio::ip::make_address(text)); }

SlotHolder holder(std::uint64_t id, const char* address, bool busy, bool completed, int accepted_s, int active_s) {
  return SlotHolder{id, v4(address), busy, completed, t0 + seconds(accepted_s), t0 + seconds(active_s)};
}

TEST(ConnectionSlots, AddressKeys) {
  EXPECT_EQ(v4("10.0.0.1"), v4("::ffff:10.0.0.1"));  // both spellings of one IPv4 address
  EXPECT_NE(v4("10.0.0.1"), v4("10.0.0.2"));
  EXPECT_EQ(v4("2001:db8:1:2::1"), v4("2001:db8:1:2:ffff::7"));  // one /64
  EXPECT_NE(v4("2001:db8:1:2::1"), v4("2001:db8:1:3::1"));
  EXPECT_NE(v4("::1"), v4("127.0.0.1"));
}

TEST(ConnectionSlots, FreeSlotAccepted) {
  const std::vector<SlotHolder> open{holder(1, "10.0.0.1", false, false, 0, 0)};
  EXPECT_EQ(admit_connection(open, v4("10.0.0.2"), 2, 1).verdict, SlotVerdict::accept);
  EXPECT_EQ(admit_connection({}, v4("10.0.0.2"), 1, 1).verdict, SlotVerdict::accept);
}

TEST(ConnectionSlots, FullPortEvictsNeverCompletedOldestAcceptFirst) {
  const std::vector<SlotHolder> open{
      holder(1, "10.0.0.1", false, true, 0, 1),    // completed, idle longest
      holder(2, "10.0.0.2", false, false, 5, 9),   // never completed, trickled bytes recently
      holder(3, "10.0.0.3", false, false, 7, 7),   // never completed, accepted later
      holder(4, "10.0.0.4", true, false, 0, 0),    // busy: never a victim
  };
  const auto a = admit_connection(open, v4("10.0.0.9"), 4, 4);
  EXPECT_EQ(a.verdict, SlotVerdict::evict_for_port);
  EXPECT_EQ(a.victim, 2u);  // accepted before 3: the trickle does not make it younger
}

TEST(ConnectionSlots, FullPortEvictsLongestIdleCompletedWhenNoOtherIsLeft) {
  const std::vector<SlotHolder> open{
      holder(1, "10.0.0.1", false, true, 0, 8),
      holder(2, "10.0.0.2", false, true, 5, 6),
      holder(3, "10.0.0.3", true, false, 0, 0),
  };
  const auto a = admit_connection(open, v4("10.0.0.9"), 3, 3);
  EXPECT_EQ(a.verdict, SlotVerdict::evict_for_port);
  EXPECT_EQ(a.victim, 2u);
}

TEST(ConnectionSlots, BusyConnectionsAreNeverEvicted) {
  const std::vector<SlotHolder> open{holder(1, "10.0.0.1", true, true, 0, 0), holder(2, "10.0.0.2", true, false, 0, 0)};
  EXPECT_EQ(admit_connection(open, v4("10.0.0.3"), 2, 2).verdict, SlotVerdict::refuse_port_full);
}

TEST(ConnectionSlots, AddressShareEvictsOnlyItsOwn) {
  const std::vector<SlotHolder> open{
      holder(1, "10.0.0.1", false, false, 0, 0),  // another address, older
      holder(2, "10.0.0.2", false, true, 3, 3),
      holder(3, "10.0.0.2", false, false, 4, 4),
  };
  const auto a = admit_connection(open, v4("10.0.0.2"), 8, 2);
  EXPECT_EQ(a.verdict, SlotVerdict::evict_for_address);
  EXPECT_EQ(a.victim, 3u);  // its own never-completed one, not 10.0.0.1's
  // All of the address's connections busy: refused, though others are evictable.
  const std::vector<SlotHolder> busy{
      holder(1, "10.0.0.1", false, false, 0, 0),
      holder(2, "10.0.0.2", true, true, 3, 3),
      holder(3, "10.0.0.2", true, false, 4, 4),
  };
  EXPECT_EQ(admit_connection(busy, v4("10.0.0.2"), 8, 2).verdict, SlotVerdict::refuse_address_full);
  EXPECT_EQ(admit_connection(busy, v4("10.0.0.3"), 8, 2).verdict, SlotVerdict::accept);
}

TEST(ConnectionSlots, TiesGoToTheLowerId) {
  const std::vector<SlotHolder> open{holder(7, "10.0.0.1", false, false, 0, 0), holder(5, "10.0.0.2", false, false, 0, 0)};
  EXPECT_EQ(admit_connection(open, v4("10.0.0.3"), 2, 2).victim, 5u);
}

}  // namespace
}  // namespace kestrel::node
