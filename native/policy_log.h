// The deny log's way to JavaScript: records of denied new connections
// (wire.h WEFT_POLICY_LOG_FIELDS, already encoded), a token bucket shared by
// all workers (100 records/s, burst 200, POLICY-SPEC §5) and a bounded
// queue. A worker collects its records during a wakeup and offers them
// here once at its end (one lock per wakeup, like events); what the bucket
// or the queue refuses is counted as policy_log_suppressed by the caller,
// never waited for, so a flood of denied SYNs costs the fast path a memcpy
// per record at most and JavaScript at most 100 records a second.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

#include "events.h"
#include "wire.h"

namespace weft {

struct PolicyLogRecord {
  uint8_t b[kPolicyLogRecordLen];
};

class PolicyLog {
 public:
  static constexpr double kPerSecond = 100, kBurst = 200;
  // Records waiting for JavaScript beyond which new ones are refused.
  static constexpr size_t kQueueMax = 1024;
  // Records one worker keeps during one wakeup before offering them.
  static constexpr size_t kPendingMax = 256;

  // `wake` runs (on the pushing thread) when the queue goes from empty to not.
  explicit PolicyLog(std::function<void()> wake) : queue_(std::move(wake), kQueueMax) {}

  // Takes what the bucket and the queue allow of `batch` at time `now`
  // (ms); returns how many it refused. Tokens the full queue then refuses
  // are spent all the same: JavaScript is behind then anyway.
  size_t Push(const std::vector<PolicyLogRecord>& batch, double now) {
    if (batch.empty()) return 0;
    return queue_.Push(batch, Take(batch.size(), now));
  }

  std::vector<PolicyLogRecord> Drain() { return queue_.Drain(); }

 private:
  // Up to `want` tokens, refilled for the time since the last call.
  size_t Take(size_t want, double now) {
    std::lock_guard<std::mutex> lock(mu_);
    if (last_ > 0) tokens_ += (now - last_) / 1000 * kPerSecond;
    if (tokens_ > kBurst) tokens_ = kBurst;
    last_ = now;
    size_t n = want < tokens_ ? want : static_cast<size_t>(tokens_);
    tokens_ -= static_cast<double>(n);
    return n;
  }

  BatchQueue<PolicyLogRecord> queue_;
  std::mutex mu_;  // the bucket's, shared by every worker
  double tokens_ = kBurst;
  double last_ = 0;
};

}  // namespace weft
