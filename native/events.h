// Events from the workers to JavaScript: a new or moved source MAC (learn),
// or a unicast destination the fast path does not know on a network with
// tunnels (miss), for the overlay fdb to resolve. Workers append whole batches; JavaScript is woken once per non-empty
// queue and drains it all, so a busy flow costs one call, not one per packet.
//
// Also the frames a service port hands to JavaScript (FrameQueue, below): a
// DNS query on an in-band address, the one packet DESIGN lets cross.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

#include "common.h"
#include "wire.h"

namespace weft {

struct Event {
  uint8_t type;
  uint8_t mac[6];
  uint32_t network;
  uint32_t port;
};

// Records from the workers to JavaScript: a worker pushes a whole batch
// under one lock, JavaScript drains everything at once, and `wake` runs (on
// the pushing thread) when the queue goes from empty to not. What does not
// fit is refused and counted by the caller, never waited for.
template <class T>
class BatchQueue {
 public:
  BatchQueue(std::function<void()> wake, size_t max) : wake_(std::move(wake)), max_(max) {}

  // Appends the first records of `batch` while they fit, at most `limit`
  // of them; returns how many of the batch were not taken.
  size_t Push(const std::vector<T>& batch, size_t limit = SIZE_MAX) {
    bool was_empty;
    size_t taken = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      was_empty = queue_.empty();
      for (const auto& r : batch) {
        if (taken >= limit || queue_.size() >= max_) break;
        queue_.push_back(r);
        taken++;
      }
    }
    if (was_empty && taken > 0) wake_();
    return batch.size() - taken;
  }

  std::vector<T> Drain() {
    std::vector<T> out;
    std::lock_guard<std::mutex> lock(mu_);
    out.swap(queue_);
    return out;
  }

 private:
  std::function<void()> wake_;
  const size_t max_;
  std::mutex mu_;
  std::vector<T> queue_;
};

// Toward JavaScript each is a record of wire.h's WEFT_EVENT_FIELDS.
class EventQueue : public BatchQueue<Event> {
 public:
  explicit EventQueue(std::function<void()> wake) : BatchQueue(std::move(wake), kEventQueueMax) {}
};

// Frames toward JavaScript are records of wire.h's WEFT_FRAME_FIELDS.
// Bounds on what waits for JavaScript: a resolver that falls behind loses
// queries (counted), it never makes the workers wait or memory grow.
constexpr size_t kFrameQueueMax = 4096;
constexpr size_t kFrameQueueMaxBytes = 16u << 20;

// Frames from the workers to JavaScript, kept already in the wire layout so
// handing them over is one copy of one buffer per batch.
class FrameQueue {
 public:
  // `wake` runs (on the pushing thread) when the queue goes from empty to not.
  explicit FrameQueue(std::function<void()> wake) : wake_(std::move(wake)) {}

  // Appends `count` records laid out back to back in `records` while they
  // fit; returns how many did not and were dropped.
  size_t Push(const uint8_t* records, size_t len, size_t count) {
    bool was_empty;
    size_t taken = 0, bytes = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      was_empty = frames_ == 0;
      while (taken < count && frames_ + taken < kFrameQueueMax) {
        size_t rec = kFrameRecordHdrLen + GetLE16(records + bytes + kFrameAtLength);
        if (bytes + rec > len || buf_.size() + bytes + rec > kFrameQueueMaxBytes) break;
        bytes += rec;
        taken++;
      }
      buf_.insert(buf_.end(), records, records + bytes);
      frames_ += taken;
    }
    if (was_empty && taken > 0) wake_();
    return count - taken;
  }

  // Moves everything queued into `out` (its old content is discarded, its
  // capacity reused); returns how many frames that is.
  size_t Drain(std::vector<uint8_t>& out) {
    out.clear();
    std::lock_guard<std::mutex> lock(mu_);
    out.swap(buf_);
    size_t n = frames_;
    frames_ = 0;
    return n;
  }

 private:
  std::function<void()> wake_;
  std::mutex mu_;
  std::vector<uint8_t> buf_;
  size_t frames_ = 0;
};

}  // namespace weft
