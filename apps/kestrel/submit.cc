// `kestrel submit`: sign a transaction, send it to a validator's client listener,
// wait for its receipt; or read an account (docs/client-api.md).
//
// Exit codes: 0 success; 1 usage, key file or connection error; 2 refused by the
// node's mempool; 3 no receipt within --timeout; 4 committed with a failure
// status (e.g. insufficient_balance).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <string>

#include "commands.h"
#include "common/limits.h"
#include "execution/execution.h"
#include "node/client.h"
#include "node/config.h"

namespace kestrel::app {

namespace {

constexpr int exit_error = 1;
constexpr int exit_refused = 2;
constexpr int exit_timeout = 3;
constexpr int exit_failed = 4;

[[noreturn]] void fail(int code, const std::string& message) {
  std::fprintf(stderr, "kestrel submit: %s\n", message.c_str());
  throw CLI::RuntimeError(code);
}

struct SubmitOptions {
  std::string node;
  std::string key_file;
  std::uint32_t chain_id = 1;
  std::uint32_t timeout_ms = 10000;
  // transfer
  std::string to;
  std::uint64_t amount = 0;
  // put
  std::string put_key;
  std::string put_value;
  // account
  std::string account_id;
};

// HOST:PORT, with IPv6 hosts in brackets ([::1]:27001).
std::pair<std::string, std::uint16_t> parse_node(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    throw CLI::ValidationError("--node", "expected HOST:PORT, got '" + text + "'");
  }
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  unsigned long port = 0;
  try {
    std::size_t used = 0;
    port = std::stoul(text.substr(colon + 1), &used);
    if (used != text.size() - colon - 1) throw std::invalid_argument("port");
  } catch (const std::exception&) {
    throw CLI::ValidationError("--node", "bad port in '" + text + "'");
  }
  if (port == 0 || port > 65535) throw CLI::ValidationError("--node", "port out of range in '" + text + "'");
  return {host, static_cast<std::uint16_t>(port)};
}

std::unique_ptr<node::Client> connect(const SubmitOptions& o) {
  const auto [host, port] = parse_node(o.node);
  auto client = node::Client::connect(host, port, std::chrono::seconds(5));
  if (!client) fail(exit_error, o.node + ": " + node::describe(client.error()));
  return std::move(*client);
}

[[noreturn]] void fail_call(node::Client& client, node::ClientError error) {
  if (error == node::ClientError::server_error) {
    fail(exit_error, std::string("node answered: ") + client.last_server_error().text);
  }
  fail(exit_error, node::describe(error));
}

execution::AccountId parse_account(const std::string& option, const std::string& hex) {
  auto id = Hash32::from_hex(hex);
  if (!id) throw CLI::ValidationError(option, "expected 64 hex digits (an account id): " + std::string(describe(id.error())));
  return *id;
}

void print_account(const execution::AccountId& id, const execution::Account& account) {
  std::printf("account %s balance %llu nonce %llu\n", id.hex().c_str(),
              static_cast<unsigned long long>(account.balance), static_cast<unsigned long long>(account.nonce));
}

void run_send(const SubmitOptions& o, std::variant<execution::Transfer, execution::Put> payload) {
  if (o.key_file.empty()) throw CLI::RequiredError("--key (the sender's secret key file, before the subcommand)");
  auto signer = node::read_secret_key_file(o.key_file);
  if (!signer) fail(exit_error, o.key_file + ": " + node::describe(signer.error()));
  const crypto::Signer& key = **signer;
  const execution::AccountId sender = execution::account_id(key.scheme(), key.verifier().public_key());

  auto client = connect(o);
  // The next nonce counting the sender's transactions pending at this validator,
  // so back-to-back sends do not reuse a nonce the ledger has not consumed yet.
  auto state = client->get_account_state(sender);
  if (!state) fail_call(*client, state.error());
  std::printf("sender %s nonce %llu (%llu pending here) balance %llu\n", sender.hex().c_str(),
              static_cast<unsigned long long>(state->next_nonce),
              static_cast<unsigned long long>(state->next_nonce - state->account.nonce),
              static_cast<unsigned long long>(state->account.balance));

  const execution::Transaction tx = execution::make_signed(key, o.chain_id, state->next_nonce, std::move(payload));
  const Bytes encoded = execution::encode_transaction(tx);
  const execution::TransactionId id = execution::transaction_id(encoded);
  auto outcomes = client->submit(std::vector<Bytes>{encoded});
  if (!outcomes) fail_call(*client, outcomes.error());
  const node::SubmitOutcome& outcome = outcomes->front();
  if (!outcome.accepted) {
    std::printf("transaction %s %s\n", id.hex().c_str(), node::describe(outcome).c_str());
    throw CLI::RuntimeError(exit_refused);
  }
  std::printf("transaction %s accepted\n", outcome.id.hex().c_str());

  // One wait request covers at most client_wait_timeout_ms_max; longer --timeout
  // values wait in several requests.
  std::uint64_t left = o.timeout_ms;
  std::optional<execution::Receipt> receipt;
  do {
    const auto step = std::min<std::uint64_t>(left, limits::client_wait_timeout_ms_max);
    auto waited = client->wait_receipt(outcome.id, std::chrono::milliseconds(step));
    if (!waited) fail_call(*client, waited.error());
    receipt = *waited;
    left -= step;
  } while (!receipt && left > 0);
  if (!receipt) {
    std::printf("no receipt within %u ms\n", o.timeout_ms);
    throw CLI::RuntimeError(exit_timeout);
  }
  std::printf("receipt: %s at height %llu (index %u)\n", execution::describe(receipt->status),
              static_cast<unsigned long long>(receipt->height), receipt->index);
  if (receipt->status != execution::ReceiptStatus::success) throw CLI::RuntimeError(exit_failed);
}

void run_account(const SubmitOptions& o) {
  execution::AccountId id;
  if (!o.account_id.empty()) {
    id = parse_account("--id", o.account_id);
  } else if (!o.key_file.empty()) {
    auto signer = node::read_secret_key_file(o.key_file);
    if (!signer) fail(exit_error, o.key_file + ": " + node::describe(signer.error()));
    id = execution::account_id((*signer)->scheme(), (*signer)->verifier().public_key());
  } else {
    throw CLI::RequiredError("--id (or --key before the subcommand)");
  }
  auto client = connect(o);
  auto account = client->get_account(id);
  if (!account) fail_call(*client, account.error());
  print_account(id, *account);
}

}  // namespace

