#include "crypto/signature.h"

#include <algorithm>

#include "common/codec.h"
#include "common/limits.h"
#include "crypto/ct.h"

namespace kestrel::crypto {

const char* scheme_name(SignatureScheme scheme) {
  switch (scheme) {
    case SignatureScheme::ed25519: return "ed25519";
  }
  return "unknown";
}

Result<SignatureScheme, CryptoError> parse_scheme_name(std::string_view name) {
  if (name == "ed25519") return SignatureScheme::ed25519;
  return Err(CryptoError::unknown_scheme);
}

Result<SignatureScheme, CryptoError> scheme_from_tag(std::uint8_t tag) {
  switch (tag) {
    case static_cast<std::uint8_t>(SignatureScheme::ed25519): return SignatureScheme::ed25519;
    default: return Err(CryptoError::unknown_scheme);
  }
}

std::size_t signature_bytes(SignatureScheme scheme) {
  switch (scheme) {
    case SignatureScheme::ed25519: return ed25519_signature_bytes;
  }
  KESTREL_ASSERT(false && "unhandled scheme");
  return 0;
}

std::size_t public_key_bytes(SignatureScheme scheme) {
  switch (scheme) {
    case SignatureScheme::ed25519: return ed25519_public_key_bytes;
  }
  KESTREL_ASSERT(false && "unhandled scheme");
  return 0;
}

SecretBytes::~SecretBytes() { secure_zero(bytes_); }

namespace {

class Ed25519Verifier final : public Verifier {
 public:
  explicit Ed25519Verifier(std::span<const std::uint8_t, ed25519_public_key_bytes> key) {
    std::copy(key.begin(), key.end(), key_.begin());
  }
  SignatureScheme scheme() const override { return SignatureScheme::ed25519; }
  ByteSpan public_key() const override { return key_; }
  Status<CryptoError> verify(ByteSpan message, ByteSpan signature) const override {
    return ed25519_verify(signature, message, key_);
  }

 private:
  std::array<std::uint8_t, ed25519_public_key_bytes> key_{};
};

class Ed25519Signer final : public Signer {
 public:
  explicit Ed25519Signer(const Ed25519KeyPair& pair) : verifier_(pair.public_key) {
    secret_ = pair.secret_key;
  }
  ~Ed25519Signer() override { secure_zero(secret_); }
  SignatureScheme scheme() const override { return SignatureScheme::ed25519; }
  const Verifier& verifier() const override { return verifier_; }
  void sign(ByteSpan message, Bytes& signature) const override {
    signature.resize(ed25519_signature_bytes);
    ed25519_sign(std::span<std::uint8_t, ed25519_signature_bytes>(signature.data(),
                                                                  ed25519_signature_bytes),
                 message, secret_);
  }
  SecretBytes secret_key() const override {
    SecretBytes out(ed25519_secret_key_bytes);
    std::copy(secret_.begin(), secret_.end(), out.bytes().begin());
    return out;
  }

 private:
  Ed25519Verifier verifier_;
  std::array<std::uint8_t, ed25519_secret_key_bytes> secret_{};
};

}  // namespace

std::unique_ptr<Signer> generate_signer(SignatureScheme scheme) {
  switch (scheme) {
    case SignatureScheme::ed25519: return std::make_unique<Ed25519Signer>(ed25519_keypair());
  }
  KESTREL_ASSERT(false && "unhandled scheme");
  return nullptr;
}

Result<std::unique_ptr<Signer>, CryptoError> make_signer(SignatureScheme scheme, ByteSpan secret_key) {
  switch (scheme) {
    case SignatureScheme::ed25519: {
      if (secret_key.size() != ed25519_secret_key_bytes) return Err(CryptoError::bad_length);
      // libsodium's secret key is seed || public key; rebuild from the seed and
      // require the stored public half to match, so a corrupted file is refused.
      Ed25519KeyPair pair = ed25519_keypair_from_seed(
          std::span<const std::uint8_t, ed25519_seed_bytes>(secret_key.data(), ed25519_seed_bytes));
      if (!ct_equal(pair.secret_key, secret_key)) return Err(CryptoError::bad_encoding);
      return std::unique_ptr<Signer>(std::make_unique<Ed25519Signer>(pair));
    }
  }
  return Err(CryptoError::unknown_scheme);
}

Result<std::unique_ptr<Verifier>, CryptoError> make_verifier(SignatureScheme scheme,
                                                             ByteSpan public_key) {
  switch (scheme) {
    case SignatureScheme::ed25519:
      if (public_key.size() != ed25519_public_key_bytes) return Err(CryptoError::bad_length);
      return std::unique_ptr<Verifier>(std::make_unique<Ed25519Verifier>(
          std::span<const std::uint8_t, ed25519_public_key_bytes>(public_key.data(),
                                                                  ed25519_public_key_bytes)));
  }
  return Err(CryptoError::unknown_scheme);
}

namespace {

struct Tagged {
  SignatureScheme scheme;
  ByteSpan key;
};

Result<Tagged, CryptoError> decode_tagged(ByteSpan encoded, std::size_t key_bytes_max) {
  Reader reader(encoded);
  auto tag = reader.u8();
  if (!tag) return Err(CryptoError::bad_encoding);
  auto scheme = scheme_from_tag(*tag);
  if (!scheme) return Err(scheme.error());
  auto key = reader.bytes(key_bytes_max);
  if (!key || !reader.finish()) return Err(CryptoError::bad_encoding);
  return Tagged{*scheme, *key};
}

}  // namespace

Bytes encode_public_key(const Verifier& verifier) {
  Bytes out;
  Writer writer(out);
  writer.u8(static_cast<std::uint8_t>(verifier.scheme()));
  writer.bytes(verifier.public_key(), limits::public_key_bytes_max);
  return out;
}

Result<std::unique_ptr<Verifier>, CryptoError> decode_public_key(ByteSpan encoded) {
  auto tagged = decode_tagged(encoded, limits::public_key_bytes_max);
  if (!tagged) return Err(tagged.error());
  return make_verifier(tagged->scheme, tagged->key);
}

SecretBytes encode_secret_key(const Signer& signer) {
  SecretBytes key = signer.secret_key();
  SecretBytes out;
  out.bytes().reserve(key.bytes().size() + 1 + limits::varint_bytes_max);
  Writer writer(out.bytes());
  writer.u8(static_cast<std::uint8_t>(signer.scheme()));
  writer.bytes(key.bytes(), limits::secret_key_bytes_max);
  return out;
}

Result<std::unique_ptr<Signer>, CryptoError> decode_secret_key(ByteSpan encoded) {
  auto tagged = decode_tagged(encoded, limits::secret_key_bytes_max);
  if (!tagged) return Err(tagged.error());
  return make_signer(tagged->scheme, tagged->key);
}

}  // namespace kestrel::crypto
