#include "execution/executor.h"

namespace kestrel::execution {

Result<std::unique_ptr<NativeExecutor>, LedgerError> NativeExecutor::restore(std::uint32_t chain_id, std::uint64_t height,
                                                                             std::span<const Receipt> last_block_receipts,
                                                                             StateView& view) {
  auto ledger = Ledger::restore(chain_id, height, last_block_receipts,
                                [&](ByteSpan after, std::size_t max) { return view.page(after, max); });
  if (!ledger) return Err(ledger.error());
  return std::make_unique<NativeExecutor>(std::move(*ledger));
}

}  // namespace kestrel::execution