void register_submit(CLI::App& app) {
  static SubmitOptions o;
  auto* submit = app.add_subcommand(
      "submit", "Sign and send a transaction to a validator and wait for its receipt, or read an account");
  submit->add_option("--node", o.node, "HOST:PORT of a validator's client listener ([client] in its config)")
      ->required();
  submit->add_option("--key", o.key_file, "The sender's secret key file (kestrel keygen / init)");
  submit->add_option("--chain-id", o.chain_id, "Chain id of the cluster")->capture_default_str();
  submit->add_option("--timeout", o.timeout_ms, "How long to wait for the receipt, in ms")->capture_default_str();
  submit->require_subcommand(1);
  submit->footer("Exit codes: 0 ok, 1 error, 2 refused, 3 no receipt in time, 4 committed with a failure status.");

  auto* transfer = submit->add_subcommand("transfer", "Transfer an amount to an account");
  transfer->add_option("--to", o.to, "Recipient account id (64 hex digits)")->required();
  transfer->add_option("--amount", o.amount, "Amount (> 0)")->required()->check(CLI::PositiveNumber);
  transfer->callback([] {
    run_send(o, execution::Transfer{parse_account("--to", o.to), o.amount});
  });

  auto* put = submit->add_subcommand("put", "Store a value under a key of the sender's account");
  put->add_option("--key", o.put_key, "Key (1.." + std::to_string(limits::ledger_key_bytes_max) + " bytes of text)")
      ->required();
  put->add_option("--value", o.put_value,
                  "Value (0.." + std::to_string(limits::ledger_value_bytes_max) + " bytes of text)")
      ->required();
  put->callback([] {
    if (o.put_key.empty() || o.put_key.size() > limits::ledger_key_bytes_max) {
      throw CLI::ValidationError("put --key", "must be 1.." + std::to_string(limits::ledger_key_bytes_max) + " bytes");
    }
    if (o.put_value.size() > limits::ledger_value_bytes_max) {
      throw CLI::ValidationError("put --value", "at most " + std::to_string(limits::ledger_value_bytes_max) + " bytes");
    }
    const ByteSpan key = as_bytes(o.put_key);
    const ByteSpan value = as_bytes(o.put_value);
    run_send(o, execution::Put{Bytes(key.begin(), key.end()), Bytes(value.begin(), value.end())});
  });

  auto* account = submit->add_subcommand("account", "Read an account's balance and next nonce");
  account->add_option("--id", o.account_id, "Account id (64 hex digits); default: the --key file's account");
  account->callback([] { run_account(o); });
}

}  // namespace kestrel::app
