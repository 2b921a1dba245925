#include "crypto/signature.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace kestrel::crypto {
namespace {

TEST(SignatureSchemeTest, NamesAndTags) {
  EXPECT_EQ(*parse_scheme_name("ed25519"), SignatureScheme::ed25519);
  EXPECT_EQ(parse_scheme_name("rsa").error(), CryptoError::unknown_scheme);
  EXPECT_EQ(*scheme_from_tag(0x01), SignatureScheme::ed25519);
  EXPECT_EQ(scheme_from_tag(0x00).error(), CryptoError::unknown_scheme);
  EXPECT_EQ(scheme_from_tag(0xff).error(), CryptoError::unknown_scheme);
  EXPECT_STREQ(scheme_name(SignatureScheme::ed25519), "ed25519");
}

TEST(SignatureSchemeTest, SignVerifyThroughInterface) {
  auto signer = generate_signer(SignatureScheme::ed25519);
  const Bytes message{'v', 'o', 't', 'e'};
  Bytes signature;
  signer->sign(message, signature);
  EXPECT_EQ(signature.size(), signature_bytes(SignatureScheme::ed25519));
  EXPECT_TRUE(signer->verifier().verify(message, signature).ok());
  Bytes other = message;
  other[0] ^= 1;
  EXPECT_EQ(signer->verifier().verify(other, signature).error(), CryptoError::bad_signature);
  auto stranger = generate_signer(SignatureScheme::ed25519);
  EXPECT_FALSE(stranger->verifier().verify(message, signature).ok());
}

TEST(SignatureSchemeTest, KeySerializationRoundTrips) {
  auto signer = generate_signer(SignatureScheme::ed25519);
  const Bytes public_encoded = encode_public_key(signer->verifier());
  EXPECT_EQ(public_encoded[0], 0x01);
  auto verifier = decode_public_key(public_encoded);
  ASSERT_TRUE(verifier.ok());
  EXPECT_TRUE(std::equal((*verifier)->public_key().begin(), (*verifier)->public_key().end(),
                         signer->verifier().public_key().begin()));

  const SecretBytes secret_encoded = encode_secret_key(*signer);
  auto restored = decode_secret_key(secret_encoded.bytes());
  ASSERT_TRUE(restored.ok());
  const Bytes message{1, 2, 3};
  Bytes signature;
  (*restored)->sign(message, signature);
  EXPECT_TRUE(signer->verifier().verify(message, signature).ok());
}

TEST(SignatureSchemeTest, MalformedKeysAreRefused) {
  auto signer = generate_signer(SignatureScheme::ed25519);
  Bytes encoded = encode_public_key(signer->verifier());
  Bytes bad_tag = encoded;
  bad_tag[0] = 0x7f;
  EXPECT_EQ(decode_public_key(bad_tag).error(), CryptoError::unknown_scheme);
  Bytes trailing = encoded;
  trailing.push_back(0);
  EXPECT_EQ(decode_public_key(trailing).error(), CryptoError::bad_encoding);
  Bytes truncated(encoded.begin(), encoded.end() - 1);
  EXPECT_EQ(decode_public_key(truncated).error(), CryptoError::bad_encoding);
  EXPECT_EQ(decode_public_key(ByteSpan{}).error(), CryptoError::bad_encoding);
  EXPECT_EQ(make_verifier(SignatureScheme::ed25519, Bytes(31)).error(), CryptoError::bad_length);

  // A secret key whose public half does not match its seed is corrupt.
  SecretBytes secret = encode_secret_key(*signer);
  secret.bytes().back() ^= 1;
  EXPECT_EQ(decode_secret_key(secret.bytes()).error(), CryptoError::bad_encoding);
}

}  // namespace
}  // namespace kestrel::crypto

