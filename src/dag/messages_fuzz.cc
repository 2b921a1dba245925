// libFuzzer target for the DAG wire format (decode_message).
//
// Every input must either be refused with a CodecError or decode to a message
// whose encoding is exactly the input (one encoding per value). Never a crash,
// an assertion, an out-of-bounds read (ASan) or undefined behaviour (UBSan).
// Vertex ids are computed too, as every received vertex is hashed.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "dag/dag.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace dag = kestrel::dag;
  const kestrel::ByteSpan in(data, size);
  auto decoded = dag::decode_message(in);
  if (!decoded) return 0;
  if (const auto* v = std::get_if<dag::VertexMessage>(&*decoded)) (void)v->vertex.id();
  if (const auto* r = std::get_if<dag::FetchResponse>(&*decoded)) {
    for (const auto& v : r->vertices) (void)v.id();
  }
  const kestrel::Bytes encoded = dag::encode_message(*decoded);
  if (encoded.size() != in.size() || !std::equal(encoded.begin(), encoded.end(), in.begin())) __builtin_trap();
  return 0;
}
