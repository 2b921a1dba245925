// Client protocol encoders and strict decoders (client_protocol.h,
// docs/client-api.md).
#include "node/client_protocol.h"

#include "common/assert.h"
#include "common/codec.h"
#include "mempool/mempool.h"

namespace kestrel::node {

const char* describe(MessageType type) {
  switch (type) {
    case MessageType::submit: return "submit";
    case MessageType::wait_receipt: return "wait_receipt";
    case MessageType::get_account: return "get_account";
    case MessageType::get_key: return "get_key";
    case MessageType::submit_raw: return "submit_raw";
    case MessageType::submit_result: return "submit_result";
    case MessageType::receipt: return "receipt";
    case MessageType::account: return "account";
    case MessageType::key: return "key";
    case MessageType::raw_committed: return "raw_committed";
    case MessageType::error: return "error";
  }
  return "unknown";
}

const char* describe(ClientErrorCode code) {
  switch (code) {
    case ClientErrorCode::malformed: return "malformed request";
    case ClientErrorCode::raw_disabled: return "raw mode is disabled on this node";
    case ClientErrorCode::overloaded: return "node overloaded";
    case ClientErrorCode::shutting_down: return "node shutting down";
    case ClientErrorCode::internal: return "internal error";
  }
  return "unknown error code";
}

const char* describe(ProtocolError error) {
  switch (error) {
    case ProtocolError::frame_too_large: return "frame length above client_frame_bytes_max";
    case ProtocolError::truncated: return "message ends inside a field";
    case ProtocolError::too_long: return "count, length or value above its maximum";
    case ProtocolError::non_canonical: return "non-canonical varint";
    case ProtocolError::trailing_bytes: return "bytes after the last field";
    case ProtocolError::unknown_type: return "unknown message type";
    case ProtocolError::invalid_value: return "field value outside its domain";
    case ProtocolError::empty_batch: return "batch with no entries";
    case ProtocolError::bad_receipt: return "embedded receipt does not decode";
  }
  return "unknown protocol error";
}

namespace {

constexpr std::uint8_t outcome_accepted = 1;
constexpr std::uint8_t outcome_refused = 0;

ProtocolError from_codec(CodecError e) {
  switch (e) {
    case CodecError::truncated: return ProtocolError::truncated;
    case CodecError::too_long: return ProtocolError::too_long;
    case CodecError::varint_non_canonical:
    case CodecError::varint_overflow: return ProtocolError::non_canonical;
    case CodecError::trailing_bytes: return ProtocolError::trailing_bytes;
    case CodecError::invalid_value: return ProtocolError::invalid_value;
  }
  return ProtocolError::invalid_value;
}

// Assigns the value of a codec Result to `target` or returns its error as a ProtocolError.
#define CLIENT_TRY(target, expression)                              \
  do {                                                              \
    auto client_try_ = (expression);                                \
    if (!client_try_.ok()) return Err(from_codec(client_try_.error())); \
    target = *client_try_;                                          \
  } while (false)

#define CLIENT_TRY_STATUS(expression)                               \
  do {                                                              \
    auto client_try_ = (expression);                                \
    if (!client_try_.ok()) return Err(from_codec(client_try_.error())); \
  } while (false)

// A batch count: 1..count_max (0 is empty_batch, above count_max too_long).
Result<std::size_t, ProtocolError> read_count(Reader& r, std::size_t count_max) {
  std::uint64_t count = 0;
  CLIENT_TRY(count, r.varint_max(count_max));
  if (count == 0) return Err(ProtocolError::empty_batch);
  return static_cast<std::size_t>(count);
}

Result<Hash32, ProtocolError> read_hash(Reader& r) {
  Hash32 h;
  CLIENT_TRY_STATUS(r.fixed_into(h.bytes));
  return h;
}

void write_header(Writer& w, MessageType type, std::uint64_t request_id) {
  w.u8(static_cast<std::uint8_t>(type));
  w.u64(request_id);
}

template <typename Message>
void append_frame(const Message& message, Bytes& out, Bytes (*encode)(const Message&)) {
  const Bytes body = encode(message);
  KESTREL_ASSERT(body.size() <= limits::client_frame_bytes_max);
  Writer w(out);
  w.u32(static_cast<std::uint32_t>(body.size()));
  w.fixed(body);
}

}  // namespace

MessageType Request::type() const {
  static constexpr MessageType types[] = {MessageType::submit, MessageType::wait_receipt,
                                          MessageType::get_account, MessageType::get_key,
                                          MessageType::submit_raw};
  return types[body.index()];
}

MessageType Response::type() const {
  static constexpr MessageType types[] = {MessageType::submit_result, MessageType::receipt,
                                          MessageType::account,       MessageType::key,
                                          MessageType::raw_committed, MessageType::error};
  return types[body.index()];
}

// --- Requests ----------------------------------------------------------------------------

Bytes encode_request(const Request& request) {
  Bytes out;
  Writer w(out);
  write_header(w, request.type(), request.request_id);
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, SubmitRequest>) {
          KESTREL_ASSERT(!m.transactions.empty() && m.transactions.size() <= limits::client_submit_batch_max);
          w.varint(m.transactions.size());
          for (const auto& tx : m.transactions) w.bytes(tx, limits::transaction_bytes_max);
        } else if constexpr (std::is_same_v<T, WaitReceiptRequest>) {
          KESTREL_ASSERT(m.timeout_ms <= limits::client_wait_timeout_ms_max);
          w.fixed(m.id.span());
          w.u32(m.timeout_ms);
        } else if constexpr (std::is_same_v<T, GetAccountRequest>) {
          w.fixed(m.id.span());
        } else if constexpr (std::is_same_v<T, GetKeyRequest>) {
          w.fixed(m.id.span());
          w.bytes(m.key, limits::ledger_key_bytes_max);
        } else {
          static_assert(std::is_same_v<T, SubmitRawRequest>);
          KESTREL_ASSERT(!m.commands.empty() && m.commands.size() <= limits::client_raw_batch_max);
          w.varint(m.commands.size());
          for (const auto& c : m.commands) {
            w.u64(c.sequence);
            w.fixed(c.command);
          }
        }
      },
      request.body);
  KESTREL_ASSERT(out.size() <= limits::client_frame_bytes_max);
  return out;
}

