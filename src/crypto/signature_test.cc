#include "crypto/signature.h"

#include <gtest/gtest.h>

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
