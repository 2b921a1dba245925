#include "crypto/classic.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/gates.h"
#include "common/limits.h"
#include "common/prng.h"
#include "crypto/aead_detail.h"
#include "crypto/ct.h"

namespace kestrel::crypto {
namespace {

Bytes hex(std::string_view s) {
  auto b = from_hex(s);
  KESTREL_ASSERT(b.ok());
  return *b;
}

template <std::size_t N>
std::array<std::uint8_t, N> hex_array(std::string_view s) {
  std::array<std::uint8_t, N> out;
  KESTREL_ASSERT(from_hex_exact(s, out).ok());
  return out;
}

// --- Ed25519: RFC 8032 section 7.1, tests 1-3 -------------------------------------

struct Ed25519Vector {
  const char* secret;
  const char* public_key;
  const char* message;
  const char* signature;
};

constexpr Ed25519Vector rfc8032_vectors[] = {
    {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b4"
     "6bd25bf5f0595bbe24655141438e7a100b"},
    {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d"
     "8c387b2eaeb4302aeeb00d291612bb0c00"},
    {"c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6"
     "594a7c15e9716ed28dc027beceea1ec40a"},
};

TEST(Ed25519Test, Rfc8032Vectors) {
  for (const auto& v : rfc8032_vectors) {
    const auto seed = hex_array<ed25519_seed_bytes>(v.secret);
    const Ed25519KeyPair kp = ed25519_keypair_from_seed(seed);
    EXPECT_EQ(to_hex(kp.public_key), v.public_key);
    const Bytes message = hex(v.message);
    std::array<std::uint8_t, ed25519_signature_bytes> signature;
    ed25519_sign(signature, message, kp.secret_key);
    EXPECT_EQ(to_hex(signature), v.signature);
    EXPECT_TRUE(ed25519_verify(signature, message, kp.public_key).ok());
  }
}

TEST(Ed25519Test, AnyFlippedBitIsRejected) {
  const Ed25519KeyPair kp = ed25519_keypair();
  Bytes message(40);
  Prng(3).fill(message);
  std::array<std::uint8_t, ed25519_signature_bytes> signature;
  ed25519_sign(signature, message, kp.secret_key);
  ASSERT_TRUE(ed25519_verify(signature, message, kp.public_key).ok());
  for (std::size_t bit = 0; bit < message.size() * 8; ++bit) {
    Bytes m = message;
    m[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    EXPECT_EQ(ed25519_verify(signature, m, kp.public_key).error(), CryptoError::bad_signature);
  }
  for (std::size_t bit = 0; bit < signature.size() * 8; ++bit) {
    auto s = signature;
    s[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    EXPECT_FALSE(ed25519_verify(s, message, kp.public_key).ok()) << "signature bit " << bit;
  }
  for (std::size_t bit = 0; bit < kp.public_key.size() * 8; ++bit) {
    auto k = kp.public_key;
    k[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    EXPECT_FALSE(ed25519_verify(signature, message, k).ok()) << "key bit " << bit;
  }
  EXPECT_EQ(ed25519_verify(ByteSpan(signature).first(63), message, kp.public_key).error(),
            CryptoError::bad_length);
}

// --- X25519: RFC 7748 sections 5.2 and 6.1 ----------------------------------------

TEST(X25519Test, Rfc7748FunctionVectors) {
  struct V {
    const char* scalar;
    const char* u;
    const char* out;
  };
  const V vectors[] = {
      {"a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
       "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
       "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"},
      {"4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
       "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
       "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"},
  };
  for (const auto& v : vectors) {
    std::array<std::uint8_t, x25519_bytes> out;
    ASSERT_TRUE(x25519(out, hex_array<32>(v.scalar), hex_array<32>(v.u)).ok());
    EXPECT_EQ(to_hex(out), v.out);
  }
}

TEST(X25519Test, Rfc7748DiffieHellman) {
  const auto alice_secret = hex_array<32>("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  const auto bob_secret = hex_array<32>("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
  std::array<std::uint8_t, 32> alice_public, bob_public, k1, k2;
  x25519_base(alice_public, alice_secret);
  x25519_base(bob_public, bob_secret);
  EXPECT_EQ(to_hex(alice_public), "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  EXPECT_EQ(to_hex(bob_public), "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
  ASSERT_TRUE(x25519(k1, alice_secret, bob_public).ok());
  ASSERT_TRUE(x25519(k2, bob_secret, alice_public).ok());
  EXPECT_EQ(to_hex(k1), "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
  EXPECT_EQ(k1, k2);
}

TEST(X25519Test, LowOrderPointIsRejected) {
  const X25519KeyPair kp = x25519_keypair();
  std::array<std::uint8_t, 32> zero_point{};  // u = 0 has order 4... its output is all zero
  std::array<std::uint8_t, 32> out;
  EXPECT_EQ(x25519(out, kp.secret_key, zero_point).error(), CryptoError::bad_public_key);
  EXPECT_EQ(out, (std::array<std::uint8_t, 32>{}));
}

// --- ChaCha20-Poly1305: RFC 8439 section 2.8.2 --------------------------------------

constexpr const char* rfc8439_plaintext =
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, "
    "sunscreen would be it.";

constexpr const char* rfc8439_nonce = "070000004041424344454647";
constexpr const char* rfc8439_aad = "50515253c0c1c2c3c4c5c6c7";
constexpr const char* rfc8439_ciphertext =
    "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69"
    "da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad67594"
    "5585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116";
constexpr const char* rfc8439_tag = "1ae10b594f09e26a7e902ecbd0600691";

AeadKey rfc8439_key() {
  AeadKey key;
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::uint8_t>(0x80 + i);
  return key;
}

// The public functions with gate crypto.openssl_aead off and on (on, inputs of
// limits::openssl_aead_bytes_min or more go to OpenSSL).
class AeadTest : public ::testing::TestWithParam<bool> {
 protected:
  ScopedGate gate_{Gate::crypto_openssl_aead, GetParam()};
};

INSTANTIATE_TEST_SUITE_P(Implementations, AeadTest, ::testing::Bool(),
                         [](const auto& p) { return std::string(p.param ? "openssl" : "libsodium"); });

TEST_P(AeadTest, Rfc8439Vector) {
  const AeadKey key = rfc8439_key();
  const AeadNonce nonce = hex_array<12>(rfc8439_nonce);
  const Bytes aad = hex(rfc8439_aad);
  const Bytes sealed = aead_seal(as_bytes(rfc8439_plaintext), aad, nonce, key);
  const std::string sealed_hex = to_hex(sealed);
  EXPECT_EQ(sealed_hex.substr(0, sealed_hex.size() - 32), rfc8439_ciphertext);
  EXPECT_EQ(sealed_hex.substr(sealed_hex.size() - 32), rfc8439_tag);
  auto opened = aead_open(sealed, aad, nonce, key);
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(std::string(opened->begin(), opened->end()), rfc8439_plaintext);
}

TEST_P(AeadTest, AnyFlippedBitIsRejectedAndPlaintextZeroed) {
  // 33 bytes: libsodium on both sides; 1,500: OpenSSL's path with the gate on.
  for (std::size_t size : {33, 1500}) {
    SCOPED_TRACE(size);
    const AeadKey key = rfc8439_key();
    AeadNonce nonce{};
    nonce[0] = 1;
    Bytes plaintext(size);
    Prng(4).fill(plaintext);
    const Bytes aad{1, 2, 3};
    const Bytes sealed = aead_seal(plaintext, aad, nonce, key);
    for (std::size_t bit = 0; bit < sealed.size() * 8; ++bit) {
      Bytes s = sealed;
      s[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
      EXPECT_EQ(aead_open(s, aad, nonce, key).error(), CryptoError::authentication_failed)
          << (bit < plaintext.size() * 8 ? "ciphertext" : "tag") << " bit " << bit;
    }
    for (std::size_t bit = 0; bit < aad.size() * 8; ++bit) {
      Bytes a = aad;
      a[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
      EXPECT_FALSE(aead_open(sealed, a, nonce, key).ok());
    }
    AeadNonce other = nonce;
    other[11] ^= 0x80;
    EXPECT_FALSE(aead_open(sealed, aad, other, key).ok());
    // Detached open zeroes its output on failure.
    Bytes out(plaintext.size(), 0xaa);
    Bytes bad_tag(sealed.end() - aead_tag_bytes, sealed.end());
    bad_tag[0] ^= 1;
    EXPECT_FALSE(aead_open_detached(out, ByteSpan(sealed).first(plaintext.size()), bad_tag, aad,
                                    nonce, key)
                     .ok());
    EXPECT_EQ(out, Bytes(plaintext.size(), 0));
    EXPECT_EQ(aead_open(ByteSpan(sealed).first(15), aad, nonce, key).error(), CryptoError::bad_length);
  }
}

// In place, as session frames are sealed and opened; a forged frame leaves zeros.
TEST_P(AeadTest, InPlaceRoundTrip) {
  AeadKey key{};
  Prng(8).fill(key);
  AeadNonce nonce{};
  nonce[3] = 9;
  Bytes plaintext(70'000);  // above the 1 KiB where the gate's OpenSSL path starts
  Prng(9).fill(plaintext);
  const Bytes aad{7, 7};
  Bytes buffer = plaintext;
  std::array<std::uint8_t, aead_tag_bytes> tag;
  aead_seal_detached(buffer, tag, buffer, aad, nonce, key);
  EXPECT_NE(buffer, plaintext);
  Bytes forged = buffer;
  forged[100] ^= 4;
  EXPECT_FALSE(aead_open_detached(forged, forged, tag, aad, nonce, key).ok());
  EXPECT_EQ(forged, Bytes(forged.size(), 0));
  ASSERT_TRUE(aead_open_detached(buffer, buffer, tag, aad, nonce, key).ok());
  EXPECT_EQ(buffer, plaintext);
}

// Each implementation on its own, at any size (the public functions choose by
// size): the RFC 8439 vector, and a flipped bit anywhere is refused with zeroed
// output.
using detail::AeadLibrary;

class AeadLibraryTest : public ::testing::TestWithParam<AeadLibrary> {};

TEST_P(AeadLibraryTest, Rfc8439VectorAndTampering) {
  ASSERT_TRUE(GetParam() == AeadLibrary::libsodium || detail::openssl_aead_available());
  const AeadKey key = rfc8439_key();
  const AeadNonce nonce = hex_array<12>(rfc8439_nonce);
  const Bytes aad = hex(rfc8439_aad);
  const ByteSpan plaintext = as_bytes(rfc8439_plaintext);
  Bytes ciphertext(plaintext.size());
  std::array<std::uint8_t, aead_tag_bytes> tag;
  detail::aead_seal_detached_with(GetParam(), ciphertext, tag, plaintext, aad, nonce, key);
  EXPECT_EQ(to_hex(ciphertext), rfc8439_ciphertext);
  EXPECT_EQ(to_hex(tag), rfc8439_tag);
  Bytes out(plaintext.size());
  ASSERT_TRUE(detail::aead_open_detached_with(GetParam(), out, ciphertext, tag, aad, nonce, key).ok());
  EXPECT_EQ(std::string(out.begin(), out.end()), rfc8439_plaintext);
  for (std::size_t bit = 0; bit < (ciphertext.size() + tag.size()) * 8; bit += 3) {
    Bytes c = ciphertext;
    auto t = tag;
    std::uint8_t* byte = bit / 8 < c.size() ? &c[bit / 8] : &t[bit / 8 - c.size()];
    *byte ^= static_cast<std::uint8_t>(1u << (bit % 8));
    std::fill(out.begin(), out.end(), 0xaa);
    EXPECT_EQ(detail::aead_open_detached_with(GetParam(), out, c, t, aad, nonce, key).error(),
              CryptoError::authentication_failed)
        << bit;
    EXPECT_EQ(out, Bytes(out.size(), 0)) << bit;
  }
}

INSTANTIATE_TEST_SUITE_P(Libraries, AeadLibraryTest, ::testing::Values(AeadLibrary::libsodium, AeadLibrary::openssl),
                         [](const auto& p) { return std::string(p.param == AeadLibrary::openssl ? "openssl" : "libsodium"); });

// The two implementations agree byte for byte (sizes around the 64-byte block
// and the 16-byte MAC block, empty inputs included, below and above the size
// where the public functions switch), and each opens the other's.
TEST(AeadPathsTest, OpenSslAndLibsodiumAgree) {
  Prng prng(10);
  std::vector<std::size_t> sizes;
  for (std::size_t base : {std::size_t{0}, limits::openssl_aead_bytes_min}) {
    for (std::size_t d : {0, 1, 15, 16, 17, 63, 64, 65, 255, 256}) sizes.push_back(base + d);
  }
  sizes.push_back(65537);
  for (std::size_t size : sizes) {
    for (std::size_t aad_size : {0, 1, 13, 16, 40}) {
      AeadKey key;
      AeadNonce nonce;
      prng.fill(key);
      prng.fill(nonce);
      Bytes plaintext(size), aad(aad_size);
      prng.fill(plaintext);
      prng.fill(aad);
      Bytes sealed[2];
      for (AeadLibrary library : {AeadLibrary::libsodium, AeadLibrary::openssl}) {
        const auto k = static_cast<std::size_t>(library);
        sealed[k].resize(size + aead_tag_bytes);
        std::span<std::uint8_t, aead_tag_bytes> tag(sealed[k].data() + size, aead_tag_bytes);
        detail::aead_seal_detached_with(library, MutableByteSpan(sealed[k].data(), size), tag, plaintext, aad, nonce,
                                        key);
      }
      ASSERT_EQ(sealed[0], sealed[1]) << size << " bytes, " << aad_size << " of associated data";
      for (AeadLibrary library : {AeadLibrary::libsodium, AeadLibrary::openssl}) {
        const Bytes& other = sealed[1 - static_cast<std::size_t>(library)];
        Bytes out(size);
        ASSERT_TRUE(detail::aead_open_detached_with(library, out, ByteSpan(other).first(size),
                                                    ByteSpan(other).subspan(size), aad, nonce, key)
                        .ok())
            << size;
        EXPECT_EQ(out, plaintext);
      }
      // The public functions, either gate side, open both.
      for (bool gate_on : {false, true}) {
        ScopedGate gate(Gate::crypto_openssl_aead, gate_on);
        EXPECT_EQ(aead_seal(plaintext, aad, nonce, key), sealed[0]);
        EXPECT_TRUE(aead_open(sealed[0], aad, nonce, key).ok());
      }
    }
  }
}

// --- Constant-time helpers ----------------------------------------------------------

TEST(ConstantTimeTest, EqualAndSelect) {
  const Bytes a{1, 2, 3}, b{1, 2, 4};
  EXPECT_EQ(ct_equal(a, a), 1);
  EXPECT_EQ(ct_equal(a, b), 0);
  EXPECT_EQ(ct_equal(ByteSpan{}, ByteSpan{}), 1);
  Bytes out(3);
  ct_select(out, a, b, 1);
  EXPECT_EQ(out, a);
  ct_select(out, a, b, 0);
  EXPECT_EQ(out, b);
  for (std::uint32_t x : {0u, 1u, 0x80000000u, 0xffffffffu}) {
    EXPECT_EQ(ct_mask_nonzero_u32(x), x ? 0xffffffffu : 0u);
  }
  Bytes secret(8, 0x5a);
  secure_zero(secret);
  EXPECT_EQ(secret, Bytes(8, 0));
}

}  // namespace
}  // namespace kestrel::crypto