Result<Request, ProtocolError> decode_request(ByteSpan body) {
  Reader r(body);
  std::uint8_t type = 0;
  CLIENT_TRY(type, r.u8());
  Request request;
  CLIENT_TRY(request.request_id, r.u64());
  switch (static_cast<MessageType>(type)) {
    case MessageType::submit: {
      auto count = read_count(r, limits::client_submit_batch_max);
      if (!count) return Err(count.error());
      SubmitRequest m;
      m.transactions.reserve(*count);
      for (std::size_t i = 0; i < *count; ++i) {
        ByteSpan tx;
        CLIENT_TRY(tx, r.bytes(limits::transaction_bytes_max));
        m.transactions.emplace_back(tx.begin(), tx.end());
      }
      request.body = std::move(m);
      break;
    }
    case MessageType::wait_receipt: {
      WaitReceiptRequest m;
      auto id = read_hash(r);
      if (!id) return Err(id.error());
      m.id = *id;
      CLIENT_TRY(m.timeout_ms, r.u32());
      if (m.timeout_ms > limits::client_wait_timeout_ms_max) return Err(ProtocolError::too_long);
      request.body = m;
      break;
    }
    case MessageType::get_account: {
      auto id = read_hash(r);
      if (!id) return Err(id.error());
      request.body = GetAccountRequest{*id};
      break;
    }
    case MessageType::get_key: {
      GetKeyRequest m;
      auto id = read_hash(r);
      if (!id) return Err(id.error());
      m.id = *id;
      ByteSpan key;
      CLIENT_TRY(key, r.bytes(limits::ledger_key_bytes_max));
      m.key.assign(key.begin(), key.end());
      request.body = std::move(m);
      break;
    }
    case MessageType::submit_raw: {
      auto count = read_count(r, limits::client_raw_batch_max);
      if (!count) return Err(count.error());
      // Length checked before the vector is sized: each command is 24 bytes.
      if (r.remaining() < *count * (8 + limits::raw_command_bytes)) return Err(ProtocolError::truncated);
      SubmitRawRequest m;
      m.commands.resize(*count);
      for (auto& c : m.commands) {
        CLIENT_TRY(c.sequence, r.u64());
        CLIENT_TRY_STATUS(r.fixed_into(c.command));
      }
      request.body = std::move(m);
      break;
    }
    default:
      return Err(ProtocolError::unknown_type);
  }
  CLIENT_TRY_STATUS(r.finish());
  return request;
}

