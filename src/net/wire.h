// Wire formats of the validator network (docs/network.md), without I/O: the
// handshake messages, the key schedule, and the frame sealer/opener. The
// session code in network.cc drives them over sockets; the fuzzers and unit
// tests drive them directly.
//
// Everything here is total on peer input: a decoder returns a value or a
// WireError, checks every length before using it, and never allocates more than
// the checked length.
//
// Thread-safety: free functions are pure; a FrameSealer/FrameOpener belongs to
// one session (one thread).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "common/bytes.h"
#include "common/codec.h"
#include "common/limits.h"
#include "common/hash.h"
#include "common/result.h"
#include "crypto/classic.h"
#include "crypto/mlkem.h"
#include "crypto/signature.h"

namespace kestrel::net::wire {

enum class WireError : std::uint8_t {
  malformed,          // a handshake message or frame payload does not decode
  bad_version,        // protocol version we do not speak
  oversized,          // a length above its limit
  undersized,         // a frame shorter than its tag
  authentication_failed,  // AEAD tag mismatch: tampered, replayed, reordered or wrong key
  decompression_failed,   // a compressed frame that does not inflate to its stated size
};
const char* describe(WireError error);

inline constexpr std::uint8_t protocol_version = 1;

// How the session key is agreed. hybrid is the default; x25519 exists only for
// the handshake-time comparison of `kestrel bench net`.
enum class KeyExchange : std::uint8_t { x25519 = 1, hybrid = 2 };

inline constexpr std::size_t nonce_bytes = 32;
inline constexpr auto mlkem_set = crypto::mlkem::ParameterSet::ml_kem_768;
inline constexpr std::size_t mlkem_ek_bytes = crypto::mlkem::ml_kem_768_ek_bytes;
inline constexpr std::size_t mlkem_ciphertext_bytes = crypto::mlkem::ml_kem_768_ciphertext_bytes;

// Message 1, initiator -> responder.
struct Hello {
  KeyExchange key_exchange = KeyExchange::hybrid;
  std::uint8_t scheme_tag = 0;  // the cluster's signature scheme
  Hash32 cluster_id;
  std::uint16_t initiator = 0;  // claimed validator id
  std::uint16_t responder = 0;  // the validator it means to reach
  std::array<std::uint8_t, crypto::x25519_bytes> x25519_public{};
  std::array<std::uint8_t, mlkem_ek_bytes> mlkem_ek{};  // hybrid only
  std::array<std::uint8_t, nonce_bytes> nonce{};
};

// Message 2, responder -> initiator.
struct Reply {
  KeyExchange key_exchange = KeyExchange::hybrid;
  std::uint16_t responder = 0;
  std::array<std::uint8_t, crypto::x25519_bytes> x25519_public{};
  std::array<std::uint8_t, mlkem_ciphertext_bytes> mlkem_ciphertext{};  // hybrid only
  ByteSpan signature;  // over responder_context || transcript; a view into the input
};

// Message 3, initiator -> responder.
struct Finish {
  ByteSpan signature;  // over initiator_context || transcript
};

// Encoders append to `out`. encode_reply_unsigned writes everything but the
// signature (the transcript covers exactly those bytes); append_signature adds it.
void encode_hello(const Hello& hello, Bytes& out);
void encode_reply_unsigned(const Reply& reply, Bytes& out);
void append_signature(ByteSpan signature, Bytes& out);
void encode_finish(ByteSpan signature, Bytes& out);

Result<Hello, WireError> decode_hello(ByteSpan in);
// On success reply_unsigned_bytes is the length of the unsigned prefix of `in`.
Result<Reply, WireError> decode_reply(ByteSpan in, std::size_t& reply_unsigned_bytes);
Result<Finish, WireError> decode_finish(ByteSpan in);

// Transcript hash: SHA-256 over a domain label, the hello and the unsigned reply,
// each with a 4-byte length. Both signatures and the key schedule use it.
Hash32 transcript_hash(ByteSpan hello, ByteSpan reply_unsigned);
// The bytes each side signs: a role label then the transcript hash (the labels
// keep a responder signature from being replayed as an initiator's).
Bytes responder_signed_message(const Hash32& transcript);
Bytes initiator_signed_message(const Hash32& transcript);

struct SessionKeys {
  crypto::AeadKey initiator_to_responder{};
  crypto::AeadKey responder_to_initiator{};
  ~SessionKeys();
};
// HKDF-SHA256: PRK = Extract(salt = transcript, ikm = x25519 secret || ML-KEM
// secret (hybrid) or x25519 secret), then one Expand per direction.
Result<SessionKeys, crypto::CryptoError> derive_session_keys(ByteSpan x25519_secret,
                                                             ByteSpan mlkem_secret,
                                                             const Hash32& transcript);
// The next key of a direction: HKDF-Expand(current, "rekey").
crypto::AeadKey next_key(const crypto::AeadKey& current);

// --- Frames -------------------------------------------------------------------------
//
// On the wire: u32 little-endian length L, then L bytes of ChaCha20-Poly1305
// ciphertext || 16-byte tag. The 4 length bytes are the associated data. The
// nonce is a 4-byte key epoch || 8-byte frame counter, both little-endian and
// implicit: each side counts, so a replayed, reordered or dropped frame fails
// authentication. Plaintext: u8 kind, then
//   kind 0 (messages): one or more of { varint type, varint length, bytes };
//   kind 1 (keepalive): nothing;
//   kind 2 (close): nothing;
//   kind 3 (compressed messages): varint raw length, then zstd of a kind-0 body.
inline constexpr std::size_t frame_header_bytes = 4;
inline constexpr std::size_t frame_overhead_bytes = frame_header_bytes + 1 + crypto::aead_tag_bytes;
enum class FrameKind : std::uint8_t { messages = 0, keepalive = 1, close = 2, compressed = 3 };

// Appends one encoded message record (type, length, payload) to `out`.
void append_message(std::uint16_t type, ByteSpan payload, Bytes& out);
// Bytes append_message adds for a payload of this size.
std::size_t message_record_bytes(std::size_t payload_bytes);

// Reads the length prefix: the sealed size L, checked to be within
// [1 + tag, frame_bytes_max] (oversized / undersized otherwise).
Result<std::uint32_t, WireError> decode_frame_length(std::span<const std::uint8_t, 4> header);

// Counters-and-rekey state of one direction, shared by sealer and opener so the
// two sides agree on when to rekey.
class FrameCipher {
 public:
  FrameCipher(const crypto::AeadKey& key, std::uint64_t rekey_frames, std::uint64_t rekey_bytes);
  ~FrameCipher();
  FrameCipher(const FrameCipher&) = delete;
  FrameCipher& operator=(const FrameCipher&) = delete;

