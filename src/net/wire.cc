#include "net/wire.h"

#include <zstd.h>

#include <cstring>

#include "common/assert.h"
#include "common/limits.h"
#include "crypto/ct.h"
#include "crypto/kdf.h"

namespace kestrel::net::wire {

namespace {

constexpr std::string_view transcript_label = "kestrel-net-v1 transcript";
constexpr std::string_view responder_label = "kestrel-net-v1 responder signs";
constexpr std::string_view initiator_label = "kestrel-net-v1 initiator signs";
constexpr std::string_view key_i2r_label = "kestrel-net-v1 initiator to responder";
constexpr std::string_view key_r2i_label = "kestrel-net-v1 responder to initiator";
constexpr std::string_view rekey_label = "kestrel-net-v1 rekey";

Result<KeyExchange, WireError> read_key_exchange(Reader& r) {
  auto v = r.u8();
  if (!v) return Err(WireError::malformed);
  if (*v == static_cast<std::uint8_t>(KeyExchange::x25519)) return KeyExchange::x25519;
  if (*v == static_cast<std::uint8_t>(KeyExchange::hybrid)) return KeyExchange::hybrid;
  return Err(WireError::malformed);
}

Result<std::uint16_t, WireError> read_validator(Reader& r) {
  auto v = r.varint_max(limits::validators_max - 1);
  if (!v) return Err(WireError::malformed);
  return static_cast<std::uint16_t>(*v);
}

Status<WireError> read_version(Reader& r) {
  auto v = r.u8();
  if (!v) return Err(WireError::malformed);
  if (*v != protocol_version) return Err(WireError::bad_version);
  return {};
}

void put_le32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

}  // namespace

const char* describe(WireError error) {
  switch (error) {
    case WireError::malformed: return "malformed message";
    case WireError::bad_version: return "unsupported protocol version";
    case WireError::oversized: return "length above its limit";
    case WireError::undersized: return "frame shorter than its tag";
    case WireError::authentication_failed: return "frame authentication failed";
    case WireError::decompression_failed: return "compressed frame does not inflate to its stated size";
  }
  return "unknown wire error";
}

// --- Handshake messages ---------------------------------------------------------------

void encode_hello(const Hello& hello, Bytes& out) {
  Writer w(out);
  w.u8(protocol_version);
  w.u8(static_cast<std::uint8_t>(hello.key_exchange));
  w.u8(hello.scheme_tag);
  w.fixed(hello.cluster_id.bytes);
  w.varint(hello.initiator);
  w.varint(hello.responder);
  w.fixed(hello.x25519_public);
  if (hello.key_exchange == KeyExchange::hybrid) w.fixed(hello.mlkem_ek);
  w.fixed(hello.nonce);
}

Result<Hello, WireError> decode_hello(ByteSpan in) {
  if (in.size() > limits::net_handshake_message_bytes_max) return Err(WireError::oversized);
  Reader r(in);
  KESTREL_TRY(read_version(r));
  Hello hello;
  auto kx = read_key_exchange(r);
  if (!kx) return Err(kx.error());
  hello.key_exchange = *kx;
  auto scheme = r.u8();
  if (!scheme) return Err(WireError::malformed);
  hello.scheme_tag = *scheme;
  if (!r.fixed_into(hello.cluster_id.bytes)) return Err(WireError::malformed);
  auto initiator = read_validator(r);
  if (!initiator) return Err(initiator.error());
  hello.initiator = *initiator;
  auto responder = read_validator(r);
  if (!responder) return Err(responder.error());
  hello.responder = *responder;
  if (!r.fixed_into(hello.x25519_public)) return Err(WireError::malformed);
  if (hello.key_exchange == KeyExchange::hybrid && !r.fixed_into(hello.mlkem_ek)) {
    return Err(WireError::malformed);
  }
  if (!r.fixed_into(hello.nonce)) return Err(WireError::malformed);
  if (!r.finish()) return Err(WireError::malformed);
  return hello;
}

void encode_reply_unsigned(const Reply& reply, Bytes& out) {
  Writer w(out);
  w.u8(protocol_version);
  w.u8(static_cast<std::uint8_t>(reply.key_exchange));
  w.varint(reply.responder);
  w.fixed(reply.x25519_public);
  if (reply.key_exchange == KeyExchange::hybrid) w.fixed(reply.mlkem_ciphertext);
}

void append_signature(ByteSpan signature, Bytes& out) {
  Writer(out).bytes(signature, limits::signature_bytes_max);
}

void encode_finish(ByteSpan signature, Bytes& out) { append_signature(signature, out); }

Result<Reply, WireError> decode_reply(ByteSpan in, std::size_t& reply_unsigned_bytes) {
  if (in.size() > limits::net_handshake_message_bytes_max) return Err(WireError::oversized);
  Reader r(in);
  KESTREL_TRY(read_version(r));
  Reply reply;
  auto kx = read_key_exchange(r);
  if (!kx) return Err(kx.error());
  reply.key_exchange = *kx;
  auto responder = read_validator(r);
  if (!responder) return Err(responder.error());
  reply.responder = *responder;
  if (!r.fixed_into(reply.x25519_public)) return Err(WireError::malformed);
  if (reply.key_exchange == KeyExchange::hybrid && !r.fixed_into(reply.mlkem_ciphertext)) {
    return Err(WireError::malformed);
  }
  reply_unsigned_bytes = r.position();
  auto signature = r.bytes(limits::signature_bytes_max);
  if (!signature) return Err(WireError::malformed);
  reply.signature = *signature;
  if (!r.finish()) return Err(WireError::malformed);
  return reply;
}

Result<Finish, WireError> decode_finish(ByteSpan in) {
  if (in.size() > limits::net_handshake_message_bytes_max) return Err(WireError::oversized);
  Reader r(in);
  auto signature = r.bytes(limits::signature_bytes_max);
  if (!signature) return Err(WireError::malformed);
  if (!r.finish()) return Err(WireError::malformed);
  return Finish{*signature};
}

Hash32 transcript_hash(ByteSpan hello, ByteSpan reply_unsigned) {
  Sha256 h;
  h.update(as_bytes(transcript_label));
  std::uint8_t length[4];
  put_le32(length, static_cast<std::uint32_t>(hello.size()));
  h.update(length);
  h.update(hello);
  put_le32(length, static_cast<std::uint32_t>(reply_unsigned.size()));
  h.update(length);
  h.update(reply_unsigned);
  return h.finish();
}

namespace {
Bytes signed_message(std::string_view label, const Hash32& transcript) {
  Bytes out(label.begin(), label.end());
  out.insert(out.end(), transcript.bytes.begin(), transcript.bytes.end());
  return out;
}
}  // namespace

Bytes responder_signed_message(const Hash32& transcript) {
  return signed_message(responder_label, transcript);
}
Bytes initiator_signed_message(const Hash32& transcript) {
  return signed_message(initiator_label, transcript);
}

SessionKeys::~SessionKeys() {
  crypto::secure_zero(initiator_to_responder);
  crypto::secure_zero(responder_to_initiator);
}

Result<SessionKeys, crypto::CryptoError> derive_session_keys(ByteSpan x25519_secret,
                                                             ByteSpan mlkem_secret,
                                                             const Hash32& transcript) {
  std::array<std::uint8_t, crypto::x25519_bytes + crypto::mlkem::shared_key_bytes> ikm{};
  if (x25519_secret.size() != crypto::x25519_bytes ||
      (!mlkem_secret.empty() && mlkem_secret.size() != crypto::mlkem::shared_key_bytes)) {
    return Err(crypto::CryptoError::bad_length);
  }
  std::memcpy(ikm.data(), x25519_secret.data(), x25519_secret.size());
  if (!mlkem_secret.empty()) {
    std::memcpy(ikm.data() + x25519_secret.size(), mlkem_secret.data(), mlkem_secret.size());
  }
  const ByteSpan ikm_used(ikm.data(), x25519_secret.size() + mlkem_secret.size());
  std::array<std::uint8_t, crypto::hkdf_sha256_prk_bytes> prk{};
  auto extracted = crypto::hkdf_extract(prk, ikm_used, transcript.bytes);
  crypto::secure_zero(ikm);
  if (!extracted) return Err(extracted.error());
  SessionKeys keys;
  auto a = crypto::hkdf_expand(keys.initiator_to_responder, prk, as_bytes(key_i2r_label));
  auto b = crypto::hkdf_expand(keys.responder_to_initiator, prk, as_bytes(key_r2i_label));
  crypto::secure_zero(prk);
  if (!a) return Err(a.error());
  if (!b) return Err(b.error());
  return keys;
}

crypto::AeadKey next_key(const crypto::AeadKey& current) {
  crypto::AeadKey next{};
  KESTREL_ASSERT(crypto::hkdf_expand(next, current, as_bytes(rekey_label)).ok());
  return next;
}

// --- Frames -----------------------------------------------------------------------------

void append_message(std::uint16_t type, ByteSpan payload, Bytes& out) {
  KESTREL_ASSERT(payload.size() <= limits::message_size_max);
  Writer w(out);
  w.varint(type);
  w.bytes(payload, limits::message_size_max);
}

std::size_t message_record_bytes(std::size_t payload_bytes) {
  std::size_t length_bytes = 1;
  for (std::size_t v = payload_bytes; v >= 0x80; v >>= 7) ++length_bytes;
  return 3 + length_bytes + payload_bytes;  // type varint is at most 3 bytes
}

Result<std::uint32_t, WireError> decode_frame_length(std::span<const std::uint8_t, 4> header) {
  const std::uint32_t length = static_cast<std::uint32_t>(header[0]) |
                               (static_cast<std::uint32_t>(header[1]) << 8) |
                               (static_cast<std::uint32_t>(header[2]) << 16) |
                               (static_cast<std::uint32_t>(header[3]) << 24);
  if (length > limits::frame_bytes_max) return Err(WireError::oversized);
  if (length < 1 + crypto::aead_tag_bytes) return Err(WireError::undersized);
  return length;
}

FrameCipher::FrameCipher(const crypto::AeadKey& key, std::uint64_t rekey_frames,
                         std::uint64_t rekey_bytes)
    : key_(key), rekey_frames_(rekey_frames), rekey_bytes_(rekey_bytes) {
  KESTREL_ASSERT(rekey_frames_ >= 1 && rekey_frames_ <= limits::net_rekey_frames_max);
  KESTREL_ASSERT(rekey_bytes_ >= 1 && rekey_bytes_ <= limits::net_rekey_bytes_max);
}

FrameCipher::~FrameCipher() { crypto::secure_zero(key_); }

namespace {
crypto::AeadNonce make_nonce(std::uint32_t epoch, std::uint64_t counter) {
  crypto::AeadNonce nonce{};
  put_le32(nonce.data(), epoch);
  for (int i = 0; i < 8; ++i) nonce[4 + i] = static_cast<std::uint8_t>(counter >> (8 * i));
  return nonce;
}
}  // namespace

void FrameCipher::advance(std::size_t sealed_bytes) {
  ++counter_;
  bytes_ += sealed_bytes;
  // Both directions' ends see the same frames and sizes, so they rekey at the
  // same frame without a message.
  if (counter_ >= rekey_frames_ || bytes_ >= rekey_bytes_) {
    const crypto::AeadKey next = next_key(key_);
    key_ = next;
    ++epoch_;
    counter_ = 0;
    bytes_ = 0;
  }
}

void FrameCipher::seal(MutableByteSpan frame) {
  KESTREL_ASSERT(frame.size() >= frame_overhead_bytes);
  const std::size_t sealed = frame.size() - frame_header_bytes;
  KESTREL_ASSERT(sealed <= limits::frame_bytes_max);
  put_le32(frame.data(), static_cast<std::uint32_t>(sealed));
  const std::size_t plain = sealed - crypto::aead_tag_bytes;
  MutableByteSpan body = frame.subspan(frame_header_bytes, plain);
  std::span<std::uint8_t, crypto::aead_tag_bytes> tag(frame.data() + frame_header_bytes + plain,
                                                      crypto::aead_tag_bytes);
  crypto::aead_seal_detached(body, tag, body, frame.first(frame_header_bytes),
                             make_nonce(epoch_, counter_), key_);
  advance(sealed);
}

Status<WireError> FrameCipher::open(std::span<const std::uint8_t, 4> header, MutableByteSpan sealed) {
  if (sealed.size() < 1 + crypto::aead_tag_bytes) return Err(WireError::undersized);
  if (sealed.size() > limits::frame_bytes_max) return Err(WireError::oversized);
  const std::size_t plain = sealed.size() - crypto::aead_tag_bytes;
  auto opened = crypto::aead_open_detached(sealed.first(plain), sealed.first(plain),
                                           sealed.subspan(plain), header,
                                           make_nonce(epoch_, counter_), key_);
  if (!opened) return Err(WireError::authentication_failed);
  advance(sealed.size());
  return {};
}

bool compress_body(ByteSpan body, Bytes& out) {
  const std::size_t bound = ZSTD_compressBound(body.size());
  const std::size_t start = out.size();
  Writer(out).varint(body.size());
  const std::size_t header = out.size() - start;
  out.resize(start + header + bound);
  // Level 1: the fastest; the frames are consensus messages, not archives.
  const std::size_t n = ZSTD_compress(out.data() + start + header, bound, body.data(), body.size(), 1);
  if (ZSTD_isError(n) || header + n >= body.size()) {
    out.resize(start);
    return false;
  }
  out.resize(start + header + n);
  return true;
}

Status<WireError> decompress_body(ByteSpan compressed, Bytes& out) {
  Reader r(compressed);
  auto raw = r.varint_max(limits::frame_bytes_max);
  if (!raw) return Err(WireError::decompression_failed);
  if (*raw == 0) return Err(WireError::decompression_failed);
  const ByteSpan data = compressed.subspan(r.position());
  // The stated size is checked above before this allocation; zstd writes at most
  // `*raw` bytes, so a decompression bomb stops at frame_bytes_max.
  out.resize(*raw);
  const std::size_t n = ZSTD_decompress(out.data(), out.size(), data.data(), data.size());
  if (ZSTD_isError(n) || n != *raw) {
    out.clear();
    return Err(WireError::decompression_failed);
  }
  return {};
}

}  // namespace kestrel::net::wire
