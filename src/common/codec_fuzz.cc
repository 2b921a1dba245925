// libFuzzer target for the codec Reader (`make fuzz`).
//
// The first input byte picks a sequence of reads; each read must either succeed
// within bounds or fail with a CodecError (never crash, never read out of bounds:
// ASan checks that). When a whole schema decodes, re-encoding must reproduce the
// consumed bytes exactly (canonical encoding).
#include <cstddef>
#include <cstdint>

#include "common/codec.h"

namespace {

using kestrel::Bytes;
using kestrel::ByteSpan;
using kestrel::Reader;
using kestrel::Writer;

void check_canonical(ByteSpan in) {
  // Schema: varint, bool, bytes(<= 1000), u16, u64, fixed(3), then finish.
  Reader r(in);
  auto a = r.varint();
  if (!a) return;
  auto b = r.boolean();
  if (!b) return;
  auto c = r.bytes(1000);
  if (!c) return;
  auto d = r.u16();
  if (!d) return;
  auto e = r.u64();
  if (!e) return;
  auto f = r.fixed(3);
  if (!f) return;
  if (!r.finish()) return;
  Bytes out;
  Writer w(out);
  w.varint(*a);
  w.boolean(*b);
  w.bytes(*c, 1000);
  w.u16(*d);
  w.u64(*e);
  w.fixed(*f);
  if (out.size() != in.size() || !std::equal(out.begin(), out.end(), in.begin())) __builtin_trap();
}

void walk(ByteSpan in) {
  if (in.empty()) return;
  Reader r(in.subspan(1));
  std::uint8_t program = in[0];
  // Bounded: at most 64 reads regardless of input.
  for (int step = 0; step < 64 && r.remaining() > 0; ++step) {
    const std::size_t before = r.position();
    bool ok = false;
    switch ((program + step) % 8) {
      case 0: ok = r.u8().ok(); break;
      case 1: ok = r.u16().ok(); break;
      case 2: ok = r.u32().ok(); break;
      case 3: ok = r.u64().ok(); break;
      case 4: ok = r.varint().ok(); break;
      case 5: ok = r.boolean().ok(); break;
      case 6: ok = r.bytes(program).ok(); break;
      case 7: ok = r.fixed(program % 17).ok(); break;
    }
    if (r.position() > in.size() - 1) __builtin_trap();
    if (!ok && r.position() < before) __builtin_trap();
    if (!ok) break;
  }
  (void)r.finish();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ByteSpan in(data, size);
  walk(in);
  check_canonical(in);
  return 0;
}