void append_request_frame(const Request& request, Bytes& out) { append_frame(request, out, encode_request); }

std::optional<std::uint64_t> peek_request_id(ByteSpan body) {
  Reader r(body);
  if (!r.u8()) return std::nullopt;
  auto id = r.u64();
  if (!id) return std::nullopt;
  return *id;
}

// --- Responses ---------------------------------------------------------------------------

Bytes encode_response(const Response& response) {
  Bytes out;
  Writer w(out);
  write_header(w, response.type(), response.request_id);
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, SubmitResultResponse>) {
          KESTREL_ASSERT(m.outcomes.size() <= limits::client_submit_batch_max);
          w.varint(m.outcomes.size());
          for (const auto& o : m.outcomes) {
            if (o.accepted) {
              KESTREL_ASSERT(o.refusal == 0);
              w.u8(outcome_accepted);
              w.fixed(o.id.span());
            } else {
              KESTREL_ASSERT(o.refusal < static_cast<std::uint8_t>(mempool::AdmitError::count_));
              KESTREL_ASSERT(o.id == execution::TransactionId{});
              w.u8(outcome_refused);
              w.u8(o.refusal);
            }
          }
        } else if constexpr (std::is_same_v<T, ReceiptResponse>) {
          w.boolean(m.receipt.has_value());
          if (m.receipt) w.bytes(execution::encode_receipt(*m.receipt), receipt_bytes_max);
        } else if constexpr (std::is_same_v<T, AccountResponse>) {
          w.u64(m.account.balance);
          w.u64(m.account.nonce);
          w.u64(m.next_nonce);
        } else if constexpr (std::is_same_v<T, KeyResponse>) {
          w.boolean(m.value.has_value());
          if (m.value) w.bytes(*m.value, limits::ledger_value_bytes_max);
        } else if constexpr (std::is_same_v<T, RawCommittedResponse>) {
          KESTREL_ASSERT(m.sequences.size() <= limits::client_raw_batch_max);
          w.varint(m.sequences.size());
          for (auto s : m.sequences) w.u64(s);
          w.u64(m.height);
        } else {
          static_assert(std::is_same_v<T, ErrorResponse>);
          w.u8(static_cast<std::uint8_t>(m.code));
          w.bytes(as_bytes(m.text), limits::client_error_text_bytes_max);
        }
      },
      response.body);
  KESTREL_ASSERT(out.size() <= limits::client_frame_bytes_max);
  return out;
}

