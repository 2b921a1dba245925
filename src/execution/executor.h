// The executor seam: what the node's commit pipeline runs each committed block
// through, whatever executes it (today the native ledger; the EVM next). A block
// goes in as decoded transactions with their ids, the raw benchmark puts and the
// senders the caller already knows; receipts, state writes and the state digest
// come out (BlockResult). Deterministic: equal executors fed equal blocks give
// equal results everywhere.
//
// State. An executor starts from the state the store holds at its executed height
// and reads it through a StateView (pages of the stored state, in key order).
// The native executor reads every page once at restore and keeps its whole state
// in memory (bounded by the ledger's limits); an executor whose state does not
// fit reads through the view as it executes.
//
// Thread-safety: one thread at a time (the node's execution thread, or the
// consensus thread with gate node.execution_thread off); the node guards reads
// from other threads.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "execution/execution.h"

namespace kestrel::execution {

struct BlockInput {
  std::uint64_t height = 0;
  std::span<const Transaction> transactions;
  std::span<const TransactionId> ids;          // ids[i] of transactions[i]
  std::span<const RawPut> raw;
  std::span<const AccountId> senders;          // empty, or senders[i] == sender_of(transactions[i])
};

// The stored state as an executor reads it.
class StateView {
 public:
  virtual ~StateView() = default;
  // The next page after start_after (StatePageSource's contract); nullopt when the
  // store failed (its owner keeps the detail).
  virtual std::optional<std::vector<StateEntry>> page(ByteSpan start_after, std::size_t max_entries) = 0;
};

class Executor {
 public:
  virtual ~Executor() = default;
  virtual Result<BlockResult, LedgerError> execute_block(const BlockInput& block) = 0;
  virtual std::uint64_t height() const = 0;         // last executed height (0: genesis)
  virtual const Hash32& state_digest() const = 0;   // after height()
  // Reads for clients and admission (the state after height()).
  virtual Account account(const AccountId& id) const = 0;
  virtual std::optional<Bytes> get(const AccountId& id, ByteSpan key) const = 0;
};

// Today's ledger (execution.h) as an Executor.
class NativeExecutor final : public Executor {
 public:
  explicit NativeExecutor(Ledger ledger) : ledger_(std::move(ledger)) {}
  // The ledger a node had after executing `height`, from the stored state read
  // through `view` and that block's receipts (Ledger::restore).
  static Result<std::unique_ptr<NativeExecutor>, LedgerError> restore(std::uint32_t chain_id, std::uint64_t height,
                                                                      std::span<const Receipt> last_block_receipts,
                                                                      StateView& view);

  Result<BlockResult, LedgerError> execute_block(const BlockInput& block) override {
    return ledger_.execute_block(block.height, block.transactions, block.ids, block.raw, block.senders);
  }
  std::uint64_t height() const override { return ledger_.height(); }
  const Hash32& state_digest() const override { return ledger_.state_digest(); }
  Account account(const AccountId& id) const override { return ledger_.account(id); }
  std::optional<Bytes> get(const AccountId& id, ByteSpan key) const override { return ledger_.get(id, key); }

 private:
  Ledger ledger_;
};

}  // namespace kestrel::execution
