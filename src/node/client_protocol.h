// Client protocol: the binary request/response messages between clients
// (`kestrel submit`, load generators, tests) and a validator's client listener
// (docs/client-api.md).
//
// Frames: u32 little-endian body length, then the body. The length is at most
// limits::client_frame_bytes_max (checked before anything is allocated). Body:
// u8 message type, u64 request id (chosen by the client, echoed in every
// response to that request), then the type's fields in the canonical codec
// (common/codec.h). Responses to different requests may come out of order.
//
// Strict: every body decodes to one message or a specific ProtocolError; each
// message has exactly one encoding, so decode(encode(m)) == m and
// encode(decode(b)) == b for every b that decodes (fuzzed:
// client_protocol_fuzz.cc). Messages given to the encoders must be within their
// bounds (REQUIRES; a programmer error otherwise) and normalized: a refused
// SubmitOutcome carries a zero id, an accepted one refusal 0.
//
// Pure functions without I/O; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/bytes.h"
#include "common/limits.h"
#include "common/result.h"
#include "execution/execution.h"

namespace kestrel::node {

enum class MessageType : std::uint8_t {
  // Requests (client to node).
  submit = 0x01,
  wait_receipt = 0x02,
  get_account = 0x03,
  get_key = 0x04,
  submit_raw = 0x05,
  // Responses (node to client).
  submit_result = 0x81,
  receipt = 0x82,
  account = 0x83,
  key = 0x84,
  raw_committed = 0x85,
  error = 0x86,
};
const char* describe(MessageType type);

// Codes of the `error` response (and of ClientBackend::submit_raw's refusal).
enum class ClientErrorCode : std::uint8_t {
  malformed = 1,      // the request frame did not decode; the connection is closed after it
  raw_disabled = 2,   // submit_raw on a node that does not serve raw mode
  overloaded = 3,     // the node refused the request for load (try again later)
  shutting_down = 4,  // the node is stopping
  internal = 5,       // the node failed to serve the request
};
inline constexpr std::uint8_t client_error_code_max = 5;
const char* describe(ClientErrorCode code);

enum class ProtocolError : std::uint8_t {
  frame_too_large,  // length prefix above limits::client_frame_bytes_max
  truncated,        // the body ended inside a field
  too_long,         // a count, length or value above its maximum
  non_canonical,    // a varint with redundant bytes or above 64 bits
  trailing_bytes,   // bytes after the last field
  unknown_type,     // a message type this protocol does not have (or a response where a request belongs)
  invalid_value,    // a field outside its domain (flag not 0/1, unknown code)
  empty_batch,      // a submit or submit_raw with no entries
  bad_receipt,      // the embedded receipt does not decode
};
const char* describe(ProtocolError error);

// --- Shared value types (also the ClientBackend's, client_server.h) -----------------

struct SubmitOutcome {
  bool accepted = false;
  execution::TransactionId id;  // when accepted (zero otherwise)
  std::uint8_t refusal = 0;     // mempool::AdmitError when !accepted (0 otherwise)
  bool operator==(const SubmitOutcome&) const = default;
};

struct RawCommand {
  std::uint64_t sequence = 0;  // client-chosen, reported back when committed
  std::array<std::uint8_t, limits::raw_command_bytes> command{};  // 8-byte key, 8-byte value
  bool operator==(const RawCommand&) const = default;
};

// --- Requests ------------------------------------------------------------------------

struct SubmitRequest {
  std::vector<Bytes> transactions;  // 1..client_submit_batch_max, each <= transaction_bytes_max
  bool operator==(const SubmitRequest&) const = default;
};
struct WaitReceiptRequest {
  execution::TransactionId id;
  std::uint32_t timeout_ms = 0;  // <= limits::client_wait_timeout_ms_max
  bool operator==(const WaitReceiptRequest&) const = default;
};
struct GetAccountRequest {
  execution::AccountId id;
  bool operator==(const GetAccountRequest&) const = default;
};
struct GetKeyRequest {
  execution::AccountId id;
  Bytes key;  // <= limits::ledger_key_bytes_max
  bool operator==(const GetKeyRequest&) const = default;
};
struct SubmitRawRequest {
  std::vector<RawCommand> commands;  // 1..client_raw_batch_max
  bool operator==(const SubmitRawRequest&) const = default;
};

struct Request {
  std::uint64_t request_id = 0;
  std::variant<SubmitRequest, WaitReceiptRequest, GetAccountRequest, GetKeyRequest, SubmitRawRequest> body;
  MessageType type() const;
  bool operator==(const Request&) const = default;
};

// --- Responses -----------------------------------------------------------------------

struct SubmitResultResponse {
  std::vector<SubmitOutcome> outcomes;  // one per submitted transaction, in order (<= submit_batch_max)
  bool operator==(const SubmitResultResponse&) const = default;
};
struct ReceiptResponse {
  std::optional<execution::Receipt> receipt;  // nullopt: not committed within the timeout
  bool operator==(const ReceiptResponse&) const = default;
};
struct AccountResponse {
  execution::Account account;  // the zero account when absent
  // The nonce a new transaction of this account should carry, counting its
  // transactions pending in this node's pool: account.nonce plus the run of
  // pooled nonces that follows it without a gap (docs/client-api.md). A client
  // sending several transactions in a row, or to several validators, takes this,
  // not account.nonce, which moves only when a block executes. >= account.nonce.
  std::uint64_t next_nonce = 0;
  bool operator==(const AccountResponse&) const = default;
};
struct KeyResponse {
  std::optional<Bytes> value;  // <= limits::ledger_value_bytes_max
  bool operator==(const KeyResponse&) const = default;
};
struct RawCommittedResponse {
  std::vector<std::uint64_t> sequences;  // 0..client_raw_batch_max
  std::uint64_t height = 0;              // the block that committed them
  bool operator==(const RawCommittedResponse&) const = default;
};
struct ErrorResponse {
  ClientErrorCode code = ClientErrorCode::malformed;
  std::string text;  // <= limits::client_error_text_bytes_max bytes
  bool operator==(const ErrorResponse&) const = default;
};

struct Response {
  std::uint64_t request_id = 0;
  std::variant<SubmitResultResponse, ReceiptResponse, AccountResponse, KeyResponse, RawCommittedResponse,
               ErrorResponse>
      body;
  MessageType type() const;
  bool operator==(const Response&) const = default;
};

// --- Encoding ------------------------------------------------------------------------

inline constexpr std::size_t frame_header_bytes = 4;
// An encoded receipt: id (32) + status (1) + varint height (<= 10) + varint index (<= 5).
inline constexpr std::size_t receipt_bytes_max = 32 + 1 + 10 + 5;

// Body encodings (no length prefix).
Bytes encode_request(const Request& request);
Bytes encode_response(const Response& response);
// Appends a whole frame (length prefix and body) to `out`.
void append_request_frame(const Request& request, Bytes& out);
void append_response_frame(const Response& response, Bytes& out);

// The body length of a frame from its 4-byte prefix; frame_too_large above the bound.
Result<std::uint32_t, ProtocolError> decode_frame_length(std::span<const std::uint8_t, frame_header_bytes> header);

// Strict decoders of a body.
Result<Request, ProtocolError> decode_request(ByteSpan body);
Result<Response, ProtocolError> decode_response(ByteSpan body);

// The request id of a body that has at least a type byte and an id (for the
// server's error reply to a request that does not decode); nullopt otherwise.
std::optional<std::uint64_t> peek_request_id(ByteSpan body);

}  // namespace kestrel::node
