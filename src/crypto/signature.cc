#include "crypto/signature.h"

#include <algorithm>

#include "common/codec.h"
#include "common/limits.h"
#include "crypto/ct.h"
#include "crypto/mldsa.h"

namespace kestrel::crypto {

const char* scheme_name(SignatureScheme scheme) {
  switch (scheme) {
    case SignatureScheme::ed25519: return "ed25519";
    case SignatureScheme::ml_dsa_65: return "ml-dsa-65";
    case SignatureScheme::hybrid: return "hybrid";
  }
  return "unknown";
}

Result<SignatureScheme, CryptoError> parse_scheme_name(std::string_view name) {
  if (name == "ed25519") return SignatureScheme::ed25519;
  if (name == "ml-dsa-65") return SignatureScheme::ml_dsa_65;
  if (name == "hybrid") return SignatureScheme::hybrid;
  return Err(CryptoError::unknown_scheme);
}

Result<SignatureScheme, CryptoError> scheme_from_tag(std::uint8_t tag) {
  switch (tag) {
    case static_cast<std::uint8_t>(SignatureScheme::ed25519): return SignatureScheme::ed25519;
    case static_cast<std::uint8_t>(SignatureScheme::ml_dsa_65): return SignatureScheme::ml_dsa_65;
    case static_cast<std::uint8_t>(SignatureScheme::hybrid): return SignatureScheme::hybrid;
    default: return Err(CryptoError::unknown_scheme);
  }
}

namespace {
constexpr auto ml_dsa_set = mldsa::ParameterSet::ml_dsa_65;
constexpr std::size_t ml_dsa_65_public_key_bytes = 1952;  // FIPS 204 Table 2
constexpr std::size_t ml_dsa_65_secret_key_bytes = 4032;
constexpr std::size_t ml_dsa_65_signature_bytes = 3309;
}  // namespace

std::size_t signature_bytes(SignatureScheme scheme) {
  switch (scheme) {
    case SignatureScheme::ed25519: return ed25519_signature_bytes;
    case SignatureScheme::ml_dsa_65: return ml_dsa_65_signature_bytes;
    case SignatureScheme::hybrid: return ed25519_signature_bytes + ml_dsa_65_signature_bytes;
  }
  KESTREL_ASSERT(false && "unhandled scheme");
  return 0;
}

std::size_t public_key_bytes(SignatureScheme scheme) {
  switch (scheme) {
    case SignatureScheme::ed25519: return ed25519_public_key_bytes;
    case SignatureScheme::ml_dsa_65: return ml_dsa_65_public_key_bytes;
    case SignatureScheme::hybrid: return ed25519_public_key_bytes + ml_dsa_65_public_key_bytes;
  }
  KESTREL_ASSERT(false && "unhandled scheme");
  return 0;
}

std::size_t secret_key_bytes(SignatureScheme scheme) {
  switch (scheme) {
    case SignatureScheme::ed25519: return ed25519_secret_key_bytes;
    case SignatureScheme::ml_dsa_65: return ml_dsa_65_secret_key_bytes;
    case SignatureScheme::hybrid: return ed25519_secret_key_bytes + ml_dsa_65_secret_key_bytes;
  }
  KESTREL_ASSERT(false && "unhandled scheme");
  return 0;
}

static_assert(ed25519_signature_bytes + ml_dsa_65_signature_bytes <= limits::signature_bytes_max);
static_assert(ed25519_public_key_bytes + ml_dsa_65_public_key_bytes <= limits::public_key_bytes_max);
static_assert(ed25519_secret_key_bytes + ml_dsa_65_secret_key_bytes <= limits::secret_key_bytes_max);

SecretBytes::~SecretBytes() { secure_zero(bytes_); }

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    secure_zero(bytes_);
    bytes_ = std::move(other.bytes_);
    other.bytes_.clear();
  }
  return *this;
}

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

// Keeps the key expanded (A-hat, NTT(t1 * 2^d), tr: ~37 KiB): a verifier lives
// as long as a validator's or client's key and checks many signatures, so the
// per-key half of Verify is done once.
class MlDsa65Verifier final : public Verifier {
 public:
  explicit MlDsa65Verifier(ByteSpan key) : expanded_(expand(key)) {
    std::copy(key.begin(), key.end(), key_.begin());
  }
  SignatureScheme scheme() const override { return SignatureScheme::ml_dsa_65; }
  ByteSpan public_key() const override { return key_; }
  Status<CryptoError> verify(ByteSpan message, ByteSpan signature) const override {
    if (signature.size() != ml_dsa_65_signature_bytes) return Err(CryptoError::bad_length);
    // Every other ML-DSA failure (malformed hint, z out of range, wrong
    // challenge) is just an invalid signature to callers.
    if (!mldsa::verify(expanded_, message, {}, signature).ok()) return Err(CryptoError::bad_signature);
    return {};
  }

