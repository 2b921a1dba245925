// Micro-benchmarks of the frame path without sockets: seal + open of one frame
// per size, and walking a batch of message records.
#include <benchmark/benchmark.h>

#include "crypto/random.h"
#include "net/wire.h"

namespace kestrel::net::wire {
namespace {

void BM_NetFrameSealOpen(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  crypto::AeadKey key{};
  crypto::random_bytes(key);
  FrameCipher tx(key, limits::net_rekey_frames_max, limits::net_rekey_bytes_max);
  FrameCipher rx(key, limits::net_rekey_frames_max, limits::net_rekey_bytes_max);
  Bytes frame(frame_header_bytes + size + crypto::aead_tag_bytes);
  for (auto _ : state) {
    tx.seal(frame);
    std::span<const std::uint8_t, 4> header(frame.data(), 4);
    if (!rx.open(header, MutableByteSpan(frame).subspan(4))) state.SkipWithError("open failed");
    benchmark::DoNotOptimize(frame.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}
BENCHMARK(BM_NetFrameSealOpen)->Arg(64)->Arg(4096)->Arg(256 * 1024);

void BM_NetDecodeMessages(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  Bytes body;
  const Bytes payload(size, 7);
  std::size_t count = 0;
  while (body.size() + size < 256 * 1024) {
    append_message(1, payload, body);
    ++count;
  }
  for (auto _ : state) {
    std::size_t bytes = 0;
    auto n = decode_messages(body, [&](std::uint16_t, ByteSpan p) { bytes += p.size(); });
    benchmark::DoNotOptimize(bytes);
    benchmark::DoNotOptimize(n);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * count));
}
BENCHMARK(BM_NetDecodeMessages)->Arg(64)->Arg(4096);

}  // namespace
}  // namespace kestrel::net::wire
