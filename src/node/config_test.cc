#include "node/config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

namespace kestrel::node {
namespace {

// `text` with the first `from` replaced by `to` (a test failure if absent).
std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at == std::string::npos) return text;
  return text.replace(at, from.size(), to);
}

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kestrel_config_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  NodeConfig sample() {
    NodeConfig c;
    c.chain_id = 42;
    c.scheme = crypto::SignatureScheme::ed25519;
    for (std::uint32_t i = 0; i < 4; ++i) {
      auto signer = crypto::generate_signer(c.scheme);
      c.validators.push_back({i, {"127.0.0.1", static_cast<std::uint16_t>(27000 + 3 * i)},
                              crypto::encode_public_key(signer->verifier())});
    }
    auto account = crypto::generate_signer(crypto::SignatureScheme::ml_dsa_65);
    c.genesis.push_back({crypto::encode_public_key(account->verifier()), 1000000});
    c.id = 2;
    c.client_listen = {"127.0.0.1", 27007};
    c.admin_listen = {"127.0.0.1", 27008};
    c.gates.push_back({Gate::crypto_avx2, false});
    return c;
  }

  std::string write(const std::string& text) {
    const std::string path = (dir_ / "config.toml").string();
    std::ofstream(path) << text;
    return path;
  }

  // Loads `text` and returns the error message ("" when it loads).
  std::string error_of(const std::string& text) {
    auto loaded = load_config(write(text));
    return loaded ? std::string() : loaded.error().message();
  }

  std::filesystem::path dir_;
};

TEST_F(ConfigTest, RenderThenLoadIsIdentity) {
  const NodeConfig c = sample();
  auto loaded = load_config(write(render_config(c)));
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  EXPECT_EQ(loaded->chain_id, 42u);
  EXPECT_EQ(loaded->scheme, crypto::SignatureScheme::ed25519);
  ASSERT_EQ(loaded->validators.size(), 4u);
  EXPECT_EQ(loaded->validators[3].address.port, 27009);
  EXPECT_EQ(loaded->validators[1].public_key, c.validators[1].public_key);
  ASSERT_EQ(loaded->genesis.size(), 1u);
  EXPECT_EQ(loaded->genesis[0].balance, 1000000u);
  EXPECT_EQ(loaded->id, 2u);
  EXPECT_EQ(loaded->client_listen.port, 27007);
  ASSERT_EQ(loaded->gates.size(), 1u);
  EXPECT_FALSE(loaded->gates[0].enabled);
  EXPECT_EQ(render_config(*loaded).substr(render_config(*loaded).find("[cluster]")),
            render_config(c).substr(render_config(c).find("[cluster]")));
}

TEST_F(ConfigTest, BadConfigsNameFileKeyAndReason) {
  const std::string good = render_config(sample());
  auto replace = [&](const std::string& from, const std::string& to) { return replaced(good, from, to); };
  EXPECT_EQ(error_of(good), "");
  EXPECT_NE(error_of(replace("view_timeout_ms = 1000", "view_timeout_ms = \"1s\"")).find("consensus.view_timeout_ms: must be an integer"), std::string::npos);
  EXPECT_NE(error_of(replace("view_timeout_ms = 1000", "view_timeout_ms = 5")).find("consensus.view_timeout_ms: must be in [10,"), std::string::npos);
  EXPECT_NE(error_of(replace("[storage]", "[storage]\nkeep_forever = true")).find("storage.keep_forever: unknown key"), std::string::npos);
  // consensus.protocol: the file, the key and the protocols this build runs.
  const std::string unknown_protocol = error_of(replace("protocol = \"hotstuff2\"", "protocol = \"raft\""));
  EXPECT_EQ(unknown_protocol.find((dir_ / "config.toml").string()), 0u) << unknown_protocol;
  EXPECT_NE(unknown_protocol.find("consensus.protocol: unknown consensus protocol \"raft\" (known: hotstuff2)"),
            std::string::npos) << unknown_protocol;
  EXPECT_EQ(error_of(replace("protocol = \"hotstuff2\"\n", "")), "");  // the default
  EXPECT_NE(error_of(replace("[storage]", "[strage]")).find("strage: unknown section"), std::string::npos);
  EXPECT_NE(error_of(replace("id = 2\nkey_file", "id = 7\nkey_file")).find("node.id: not in cluster.validators"), std::string::npos);
  EXPECT_NE(error_of(replace("scheme = \"ed25519\"", "scheme = \"rsa\"")).find("cluster.scheme: unknown signature scheme"), std::string::npos);
  EXPECT_NE(error_of(replace("scheme = \"ed25519\"", "scheme = \"ml-dsa-65\"")).find("key scheme differs"), std::string::npos);
  EXPECT_NE(error_of(replace("\"crypto.avx2\" = false", "\"crypto.avx3\" = false")).find("gates.crypto.avx3: unknown gate name"), std::string::npos);
  EXPECT_NE(error_of(replace("\"crypto.avx2\" = false", "crypto.avx2 = false")).find("quote them"), std::string::npos);
  EXPECT_NE(error_of(replace("log_level = \"info\"", "log_level = \"loud\"")).find("node.log_level"), std::string::npos);
  EXPECT_NE(error_of("[cluster\nchain_id = 1").find("line 1"), std::string::npos);
  EXPECT_NE(error_of("[node]\nid = 0\n").find("cluster: required section"), std::string::npos);
  const std::string path = write(good);
  EXPECT_EQ(error_of(good + "\n[cluster]\n").find(path), 0u);  // the file comes first
}

