// The execution pipeline, both sides of gates node.execution_thread and
// node.execution_inline_small: the same blocks give the same results in the same
// order whether they execute on the pipeline's thread, at once on the caller's,
// or each where submit() put it; a block executes on the caller's thread only
// when nothing is in flight; the in-flight bound holds; a payload indexed
// elsewhere and one decoded here give the same result.
#include "node/execution_pipeline.h"

#include <gtest/gtest.h>

#include <atomic>

#include "common/limits.h"

namespace kestrel::node {
namespace {

std::unique_ptr<execution::Executor> genesis_executor() {
  auto ledger = execution::Ledger::create(7, {});
  EXPECT_TRUE(ledger.ok());
  return std::make_unique<execution::NativeExecutor>(std::move(*ledger));
}

// A block of raw puts: keys and values derived from the height, so blocks differ.
ExecutionJob raw_block(std::uint64_t height, std::size_t puts) {
  std::vector<RawEntry> raw(puts);
  for (std::size_t i = 0; i < puts; ++i) {
    raw[i].origin = 1;
    raw[i].connection = height;
    raw[i].sequence = i;
    for (std::size_t b = 0; b < raw[i].command.size(); ++b) {
      raw[i].command[b] = static_cast<std::uint8_t>(height * 31 + i * 7 + b);
    }
  }
  ExecutionJob job;
  job.height = height;
  job.id.bytes[0] = static_cast<std::uint8_t>(height);
  job.payload = encode_payload({}, raw);
  return job;
}

std::vector<ExecutedBlock> run_all(bool threaded, std::uint64_t blocks, bool may_inline = false,
                                   std::uint64_t* executed_inline = nullptr) {
  std::atomic<int> pokes{0};
  ExecutionPipeline pipeline(genesis_executor(), [&] { ++pokes; }, threaded);
  pipeline.start();
  std::vector<ExecutedBlock> out;
  for (std::uint64_t h = 1; h <= blocks; ++h) {
    while (pipeline.in_flight() >= limits::node_execution_queue_max) {
      pipeline.wait_done();
      pipeline.take(out);
    }
    pipeline.submit(raw_block(h, 1 + h % 5), may_inline);
    EXPECT_LT(pipeline.in_flight(), limits::node_execution_queue_max + 1);
  }
  while (pipeline.in_flight() > 0) {
    pipeline.wait_done();
    pipeline.take(out);
  }
  if (threaded && !may_inline) {
    EXPECT_GE(pokes.load(), 1);
  }
  if (executed_inline) *executed_inline = pipeline.executed_inline();
  pipeline.stop();
  return out;
}

TEST(ExecutionPipeline, ThreadedAndInlineAgreeBlockForBlock) {
  constexpr std::uint64_t blocks = 3 * limits::node_execution_queue_max + 5;  // past the bound several times
  const auto inline_run = run_all(false, blocks);
  const auto threaded_run = run_all(true, blocks);
  ASSERT_EQ(inline_run.size(), blocks);
  ASSERT_EQ(threaded_run.size(), blocks);
  for (std::uint64_t i = 0; i < blocks; ++i) {
    EXPECT_EQ(inline_run[i].height, i + 1);  // commit order
    EXPECT_EQ(threaded_run[i].height, i + 1);
    EXPECT_EQ(inline_run[i].result.state_digest, threaded_run[i].result.state_digest) << "height " << i + 1;
    EXPECT_EQ(inline_run[i].raw, threaded_run[i].raw);
  }
  // Every block changed the state: the digests are all different.
  EXPECT_NE(inline_run.front().result.state_digest, inline_run.back().result.state_digest);
}

// Gate node.execution_inline_small on: a block submitted while nothing is in
// flight executes at once (take() has it without waiting); one submitted behind
// another goes to the thread, so no block overtakes another.
TEST(ExecutionPipeline, SmallBlockExecutesInlineOnlyWhenNothingIsInFlight) {
  ExecutionPipeline pipeline(genesis_executor(), [] {}, true);
  pipeline.start();
  std::vector<ExecutedBlock> out;
  pipeline.submit(raw_block(1, 2), true);  // idle: executed here
  EXPECT_EQ(pipeline.executed_inline(), 1u);
  pipeline.take(out);
  ASSERT_EQ(out.size(), 1u);
  pipeline.submit(raw_block(2, 2), false);  // to the thread; in flight until taken
  pipeline.submit(raw_block(3, 2), true);   // behind block 2: to the thread as well
  EXPECT_EQ(pipeline.executed_inline(), 1u);
  while (out.size() < 3) {
    pipeline.wait_done();
    pipeline.take(out);
  }
  EXPECT_EQ(pipeline.in_flight(), 0u);
  pipeline.submit(raw_block(4, 2), true);  // idle again
  EXPECT_EQ(pipeline.executed_inline(), 2u);
  pipeline.take(out);
  ASSERT_EQ(out.size(), 4u);
  for (std::uint64_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i].height, i + 1);
  pipeline.stop();
}

// Both sides of the gate on the whole sequence: the same results, block for
// block, as the baseline (every block on the thread).
TEST(ExecutionPipeline, InlineSmallBlocksAgreeWithTheThread) {
  constexpr std::uint64_t blocks = 3 * limits::node_execution_queue_max + 5;
  std::uint64_t executed_inline = 0;
  const auto mixed = run_all(true, blocks, true, &executed_inline);
  const auto threaded = run_all(true, blocks);
  ASSERT_EQ(mixed.size(), blocks);
  ASSERT_EQ(threaded.size(), blocks);
  EXPECT_GE(executed_inline, 1u);  // the first block at least: nothing was in flight
  for (std::uint64_t i = 0; i < blocks; ++i) {
    EXPECT_EQ(mixed[i].height, i + 1);
    EXPECT_EQ(mixed[i].result.state_digest, threaded[i].result.state_digest) << "height " << i + 1;
  }
}

TEST(ExecutionPipeline, ReadsSeeTheLastExecutedBlock) {
  ExecutionPipeline pipeline(genesis_executor(), [] {}, false);
  EXPECT_EQ(pipeline.read([](const execution::Executor& x) { return x.height(); }), 0u);
  std::vector<ExecutedBlock> out;
  pipeline.run_now(raw_block(1, 3), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(pipeline.read([](const execution::Executor& x) { return x.height(); }), 1u);
  EXPECT_EQ(pipeline.read([](const execution::Executor& x) { return x.state_digest(); }), out[0].result.state_digest);
}

TEST(ExecutionPipeline, MalformedPayloadExecutesAsEmpty) {
  ExecutionPipeline pipeline(genesis_executor(), [] {}, false);
  ExecutionJob job = raw_block(1, 2);
  job.payload = Bytes{0xff, 0x01, 0x02};  // not a payload: certified by a Byzantine quorum only
  std::vector<ExecutedBlock> out;
  pipeline.run_now(std::move(job), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].transactions.empty());
  EXPECT_TRUE(out[0].raw.empty());
  EXPECT_EQ(out[0].result.receipts.size(), 0u);
}

}  // namespace
}  // namespace kestrel::node