  // Seals in place: `frame` is [4-byte header][plaintext][16 spare bytes]; the
  // header is written, plaintext encrypted, tag appended.
  // REQUIRES: frame.size() >= frame_overhead_bytes and within frame_bytes_max + 4.
  void seal(MutableByteSpan frame);
  // Opens in place: `sealed` is L bytes after the header; on success the first
  // L - 16 bytes are plaintext.
  Status<WireError> open(std::span<const std::uint8_t, 4> header, MutableByteSpan sealed);

  std::uint64_t rekeys() const { return epoch_; }

 private:
  void advance(std::size_t sealed_bytes);
  crypto::AeadKey key_{};
  std::uint32_t epoch_ = 0;
  std::uint64_t counter_ = 0;
  std::uint64_t bytes_ = 0;
  std::uint64_t rekey_frames_;
  std::uint64_t rekey_bytes_;
};

// Walks the messages of an opened kind-0 body (after the kind byte). Calls
// deliver(type, payload) for each; stops at the first malformed record. The
// payload views point into `body`. Returns the number of messages.
template <typename Sink>
Result<std::size_t, WireError> decode_messages(ByteSpan body, Sink&& deliver);

// zstd (gate net.compression). compress_body returns false when the result would
// not be smaller. decompress_body checks the stated raw size against
// frame_bytes_max before allocating and the inflated size against the statement.
bool compress_body(ByteSpan body, Bytes& out);
Status<WireError> decompress_body(ByteSpan compressed, Bytes& out);

template <typename Sink>
Result<std::size_t, WireError> decode_messages(ByteSpan body, Sink&& deliver) {
  Reader reader(body);
  std::size_t count = 0;
  if (body.empty()) return Err(WireError::malformed);  // a data frame carries at least one
  while (reader.remaining() > 0) {
    auto type = reader.varint_max(limits::net_message_type_max);
    if (!type) return Err(WireError::malformed);
    auto payload = reader.bytes(limits::message_size_max);
    if (!payload) return Err(WireError::malformed);
    deliver(static_cast<std::uint16_t>(*type), *payload);
    ++count;
  }
  return count;
}

// Decodes an opened frame's plaintext (kind byte first): keepalive and close
// must be empty; messages and compressed bodies are walked with deliver().
// `scratch` receives an inflated body. Returns the frame's kind and sets
// `messages` to the number delivered. Used by the session reader and the fuzzer.
template <typename Sink>
Result<FrameKind, WireError> decode_frame_plaintext(ByteSpan plaintext, Bytes& scratch,
                                                    std::size_t& messages, Sink&& deliver) {
  messages = 0;
  if (plaintext.empty()) return Err(WireError::malformed);
  const std::uint8_t kind = plaintext[0];
  ByteSpan body = plaintext.subspan(1);
  if (kind == static_cast<std::uint8_t>(FrameKind::keepalive) ||
      kind == static_cast<std::uint8_t>(FrameKind::close)) {
    if (!body.empty()) return Err(WireError::malformed);
    return static_cast<FrameKind>(kind);
  }
  if (kind == static_cast<std::uint8_t>(FrameKind::compressed)) {
    KESTREL_TRY(decompress_body(body, scratch));
    body = scratch;
  } else if (kind != static_cast<std::uint8_t>(FrameKind::messages)) {
    return Err(WireError::malformed);
  }
  auto count = decode_messages(body, deliver);
  if (!count) return Err(count.error());
  messages = *count;
  return static_cast<FrameKind>(kind);
}

}  // namespace kestrel::net::wire
