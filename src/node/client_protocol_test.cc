// The client protocol (client_protocol.h): request and response round trips,
// frame bounds, and every decode error.
#include "node/client_protocol.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <span>
#include <string>
#include <vector>

#include "common/codec.h"
#include "common/limits.h"
#include "mempool/mempool.h"

namespace kestrel::node {
namespace {

Hash32 hash_of(std::uint8_t v) {
  Hash32 h;
  h.bytes.fill(v);
  return h;
}

// --- Protocol ---------------------------------------------------------------------------

std::vector<Request> sample_requests() {
  RawCommand c1{7, {}};
  c1.command.fill(0xAB);
  RawCommand c2{~std::uint64_t{0}, {}};
  return {
      Request{1, SubmitRequest{{Bytes{1, 2, 3}, Bytes{}, Bytes(limits::transaction_bytes_max, 9)}}},
      Request{~std::uint64_t{0}, WaitReceiptRequest{hash_of(3), limits::client_wait_timeout_ms_max}},
      Request{0, WaitReceiptRequest{hash_of(4), 0}},
      Request{3, GetAccountRequest{hash_of(5)}},
      Request{4, GetKeyRequest{hash_of(6), Bytes(limits::ledger_key_bytes_max, 'k')}},
      Request{5, GetKeyRequest{hash_of(6), Bytes{}}},
      Request{6, SubmitRawRequest{{c1, c2}}},
  };
}

std::vector<Response> sample_responses() {
  SubmitOutcome accepted{true, hash_of(1), 0};
  SubmitOutcome refused{false, {}, static_cast<std::uint8_t>(mempool::AdmitError::bad_signature)};
  execution::Receipt receipt{hash_of(2), execution::ReceiptStatus::insufficient_balance, ~std::uint64_t{0},
                             ~std::uint32_t{0}};
  return {
      Response{1, SubmitResultResponse{{accepted, refused}}},
      Response{2, SubmitResultResponse{}},
      Response{3, ReceiptResponse{receipt}},
      Response{4, ReceiptResponse{std::nullopt}},
      Response{5, AccountResponse{{123, 456}, 459}},
      Response{6, KeyResponse{Bytes(limits::ledger_value_bytes_max, 'v')}},
      Response{7, KeyResponse{std::nullopt}},
      Response{8, KeyResponse{Bytes{}}},
      Response{9, RawCommittedResponse{{1, 2, 3}, 77}},
      Response{10, RawCommittedResponse{{}, 0}},
      Response{11, ErrorResponse{ClientErrorCode::raw_disabled, "raw mode off"}},
      Response{12, ErrorResponse{ClientErrorCode::internal, std::string(limits::client_error_text_bytes_max, 'x')}},
  };
}

TEST(ClientProtocol, RequestsRoundTrip) {
  for (const auto& request : sample_requests()) {
    const Bytes body = encode_request(request);
    auto decoded = decode_request(body);
    ASSERT_TRUE(decoded.ok()) << describe(request.type()) << ": " << describe(decoded.error());
    EXPECT_EQ(*decoded, request);
    EXPECT_EQ(encode_request(*decoded), body);
    EXPECT_EQ(decoded->type(), request.type());
    EXPECT_FALSE(decode_response(body).ok());  // a request is never a response
    EXPECT_EQ(peek_request_id(body), request.request_id);
  }
}

// A next nonce below the account's nonce cannot be right: refused by the decoder.
TEST(ClientProtocol, AccountNextNonceBelowNonceIsRefused) {
  const Bytes body = encode_response(Response{5, AccountResponse{{1, 9}, 8}});
  auto decoded = decode_response(body);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.error(), ProtocolError::invalid_value);
  EXPECT_TRUE(decode_response(encode_response(Response{5, AccountResponse{{1, 9}, 9}})).ok());
}

TEST(ClientProtocol, ResponsesRoundTrip) {
  for (const auto& response : sample_responses()) {
    const Bytes body = encode_response(response);
    auto decoded = decode_response(body);
    ASSERT_TRUE(decoded.ok()) << describe(response.type()) << ": " << describe(decoded.error());
    EXPECT_EQ(*decoded, response);
    EXPECT_EQ(encode_response(*decoded), body);
    EXPECT_FALSE(decode_request(body).ok());
  }
}

TEST(ClientProtocol, FrameHasLengthPrefix) {
  const Request request = sample_requests()[3];
  Bytes frame;
  append_request_frame(request, frame);
  const Bytes body = encode_request(request);
  ASSERT_EQ(frame.size(), frame_header_bytes + body.size());
  auto length = decode_frame_length(std::span<const std::uint8_t, 4>(frame.data(), 4));
  ASSERT_TRUE(length.ok());
  EXPECT_EQ(*length, body.size());
  EXPECT_TRUE(std::equal(body.begin(), body.end(), frame.begin() + 4));
}

TEST(ClientProtocol, FrameLengthBound) {
  auto header = [](std::uint32_t v) {
    return std::array<std::uint8_t, 4>{static_cast<std::uint8_t>(v), static_cast<std::uint8_t>(v >> 8),
                                       static_cast<std::uint8_t>(v >> 16), static_cast<std::uint8_t>(v >> 24)};
  };
  const auto at_max = header(static_cast<std::uint32_t>(limits::client_frame_bytes_max));
  const auto over = header(static_cast<std::uint32_t>(limits::client_frame_bytes_max + 1));
  const auto huge = header(0xFFFFFFFFu);
  EXPECT_TRUE(decode_frame_length(at_max).ok());
  EXPECT_EQ(decode_frame_length(over).error(), ProtocolError::frame_too_large);
  EXPECT_EQ(decode_frame_length(huge).error(), ProtocolError::frame_too_large);
}

// A body built field by field, for the error cases.
struct Body {
  Bytes bytes;
  Writer w{bytes};
  Body(MessageType type, std::uint64_t id = 42) {
    w.u8(static_cast<std::uint8_t>(type));
    w.u64(id);
  }
};

ProtocolError request_error(const Bytes& body) {
  auto r = decode_request(body);
  EXPECT_FALSE(r.ok());
  return r.ok() ? ProtocolError::frame_too_large : r.error();
}
ProtocolError response_error(const Bytes& body) {
  auto r = decode_response(body);
  EXPECT_FALSE(r.ok());
  return r.ok() ? ProtocolError::frame_too_large : r.error();
}

TEST(ClientProtocol, RequestDecodeErrors) {
  // truncated: empty, inside the id, inside a hash, inside a transaction, inside raw commands
  EXPECT_EQ(request_error({}), ProtocolError::truncated);
  EXPECT_EQ(request_error({0x03, 1, 2}), ProtocolError::truncated);
  {
    Body b(MessageType::get_account);
    b.w.fixed(Bytes(31, 0));
    EXPECT_EQ(request_error(b.bytes), ProtocolError::truncated);
  }
  {
    Body b(MessageType::submit);
    b.w.varint(1);
    b.w.varint(10);
    b.w.fixed(Bytes(9, 0));
    EXPECT_EQ(request_error(b.bytes), ProtocolError::truncated);
  }
  {
    Body b(MessageType::submit_raw);
    b.w.varint(2);
    b.w.fixed(Bytes(24 + 23, 0));
    EXPECT_EQ(request_error(b.bytes), ProtocolError::truncated);
  }
  // too_long: batch counts, transaction size, key size, wait timeout
  {
    Body b(MessageType::submit);
    b.w.varint(limits::client_submit_batch_max + 1);
    EXPECT_EQ(request_error(b.bytes), ProtocolError::too_long);
  }
  {
    Body b(MessageType::submit_raw);
    b.w.varint(limits::client_raw_batch_max + 1);
    EXPECT_EQ(request_error(b.bytes), ProtocolError::too_long);
  }
  {
    Body b(MessageType::submit);
    b.w.varint(1);
    b.w.varint(limits::transaction_bytes_max + 1);
    EXPECT_EQ(request_error(b.bytes), ProtocolError::too_long);
  }
  {
    Body b(MessageType::get_key);
    b.w.fixed(hash_of(1).span());
    b.w.varint(limits::ledger_key_bytes_max + 1);
    b.w.fixed(Bytes(limits::ledger_key_bytes_max + 1, 0));
    EXPECT_EQ(request_error(b.bytes), ProtocolError::too_long);
  }
  {
    Body b(MessageType::wait_receipt);
    b.w.fixed(hash_of(1).span());
    b.w.u32(limits::client_wait_timeout_ms_max + 1);
    EXPECT_EQ(request_error(b.bytes), ProtocolError::too_long);
  }
  // non_canonical: a count with a redundant continuation byte
  {
    Body b(MessageType::submit);
    b.bytes.push_back(0x81);
    b.bytes.push_back(0x00);
    EXPECT_EQ(request_error(b.bytes), ProtocolError::non_canonical);
  }
  // trailing_bytes
  {
    Body b(MessageType::get_account);
    b.w.fixed(hash_of(1).span());
    b.w.u8(0);
    EXPECT_EQ(request_error(b.bytes), ProtocolError::trailing_bytes);
  }
  // unknown_type: an unassigned type, and a response type
  EXPECT_EQ(request_error(Body(static_cast<MessageType>(0x07)).bytes), ProtocolError::unknown_type);
  EXPECT_EQ(request_error(Body(MessageType::account).bytes), ProtocolError::unknown_type);
  // empty_batch
  {
    Body b(MessageType::submit);
    b.w.varint(0);
    EXPECT_EQ(request_error(b.bytes), ProtocolError::empty_batch);
  }
  {
    Body b(MessageType::submit_raw);
    b.w.varint(0);
    EXPECT_EQ(request_error(b.bytes), ProtocolError::empty_batch);
  }
}

TEST(ClientProtocol, ResponseDecodeErrors) {
  EXPECT_EQ(response_error({}), ProtocolError::truncated);
  EXPECT_EQ(response_error(Body(MessageType::submit).bytes), ProtocolError::unknown_type);
  EXPECT_EQ(response_error(Body(static_cast<MessageType>(0xFF)).bytes), ProtocolError::unknown_type);
  // invalid_value: outcome flag, refusal code, found flag, error code
  {
    Body b(MessageType::submit_result);
    b.w.varint(1);
    b.w.u8(2);
    EXPECT_EQ(response_error(b.bytes), ProtocolError::invalid_value);
  }
  {
    Body b(MessageType::submit_result);
    b.w.varint(1);
    b.w.u8(0);
    b.w.u8(static_cast<std::uint8_t>(mempool::AdmitError::count_));
    EXPECT_EQ(response_error(b.bytes), ProtocolError::invalid_value);
  }
  {
    Body b(MessageType::receipt);
    b.w.u8(2);
    EXPECT_EQ(response_error(b.bytes), ProtocolError::invalid_value);
  }
  {
    Body b(MessageType::key);
    b.w.u8(3);
    EXPECT_EQ(response_error(b.bytes), ProtocolError::invalid_value);
  }
  for (std::uint8_t code : {std::uint8_t{0}, static_cast<std::uint8_t>(client_error_code_max + 1)}) {
    Body b(MessageType::error);
    b.w.u8(code);
    b.w.varint(0);
    EXPECT_EQ(response_error(b.bytes), ProtocolError::invalid_value);
  }
  // too_long: outcomes, sequences, value, error text
  {
    Body b(MessageType::submit_result);
    b.w.varint(limits::client_submit_batch_max + 1);
    EXPECT_EQ(response_error(b.bytes), ProtocolError::too_long);
  }
  {
    Body b(MessageType::raw_committed);
    b.w.varint(limits::client_raw_batch_max + 1);
    EXPECT_EQ(response_error(b.bytes), ProtocolError::too_long);
  }
  {
    Body b(MessageType::key);
    b.w.u8(1);
    b.w.varint(limits::ledger_value_bytes_max + 1);
    EXPECT_EQ(response_error(b.bytes), ProtocolError::too_long);
  }
  {
    Body b(MessageType::error);
    b.w.u8(1);
    b.w.varint(limits::client_error_text_bytes_max + 1);
    EXPECT_EQ(response_error(b.bytes), ProtocolError::too_long);
  }
  // truncated: raw sequences announced but missing; account missing its nonce
  {
    Body b(MessageType::raw_committed);
    b.w.varint(3);
    b.w.u64(1);
    EXPECT_EQ(response_error(b.bytes), ProtocolError::truncated);
  }
  {
    Body b(MessageType::account);
    b.w.u64(1);
    EXPECT_EQ(response_error(b.bytes), ProtocolError::truncated);
  }
  // bad_receipt: an embedded receipt with an unknown status
  {
    execution::Receipt receipt{hash_of(1), execution::ReceiptStatus::success, 1, 0};
    Bytes encoded = execution::encode_receipt(receipt);
    encoded[32] = 0x77;
    Body b(MessageType::receipt);
    b.w.u8(1);
    b.w.bytes(encoded, receipt_bytes_max);
    EXPECT_EQ(response_error(b.bytes), ProtocolError::bad_receipt);
  }
  // non_canonical and trailing bytes
  {
    Body b(MessageType::raw_committed);
    b.bytes.push_back(0x80);
    b.bytes.push_back(0x00);
    EXPECT_EQ(response_error(b.bytes), ProtocolError::non_canonical);
  }
  {
    Body b(MessageType::account);
    b.w.u64(1);
    b.w.u64(2);
    EXPECT_EQ(response_error(b.bytes), ProtocolError::truncated);  // no next nonce
    b.w.u64(2);
    b.w.u8(0);
    EXPECT_EQ(response_error(b.bytes), ProtocolError::trailing_bytes);
  }
}

}  // namespace
}  // namespace kestrel::node
