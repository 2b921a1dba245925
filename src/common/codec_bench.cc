// Codec micro-benchmarks: encode and decode of a ~1 KB structure shaped like a
// small block header with payload (ids, integers, a byte string).
#include <benchmark/benchmark.h>

#include "common/codec.h"
#include "common/hash.h"
#include "common/prng.h"

namespace kestrel {
namespace {

struct Header {
  Hash32 parent;
  std::uint64_t view = 0;
  std::uint64_t height = 0;
  std::uint32_t proposer = 0;
  Bytes payload;  // 900 bytes
  Hash32 justify;
};

Header sample_header() {
  Prng prng(1);
  Header h;
  prng.fill(h.parent.bytes);
  prng.fill(h.justify.bytes);
  h.view = 123456;
  h.height = 987654;
  h.proposer = 3;
  h.payload.resize(900);
  prng.fill(h.payload);
  return h;
}

void encode(const Header& h, Bytes& out) {
  Writer w(out);
  w.fixed(h.parent.bytes);
  w.varint(h.view);
  w.varint(h.height);
  w.u32(h.proposer);
  w.bytes(h.payload, 4096);
  w.fixed(h.justify.bytes);
}

bool decode(ByteSpan in, Header& h) {
  Reader r(in);
  if (!r.fixed_into(h.parent.bytes)) return false;
  auto view = r.varint();
  if (!view) return false;
  h.view = *view;
  auto height = r.varint();
  if (!height) return false;
  h.height = *height;
  auto proposer = r.u32();
  if (!proposer) return false;
  h.proposer = *proposer;
  auto payload = r.bytes(4096);
  if (!payload) return false;
  h.payload.assign(payload->begin(), payload->end());
  if (!r.fixed_into(h.justify.bytes)) return false;
  return r.finish().ok();
}

void BM_CodecEncode1KB(benchmark::State& state) {
  const Header h = sample_header();
  Bytes out;
  out.reserve(2048);
  for (auto _ : state) {
    out.clear();
    encode(h, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * out.size()));
}
BENCHMARK(BM_CodecEncode1KB);

void BM_CodecDecode1KB(benchmark::State& state) {
  Bytes wire;
  encode(sample_header(), wire);
  Header h;
  h.payload.reserve(1024);
  for (auto _ : state) {
    const bool ok = decode(wire, h);
    benchmark::DoNotOptimize(ok);
    if (!ok) state.SkipWithError("decode failed");
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * wire.size()));
}
BENCHMARK(BM_CodecDecode1KB);

}  // namespace
}  // namespace kestrel