TEST_F(ConfigTest, TunerSectionDefaultsAndChecks) {
  NodeConfig c = sample();
  c.tuner.interval_ms = 250;
  c.tuner.controller.latency_target_us = 40'000;
  c.tuner.controller.batch_transactions_initial = 512;
  c.tuner.controller.flush_delay_us_max = 30'000;
  auto loaded = load_config(write(render_config(c)));
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  EXPECT_EQ(loaded->tuner.interval_ms, 250u);
  EXPECT_EQ(loaded->tuner.controller.latency_target_us, 40'000u);
  EXPECT_EQ(loaded->tuner.controller.batch_transactions_initial, 512u);
  EXPECT_EQ(loaded->tuner.controller.flush_delay_us_max, 30'000u);

  // Absent section: documented defaults; flush_delay_us_max follows the idle delay.
  std::string text = render_config(sample());
  text = text.substr(0, text.find("[tuner]"));
  loaded = load_config(write(text));
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  EXPECT_EQ(loaded->tuner.interval_ms, 500u);
  EXPECT_EQ(loaded->tuner.controller.latency_target_us, 25'000u);
  EXPECT_EQ(loaded->tuner.controller.batch_transactions_initial, 256u);
  EXPECT_EQ(loaded->tuner.controller.batch_transactions_min, 256u);  // the cap does not shrink below its start
  EXPECT_EQ(loaded->tuner.controller.flush_delay_us_max, 40'000u);
  EXPECT_EQ(loaded->tuner.controller.flush_delay_us_initial, 0u);  // no hold until the tuner sees headroom
  const auto idle = [&](const std::string& ms) {
    std::string t = text;
    return t.replace(t.find("idle_delay_ms = 50"), 18, "idle_delay_ms = " + ms);
  };
  loaded = load_config(write(idle("10")));
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  EXPECT_EQ(loaded->tuner.controller.flush_delay_us_max, 8'000u);
  loaded = load_config(write(idle("0")));
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  EXPECT_EQ(loaded->tuner.controller.flush_delay_us_max, 0u);  // no idle wait: no hold
  EXPECT_EQ(loaded->tuner.controller.flush_delay_us_initial, 0u);

  // Bad values name the file, the key and the reason.
  const std::string good = render_config(sample());
  auto replace = [&](const std::string& from, const std::string& to) { return replaced(good, from, to); };
  EXPECT_NE(error_of(replace("flush_delay_us_max = 40000", "flush_delay_us_max = 50000")).find("tuner.flush_delay_us_max: must be below consensus.idle_delay_ms"), std::string::npos);
  EXPECT_NE(error_of(replace("interval_ms = 500", "interval_ms = 5")).find("tuner.interval_ms: must be in [10,"), std::string::npos);
  EXPECT_NE(error_of(replace("latency_target_ms = 25", "latency_target_ms = 0")).find("tuner.latency_target_ms"), std::string::npos);
  EXPECT_NE(error_of(replace("batch_transactions_initial = 256", "batch_transactions_initial = 8")).find("tuner.batch_transactions_initial: must be in"), std::string::npos);
  EXPECT_NE(error_of(replace("batch_transactions_min = 256", "batch_transactions_min = 5000")).find("tuner.batch_transactions_min"), std::string::npos);
  EXPECT_NE(error_of(replace("flush_delay_us_initial = 0", "flush_delay_us_initial = 45000")).find("tuner.flush_delay_us_initial"), std::string::npos);
  EXPECT_NE(error_of(replace("[tuner]", "[tuner]\ngain = 2")).find("tuner.gain: unknown key"), std::string::npos);
}

TEST_F(ConfigTest, SecretKeyFilesAreWrittenPrivateAndRefusedWhenOpen) {
  auto signer = crypto::generate_signer(crypto::SignatureScheme::ml_dsa_65);
  const std::string path = (dir_ / "validator.key").string();
  ASSERT_TRUE(write_secret_key_file(path, *signer).ok());
  struct stat info {};
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  auto read = read_secret_key_file(path);
  ASSERT_TRUE(read.ok()) << describe(read.error());
  const Bytes message{1, 2, 3};
  Bytes signature;
  (*read)->sign(message, signature);
  EXPECT_TRUE(signer->verifier().verify(message, signature).ok());

  ::chmod(path.c_str(), 0644);
  EXPECT_EQ(read_secret_key_file(path).error(), KeyFileError::permissions);
  ::chmod(path.c_str(), 0600);
  std::ofstream(path, std::ios::trunc) << "zz\n";
  EXPECT_EQ(read_secret_key_file(path).error(), KeyFileError::malformed);
  EXPECT_EQ(read_secret_key_file((dir_ / "missing.key").string()).error(), KeyFileError::unreadable);
}

}  // namespace
}  // namespace kestrel::node