Result<Response, ProtocolError> decode_response(ByteSpan body) {
  Reader r(body);
  std::uint8_t type = 0;
  CLIENT_TRY(type, r.u8());
  Response response;
  CLIENT_TRY(response.request_id, r.u64());
  switch (static_cast<MessageType>(type)) {
    case MessageType::submit_result: {
      // May be empty: a backend answers each transaction, and a submit has >= 1,
      // but the format itself has no reason to refuse zero.
      std::uint64_t count = 0;
      CLIENT_TRY(count, r.varint_max(limits::client_submit_batch_max));
      SubmitResultResponse m;
      m.outcomes.resize(count);
      for (auto& o : m.outcomes) {
        std::uint8_t flag = 0;
        CLIENT_TRY(flag, r.u8());
        if (flag == outcome_accepted) {
          o.accepted = true;
          auto id = read_hash(r);
          if (!id) return Err(id.error());
          o.id = *id;
        } else if (flag == outcome_refused) {
          CLIENT_TRY(o.refusal, r.u8());
          if (o.refusal >= static_cast<std::uint8_t>(mempool::AdmitError::count_)) {
            return Err(ProtocolError::invalid_value);
          }
        } else {
          return Err(ProtocolError::invalid_value);
        }
      }
      response.body = std::move(m);
      break;
    }
    case MessageType::receipt: {
      bool found = false;
      CLIENT_TRY(found, r.boolean());
      ReceiptResponse m;
      if (found) {
        ByteSpan encoded;
        CLIENT_TRY(encoded, r.bytes(receipt_bytes_max));
        auto receipt = execution::decode_receipt(encoded);
        if (!receipt) return Err(ProtocolError::bad_receipt);
        m.receipt = *receipt;
      }
      response.body = m;
      break;
    }
    case MessageType::account: {
      AccountResponse m;
      CLIENT_TRY(m.account.balance, r.u64());
      CLIENT_TRY(m.account.nonce, r.u64());
      CLIENT_TRY(m.next_nonce, r.u64());
      if (m.next_nonce < m.account.nonce) return Err(ProtocolError::invalid_value);
      response.body = m;
      break;
    }
    case MessageType::key: {
      bool present = false;
      CLIENT_TRY(present, r.boolean());
      KeyResponse m;
      if (present) {
        ByteSpan value;
        CLIENT_TRY(value, r.bytes(limits::ledger_value_bytes_max));
        m.value = Bytes(value.begin(), value.end());
      }
      response.body = std::move(m);
      break;
    }
    case MessageType::raw_committed: {
      std::uint64_t count = 0;
      CLIENT_TRY(count, r.varint_max(limits::client_raw_batch_max));
      if (r.remaining() < count * 8) return Err(ProtocolError::truncated);
      RawCommittedResponse m;
      m.sequences.resize(count);
      for (auto& s : m.sequences) CLIENT_TRY(s, r.u64());
      CLIENT_TRY(m.height, r.u64());
      response.body = std::move(m);
      break;
    }
    case MessageType::error: {
      std::uint8_t code = 0;
      CLIENT_TRY(code, r.u8());
      if (code == 0 || code > client_error_code_max) return Err(ProtocolError::invalid_value);
      ByteSpan text;
      CLIENT_TRY(text, r.bytes(limits::client_error_text_bytes_max));
      ErrorResponse m;
      m.code = static_cast<ClientErrorCode>(code);
      m.text.assign(text.begin(), text.end());
      response.body = std::move(m);
      break;
    }
    default:
      return Err(ProtocolError::unknown_type);
  }
  CLIENT_TRY_STATUS(r.finish());
  return response;
}

void append_response_frame(const Response& response, Bytes& out) {
  append_frame(response, out, encode_response);
}

Result<std::uint32_t, ProtocolError> decode_frame_length(std::span<const std::uint8_t, frame_header_bytes> header) {
  const std::uint32_t length = static_cast<std::uint32_t>(header[0]) | (static_cast<std::uint32_t>(header[1]) << 8) |
                               (static_cast<std::uint32_t>(header[2]) << 16) |
                               (static_cast<std::uint32_t>(header[3]) << 24);
  if (length > limits::client_frame_bytes_max) return Err(ProtocolError::frame_too_large);
  return length;
}

}  // namespace kestrel::node
