// The signature-scheme interface consensus, network and mempool code sign and
// verify through, so none of them cares which scheme a cluster runs.
//
// Schemes have a stable one-byte wire tag and a config name:
//   ed25519    (tag 0x01)  RFC 8032 via libsodium
//   ml-dsa-65  (tag 0x02)  FIPS 204 ML-DSA-65 (crypto/mldsa.h), the cluster default.
//              Pure ML-DSA.Sign with an empty context; signing is hedged (fresh
//              rnd from the OS). Keys: public 1,952 B, secret 4,032 B (the
//              expanded form of FIPS 204 skEncode), signature 3,309 B.
//   hybrid     (tag 0x03)  Ed25519 and ML-DSA-65 over the same message; both must
//              verify, so it stays secure while either scheme does. Public key =
//              ed25519 pk (32) || ml-dsa-65 pk; secret key = ed25519 sk (64) ||
//              ml-dsa-65 sk; signature = ed25519 sig (64) || ml-dsa-65 sig.
//
// Serialized keys (key files, genesis, handshakes): tag (u8) || varint length ||
// key bytes, in the canonical codec. Decoding checks the tag, the exact length for
// that scheme, and the key's own validity.
//
// Thread-safety: Signer and Verifier objects are immutable after construction
// and may be shared across threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "common/bytes.h"
#include "common/result.h"
#include "crypto/classic.h"

namespace kestrel::crypto {

enum class SignatureScheme : std::uint8_t {
  ed25519 = 0x01,
  ml_dsa_65 = 0x02,
  hybrid = 0x03,
};

// What a new cluster signs with (DESIGN.md "Cryptography").
inline constexpr SignatureScheme default_signature_scheme = SignatureScheme::ml_dsa_65;

const char* scheme_name(SignatureScheme scheme);
Result<SignatureScheme, CryptoError> parse_scheme_name(std::string_view name);
Result<SignatureScheme, CryptoError> scheme_from_tag(std::uint8_t tag);
std::size_t signature_bytes(SignatureScheme scheme);
std::size_t public_key_bytes(SignatureScheme scheme);
std::size_t secret_key_bytes(SignatureScheme scheme);

// Owns secret bytes and zeroes them when destroyed.
class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(std::size_t size) : bytes_(size) {}
  ~SecretBytes();
  SecretBytes(SecretBytes&&) = default;  // the moved-from vector is left empty
  // Zeroes the secret it held before taking the other's.
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  // Mutable access for filling the buffer. REQUIRES: no growth beyond the
  // capacity reserved up front (a reallocation would leave an unzeroed copy).
  Bytes& bytes() { return bytes_; }
  const Bytes& bytes() const { return bytes_; }

 private:
  Bytes bytes_;
};

class Verifier {
 public:
  virtual ~Verifier() = default;
  virtual SignatureScheme scheme() const = 0;
  virtual ByteSpan public_key() const = 0;
  // bad_length for a signature of the wrong size, bad_signature otherwise.
  [[nodiscard]] virtual Status<CryptoError> verify(ByteSpan message, ByteSpan signature) const = 0;
};

class Signer {
 public:
  virtual ~Signer() = default;
  virtual SignatureScheme scheme() const = 0;
  virtual const Verifier& verifier() const = 0;
  // Appends nothing: `signature` is resized to signature_bytes(scheme()).
  virtual void sign(ByteSpan message, Bytes& signature) const = 0;
  // The scheme's secret key bytes (for key files).
  virtual SecretBytes secret_key() const = 0;
};

// A fresh key pair from the OS random source.
std::unique_ptr<Signer> generate_signer(SignatureScheme scheme);
// From the scheme's secret key bytes (what Signer::secret_key returns).
Result<std::unique_ptr<Signer>, CryptoError> make_signer(SignatureScheme scheme, ByteSpan secret_key);
Result<std::unique_ptr<Verifier>, CryptoError> make_verifier(SignatureScheme scheme,
                                                             ByteSpan public_key);

// Tagged serialization (see the header comment).
Bytes encode_public_key(const Verifier& verifier);
Result<std::unique_ptr<Verifier>, CryptoError> decode_public_key(ByteSpan encoded);
SecretBytes encode_secret_key(const Signer& signer);
Result<std::unique_ptr<Signer>, CryptoError> decode_secret_key(ByteSpan encoded);

}  // namespace kestrel::crypto