namespace kestrel::crypto {
namespace {

// The same contract for every scheme behind the interface.
class SignatureEverySchemeTest : public ::testing::TestWithParam<SignatureScheme> {};

TEST_P(SignatureEverySchemeTest, NamesTagsAndSizes) {
  const SignatureScheme scheme = GetParam();
  EXPECT_EQ(*parse_scheme_name(scheme_name(scheme)), scheme);
  EXPECT_EQ(*scheme_from_tag(static_cast<std::uint8_t>(scheme)), scheme);
  auto signer = generate_signer(scheme);
  EXPECT_EQ(signer->scheme(), scheme);
  EXPECT_EQ(signer->verifier().public_key().size(), public_key_bytes(scheme));
  EXPECT_EQ(signer->secret_key().bytes().size(), secret_key_bytes(scheme));
}

TEST_P(SignatureEverySchemeTest, SignVerifyAndTamper) {
  const SignatureScheme scheme = GetParam();
  auto signer = generate_signer(scheme);
  const Bytes message{'b', 'l', 'o', 'c', 'k', ' ', 4, 2};
  Bytes signature;
  signer->sign(message, signature);
  ASSERT_EQ(signature.size(), signature_bytes(scheme));
  EXPECT_TRUE(signer->verifier().verify(message, signature).ok());
  // A flipped bit anywhere in the message or (sampled) in the signature fails.
  for (std::size_t bit = 0; bit < message.size() * 8; ++bit) {
    Bytes m = message;
    m[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    EXPECT_EQ(signer->verifier().verify(m, signature).error(), CryptoError::bad_signature) << bit;
  }
  for (std::size_t bit = 0; bit < signature.size() * 8; bit += 97) {
    Bytes s = signature;
    s[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    EXPECT_FALSE(signer->verifier().verify(message, s).ok()) << bit;
  }
  EXPECT_EQ(signer->verifier().verify(message, Bytes(signature.begin(), signature.end() - 1)).error(),
            CryptoError::bad_length);
  auto stranger = generate_signer(scheme);
  EXPECT_FALSE(stranger->verifier().verify(message, signature).ok());
  // Public-key tampering: a flipped bit in the key fails verification.
  Bytes key(signer->verifier().public_key().begin(), signer->verifier().public_key().end());
  for (std::size_t byte : {std::size_t{0}, key.size() / 2, key.size() - 1}) {
    Bytes bad = key;
    bad[byte] ^= 0x04;
    auto verifier = make_verifier(scheme, bad);
    if (verifier.ok()) {
      EXPECT_FALSE((*verifier)->verify(message, signature).ok()) << byte;
    }
  }
}

TEST_P(SignatureEverySchemeTest, SerializationRoundTrips) {
  const SignatureScheme scheme = GetParam();
  auto signer = generate_signer(scheme);
  const Bytes public_encoded = encode_public_key(signer->verifier());
  EXPECT_EQ(public_encoded[0], static_cast<std::uint8_t>(scheme));
  auto verifier = decode_public_key(public_encoded);
  ASSERT_TRUE(verifier.ok());
  EXPECT_EQ((*verifier)->scheme(), scheme);
  EXPECT_TRUE(std::equal((*verifier)->public_key().begin(), (*verifier)->public_key().end(),
                         signer->verifier().public_key().begin(), signer->verifier().public_key().end()));
  const SecretBytes secret_encoded = encode_secret_key(*signer);
  auto restored = decode_secret_key(secret_encoded.bytes());
  ASSERT_TRUE(restored.ok());
  EXPECT_TRUE(std::equal((*restored)->verifier().public_key().begin(), (*restored)->verifier().public_key().end(),
                         signer->verifier().public_key().begin(), signer->verifier().public_key().end()));
  const Bytes message{9, 9, 9};
  Bytes signature;
  (*restored)->sign(message, signature);
  EXPECT_TRUE((*verifier)->verify(message, signature).ok());
}

TEST_P(SignatureEverySchemeTest, MalformedKeysAreRefused) {
  const SignatureScheme scheme = GetParam();
  auto signer = generate_signer(scheme);
  const Bytes encoded = encode_public_key(signer->verifier());
  Bytes truncated(encoded.begin(), encoded.end() - 1);
  EXPECT_EQ(decode_public_key(truncated).error(), CryptoError::bad_encoding);
  EXPECT_EQ(make_verifier(scheme, Bytes(public_key_bytes(scheme) - 1)).error(), CryptoError::bad_length);
  EXPECT_EQ(make_verifier(scheme, Bytes(public_key_bytes(scheme) + 1)).error(), CryptoError::bad_length);
  EXPECT_EQ(make_signer(scheme, Bytes(secret_key_bytes(scheme) - 1)).error(), CryptoError::bad_length);
  // A secret key whose parts disagree (last byte: Ed25519's public half, or
  // ML-DSA's t0) is corrupt.
  SecretBytes secret = encode_secret_key(*signer);
  secret.bytes().back() ^= 1;
  EXPECT_EQ(decode_secret_key(secret.bytes()).error(), CryptoError::bad_encoding);
  // A key under another scheme's tag has the wrong length for it.
  Bytes retagged = encoded;
  retagged[0] = scheme == SignatureScheme::ed25519 ? 0x02 : 0x01;
  EXPECT_FALSE(decode_public_key(retagged).ok());
}

INSTANTIATE_TEST_SUITE_P(Schemes, SignatureEverySchemeTest,
                         ::testing::Values(SignatureScheme::ed25519, SignatureScheme::ml_dsa_65, SignatureScheme::hybrid),
                         [](const auto& test_info) {
                           std::string name = scheme_name(test_info.param);
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(SignatureSchemeTest, DefaultIsMlDsa65) {
  EXPECT_EQ(default_signature_scheme, SignatureScheme::ml_dsa_65);
  EXPECT_EQ(signature_bytes(SignatureScheme::ml_dsa_65), 3309u);
  EXPECT_EQ(public_key_bytes(SignatureScheme::ml_dsa_65), 1952u);
  EXPECT_EQ(signature_bytes(SignatureScheme::hybrid), 64u + 3309u);
  EXPECT_EQ(public_key_bytes(SignatureScheme::hybrid), 32u + 1952u);
  EXPECT_EQ(*scheme_from_tag(0x02), SignatureScheme::ml_dsa_65);
  EXPECT_EQ(*scheme_from_tag(0x03), SignatureScheme::hybrid);
  EXPECT_EQ(scheme_from_tag(0x04).error(), CryptoError::unknown_scheme);
}

// Hybrid: a valid Ed25519 half with a broken ML-DSA half fails, and vice versa.
TEST(SignatureSchemeTest, HybridNeedsBothHalves) {
  auto signer = generate_signer(SignatureScheme::hybrid);
  const Bytes message{'q', 'c'};
  Bytes signature;
  signer->sign(message, signature);
  ASSERT_TRUE(signer->verifier().verify(message, signature).ok());
  Bytes classic_broken = signature;
  classic_broken[3] ^= 1;
  EXPECT_EQ(signer->verifier().verify(message, classic_broken).error(), CryptoError::bad_signature);
  Bytes post_quantum_broken = signature;
  post_quantum_broken[64 + 5] ^= 1;
  EXPECT_EQ(signer->verifier().verify(message, post_quantum_broken).error(), CryptoError::bad_signature);
  // Halves of two different hybrid signatures of the same message by the same key
  // (hedged ML-DSA differs each time) still verify: each half stands alone.
  Bytes other;
  signer->sign(message, other);
  Bytes mixed(signature.begin(), signature.begin() + 64);
  mixed.insert(mixed.end(), other.begin() + 64, other.end());
  EXPECT_TRUE(signer->verifier().verify(message, mixed).ok());
}

}  // namespace
}  // namespace kestrel::crypto
