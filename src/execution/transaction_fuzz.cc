// libFuzzer target for the transaction decoder (docs/transactions.md).
//
// Every input must decode or fail with a TransactionError (never crash or read
// out of bounds: ASan/UBSan check that). When it decodes, re-encoding must give
// back the input exactly (one encoding per transaction) and the id must be the
// SHA-256 of those bytes. The receipt decoder is fuzzed on the same input.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "execution/execution.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace kestrel;
  ByteSpan in(data, size);
  auto tx = execution::decode_transaction(in);
  if (tx.ok()) {
    const Bytes out = execution::encode_transaction(*tx);
    if (out.size() != in.size() || !std::equal(out.begin(), out.end(), in.begin())) __builtin_trap();
    if (execution::transaction_id(out) != sha256(in)) __builtin_trap();
  }
  auto receipt = execution::decode_receipt(in);
  if (receipt.ok()) {
    const Bytes out = execution::encode_receipt(*receipt);
    if (out.size() != in.size() || !std::equal(out.begin(), out.end(), in.begin())) __builtin_trap();
  }
  return 0;
}
