#include "sim/digest.h"

namespace kestrel::sim {

void TraceDigest::add(const Event& event) {
  // A fixed 24-byte header (time, kind, node, sender, zero padding), then the
  // bytes as they travelled. The layout is part of every digest: changing it
  // makes recorded digests incomparable.
  std::uint8_t header[24];
  for (int i = 0; i < 8; ++i) header[i] = static_cast<std::uint8_t>(event.time >> (8 * i));
  header[8] = static_cast<std::uint8_t>(event.kind);
  for (int i = 0; i < 4; ++i) header[9 + i] = static_cast<std::uint8_t>(event.node >> (8 * i));
  for (int i = 0; i < 4; ++i) header[13 + i] = static_cast<std::uint8_t>(event.from >> (8 * i));
  for (int i = 17; i < 24; ++i) header[i] = 0;
  sha_.update(header);
  sha_.update(event.bytes);
}

}  // namespace kestrel::sim