 private:
  static mldsa::ExpandedPublicKey expand(ByteSpan key) {
    KESTREL_ASSERT(key.size() == ml_dsa_65_public_key_bytes);  // make_verifier checked it
    auto expanded = mldsa::expand_public_key(ml_dsa_set, key);
    KESTREL_ASSERT(expanded.ok());
    return std::move(expanded).value();
  }
  mldsa::ExpandedPublicKey expanded_;
  std::array<std::uint8_t, ml_dsa_65_public_key_bytes> key_{};
};

class MlDsa65Signer final : public Signer {
 public:
  // REQUIRES: secret_key passed mldsa::check_secret_key with public_key.
  MlDsa65Signer(ByteSpan public_key, ByteSpan secret_key)
      : verifier_(public_key), expanded_(expand(secret_key)) {
    KESTREL_ASSERT(secret_key.size() == secret_.size());
    std::copy(secret_key.begin(), secret_key.end(), secret_.begin());
  }
  ~MlDsa65Signer() override { secure_zero(secret_); }
  SignatureScheme scheme() const override { return SignatureScheme::ml_dsa_65; }
  const Verifier& verifier() const override { return verifier_; }
  void sign(ByteSpan message, Bytes& signature) const override {
    signature.resize(ml_dsa_65_signature_bytes);
    // Hedged (FIPS 204 section 3.4): fresh rnd per signature. The only possible
    // error here is the attempt bound, reached with probability < 2^-256.
    const auto status = mldsa::sign(expanded_, message, {}, mldsa::Randomness::hedged, signature);
    KESTREL_ASSERT(status.ok());
  }
  SecretBytes secret_key() const override {
    SecretBytes out(secret_.size());
    std::copy(secret_.begin(), secret_.end(), out.bytes().begin());
    return out;
  }

 private:
  static mldsa::ExpandedSecretKey expand(ByteSpan secret_key) {
    auto expanded = mldsa::expand_secret_key(ml_dsa_set, secret_key);
    KESTREL_ASSERT(expanded.ok());  // sizes were checked by the callers
    return std::move(expanded).value();
  }
  MlDsa65Verifier verifier_;
  mldsa::ExpandedSecretKey expanded_;  // wiped by its own destructor
  std::array<std::uint8_t, ml_dsa_65_secret_key_bytes> secret_{};
};

// Both halves must verify: the hybrid stays unforgeable while either Ed25519
// (classically) or ML-DSA-65 (also against quantum adversaries) holds.
class HybridVerifier final : public Verifier {
 public:
  explicit HybridVerifier(ByteSpan key)
      : ed25519_(std::span<const std::uint8_t, ed25519_public_key_bytes>(key.data(), ed25519_public_key_bytes)),
        ml_dsa_(key.subspan(ed25519_public_key_bytes)) {
    std::copy(key.begin(), key.end(), key_.begin());
  }
  SignatureScheme scheme() const override { return SignatureScheme::hybrid; }
  ByteSpan public_key() const override { return key_; }
  Status<CryptoError> verify(ByteSpan message, ByteSpan signature) const override {
    if (signature.size() != ed25519_signature_bytes + ml_dsa_65_signature_bytes) {
      return Err(CryptoError::bad_length);
    }
    const bool classic_ok = ed25519_.verify(message, signature.first(ed25519_signature_bytes)).ok();
    const bool post_quantum_ok = ml_dsa_.verify(message, signature.subspan(ed25519_signature_bytes)).ok();
    if (!classic_ok || !post_quantum_ok) return Err(CryptoError::bad_signature);
    return {};
  }
  const Ed25519Verifier& ed25519() const { return ed25519_; }
  const MlDsa65Verifier& ml_dsa() const { return ml_dsa_; }

 private:
  Ed25519Verifier ed25519_;
  MlDsa65Verifier ml_dsa_;
  std::array<std::uint8_t, ed25519_public_key_bytes + ml_dsa_65_public_key_bytes> key_{};
};

