// Canonical encoding of DAG vertices and messages (docs/dag.md "Wire format").
#include "common/assert.h"
#include "common/limits.h"
#include "dag/dag.h"

namespace kestrel::dag {

namespace {

// Domain tags: a vertex id is no other hash, a vertex signature no other signature.
constexpr std::uint8_t domain_vertex_id = 0x61;
constexpr std::uint8_t domain_vertex_signature = 0x62;

// Message tags.
constexpr std::uint8_t tag_vertex = 1;
constexpr std::uint8_t tag_fetch_request = 2;
constexpr std::uint8_t tag_fetch_response = 3;

void write_content(Writer& w, const Vertex& v) {
  KESTREL_ASSERT(v.parents.size() <= limits::validators_max);
  w.varint(v.chain_id);
  w.varint(v.round);
  w.varint(v.author);
  w.varint(v.parents.size());
  for (const auto& p : v.parents) w.fixed(p.bytes);
  w.bytes(v.payload, limits::block_payload_bytes_max);
}

void write_vertex(Writer& w, const Vertex& v) {
  write_content(w, v);
  w.bytes(v.signature, limits::signature_bytes_max);
}

Result<Vertex, CodecError> read_vertex(Reader& r) {
  Vertex v;
  auto chain = r.varint();
  if (!chain) return Err(chain.error());
  v.chain_id = *chain;
  auto round = r.varint();
  if (!round) return Err(round.error());
  if (*round == 0) return Err(CodecError::invalid_value);
  v.round = *round;
  auto author = r.varint_max(limits::validators_max - 1);
  if (!author) return Err(author.error());
  v.author = static_cast<ReplicaId>(*author);
  auto count = r.varint_max(limits::validators_max);
  if (!count) return Err(count.error());
  v.parents.resize(*count);
  for (auto& p : v.parents) {
    if (auto s = r.fixed_into(p.bytes); !s) return Err(s.error());
  }
  auto payload = r.bytes(limits::block_payload_bytes_max);
  if (!payload) return Err(payload.error());
  v.payload.assign(payload->begin(), payload->end());
  auto signature = r.bytes(limits::signature_bytes_max);
  if (!signature) return Err(signature.error());
  v.signature.assign(signature->begin(), signature->end());
  return v;
}

Result<std::vector<VertexId>, CodecError> read_ids(Reader& r) {
  auto count = r.varint_max(limits::dag_fetch_ids_max);
  if (!count) return Err(count.error());
  if (*count == 0) return Err(CodecError::invalid_value);
  std::vector<VertexId> ids(*count);
  for (auto& id : ids) {
    if (auto s = r.fixed_into(id.bytes); !s) return Err(s.error());
  }
  return ids;
}

}  // namespace

VertexId Vertex::id() const {
  Bytes content;
  content.reserve(64 + parents.size() * 32 + payload.size());
  Writer w(content);
  w.u8(domain_vertex_id);
  write_content(w, *this);
  return sha256(content);
}

Bytes signing_bytes(const VertexId& id) {
  Bytes out;
  out.reserve(33);
  out.push_back(domain_vertex_signature);
  out.insert(out.end(), id.bytes.begin(), id.bytes.end());
  return out;
}

Bytes encode_vertex(const Vertex& vertex) {
  Bytes out;
  out.reserve(64 + vertex.parents.size() * 32 + vertex.payload.size() + vertex.signature.size());
  Writer w(out);
  write_vertex(w, vertex);
  return out;
}

Result<Vertex, CodecError> decode_vertex(ByteSpan bytes) {
  Reader r(bytes);
  auto v = read_vertex(r);
  if (!v) return Err(v.error());
  if (auto s = r.finish(); !s) return Err(s.error());
  return v;
}

Bytes encode_message(const Message& message) {
  Bytes out;
  Writer w(out);
  if (const auto* v = std::get_if<VertexMessage>(&message)) {
    w.u8(tag_vertex);
    write_vertex(w, v->vertex);
  } else if (const auto* q = std::get_if<FetchRequest>(&message)) {
    KESTREL_ASSERT(!q->ids.empty() && q->ids.size() <= limits::dag_fetch_ids_max);
    w.u8(tag_fetch_request);
    w.varint(q->ids.size());
    for (const auto& id : q->ids) w.fixed(id.bytes);
  } else {
    const auto& a = std::get<FetchResponse>(message);
    KESTREL_ASSERT(a.vertices.size() <= limits::dag_fetch_ids_max);
    w.u8(tag_fetch_response);
    w.varint(a.vertices.size());
    for (const auto& vertex : a.vertices) write_vertex(w, vertex);
  }
  return out;
}

Result<Message, CodecError> decode_message(ByteSpan bytes) {
  if (bytes.size() > limits::dag_message_bytes_max) return Err(CodecError::too_long);
  Reader r(bytes);
  auto tag = r.u8();
  if (!tag) return Err(tag.error());
  Message out;
  switch (*tag) {
    case tag_vertex: {
      auto v = read_vertex(r);
      if (!v) return Err(v.error());
      out = VertexMessage{std::move(*v)};
      break;
    }
    case tag_fetch_request: {
      auto ids = read_ids(r);
      if (!ids) return Err(ids.error());
      out = FetchRequest{std::move(*ids)};
      break;
    }
    case tag_fetch_response: {
      auto count = r.varint_max(limits::dag_fetch_ids_max);
      if (!count) return Err(count.error());
      FetchResponse response;
      response.vertices.reserve(*count);
      for (std::uint64_t i = 0; i < *count; ++i) {
        auto v = read_vertex(r);
        if (!v) return Err(v.error());
        response.vertices.push_back(std::move(*v));
      }
      out = std::move(response);
      break;
    }
    default:
      return Err(CodecError::invalid_value);
  }
  if (auto s = r.finish(); !s) return Err(s.error());
  return out;
}

}  // namespace kestrel::dag
