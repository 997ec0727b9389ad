// Events from the workers to JavaScript: a new or moved source MAC (learn),
// or a unicast destination the fast path does not know on a network with
// tunnels (miss), for the overlay fdb to resolve. Workers append whole batches; JavaScript is woken once per non-empty
// queue and drains it all, so a busy flow costs one call, not one per packet.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

#include "common.h"

namespace weft {

enum EventType : uint8_t { kEventLearn = 1, kEventMiss = 2 };

struct Event {
  uint8_t type;
  uint8_t mac[6];
  uint32_t network;
  uint32_t port;
};

// Wire layout toward JavaScript, 16 bytes a record:
//   u8 type, u8[6] mac, u8 pad, u32 network (LE), u32 port (LE)
constexpr size_t kEventRecordLen = 16;

class EventQueue {
 public:
  // `wake` runs (on the pushing thread) when the queue goes from empty to not.
  explicit EventQueue(std::function<void()> wake) : wake_(std::move(wake)) {}

  // Returns how many events did not fit and were dropped.
  size_t Push(const std::vector<Event>& batch) {
    bool was_empty;
    size_t dropped = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      was_empty = queue_.empty();
      for (const auto& e : batch) {
        if (queue_.size() >= kEventQueueMax) {
          dropped++;
          continue;
        }
        queue_.push_back(e);
      }
    }
    if (was_empty) wake_();
    return dropped;
  }

  std::vector<Event> Drain() {
    std::vector<Event> out;
    std::lock_guard<std::mutex> lock(mu_);
    out.swap(queue_);
    return out;
  }

 private:
  std::function<void()> wake_;
  std::mutex mu_;
  std::vector<Event> queue_;
};

}  // namespace weft