class HybridSigner final : public Signer {
 public:
  HybridSigner(std::unique_ptr<Signer> ed25519, std::unique_ptr<Signer> ml_dsa)
      : ed25519_(std::move(ed25519)), ml_dsa_(std::move(ml_dsa)), verifier_(joined_public_key()) {}
  SignatureScheme scheme() const override { return SignatureScheme::hybrid; }
  const Verifier& verifier() const override { return verifier_; }
  void sign(ByteSpan message, Bytes& signature) const override {
    Bytes classic, post_quantum;
    ed25519_->sign(message, classic);
    ml_dsa_->sign(message, post_quantum);
    signature.resize(classic.size() + post_quantum.size());
    std::copy(classic.begin(), classic.end(), signature.begin());
    std::copy(post_quantum.begin(), post_quantum.end(), signature.begin() + static_cast<std::ptrdiff_t>(classic.size()));
  }
  SecretBytes secret_key() const override {
    SecretBytes classic = ed25519_->secret_key();
    SecretBytes post_quantum = ml_dsa_->secret_key();
    SecretBytes out(classic.bytes().size() + post_quantum.bytes().size());
    std::copy(classic.bytes().begin(), classic.bytes().end(), out.bytes().begin());
    std::copy(post_quantum.bytes().begin(), post_quantum.bytes().end(),
              out.bytes().begin() + static_cast<std::ptrdiff_t>(classic.bytes().size()));
    return out;
  }

 private:
  Bytes joined_public_key() const {
    Bytes key(ed25519_->verifier().public_key().begin(), ed25519_->verifier().public_key().end());
    key.insert(key.end(), ml_dsa_->verifier().public_key().begin(), ml_dsa_->verifier().public_key().end());
    return key;
  }
  std::unique_ptr<Signer> ed25519_;
  std::unique_ptr<Signer> ml_dsa_;
  HybridVerifier verifier_;
};

std::unique_ptr<Signer> generate_ml_dsa_65() {
  std::array<std::uint8_t, ml_dsa_65_public_key_bytes> public_key;
  SecretBytes secret(ml_dsa_65_secret_key_bytes);
  mldsa::key_gen(ml_dsa_set, public_key, secret.bytes());
  return std::make_unique<MlDsa65Signer>(public_key, secret.bytes());
}

Result<std::unique_ptr<Signer>, CryptoError> make_ml_dsa_65_signer(ByteSpan secret_key) {
  if (secret_key.size() != ml_dsa_65_secret_key_bytes) return Err(CryptoError::bad_length);
  // A key file is not trusted to be consistent: recompute the public key and
  // require t0 and tr to match (mldsa::check_secret_key).
  std::array<std::uint8_t, ml_dsa_65_public_key_bytes> public_key;
  if (!mldsa::check_secret_key(ml_dsa_set, secret_key, public_key).ok()) return Err(CryptoError::bad_encoding);
  return std::unique_ptr<Signer>(std::make_unique<MlDsa65Signer>(public_key, secret_key));
}

}  // namespace

std::unique_ptr<Signer> generate_signer(SignatureScheme scheme) {
  switch (scheme) {
    case SignatureScheme::ed25519: return std::make_unique<Ed25519Signer>(ed25519_keypair());
    case SignatureScheme::ml_dsa_65: return generate_ml_dsa_65();
    case SignatureScheme::hybrid:
      return std::make_unique<HybridSigner>(generate_signer(SignatureScheme::ed25519), generate_ml_dsa_65());
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
    case SignatureScheme::ml_dsa_65: return make_ml_dsa_65_signer(secret_key);
    case SignatureScheme::hybrid: {
      if (secret_key.size() != secret_key_bytes(SignatureScheme::hybrid)) return Err(CryptoError::bad_length);
      auto classic = make_signer(SignatureScheme::ed25519, secret_key.first(ed25519_secret_key_bytes));
      if (!classic) return Err(classic.error());
      auto post_quantum = make_ml_dsa_65_signer(secret_key.subspan(ed25519_secret_key_bytes));
      if (!post_quantum) return Err(post_quantum.error());
      return std::unique_ptr<Signer>(
          std::make_unique<HybridSigner>(std::move(classic).value(), std::move(post_quantum).value()));
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
    case SignatureScheme::ml_dsa_65:
      // Every 1,952-byte string decodes (pkDecode, FIPS 204 Algorithm 23: rho and
      // 10-bit t1 coefficients), so the length is the whole check.
      if (public_key.size() != ml_dsa_65_public_key_bytes) return Err(CryptoError::bad_length);
      return std::unique_ptr<Verifier>(std::make_unique<MlDsa65Verifier>(public_key));
    case SignatureScheme::hybrid: {
      if (public_key.size() != public_key_bytes(SignatureScheme::hybrid)) return Err(CryptoError::bad_length);
      // The Ed25519 half is held to the same strict rules as a lone Ed25519 key
      // at verification time (ed25519_verify rejects small-order keys).
      return std::unique_ptr<Verifier>(std::make_unique<HybridVerifier>(public_key));
    }
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
