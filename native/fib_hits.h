// How often each fast-path entry was hit (weft dp dump): one counter per
// (worker, entry), written by that worker alone with a plain relaxed store
// (no shared cache line, no read-modify-write across threads), summed when
// JavaScript asks. Entries get a counter index when they are added and give
// it back when removed. An index handed out again keeps the counts it
// reached as its new zero (base_) instead of being zeroed: the counters are
// the workers' to write, and a worker still on an older snapshot, midway
// through its load-add-store, would write an old count back over a zero.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

namespace weft {

class FibHits {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;

  FibHits(size_t workers, uint32_t capacity)
      : capacity_(capacity), counts_(workers * static_cast<size_t>(capacity)), base_(capacity, 0) {
    free_.reserve(capacity);
    for (uint32_t i = capacity; i > 0; i--) free_.push_back(i - 1);
  }

  // A worker's row of counters.
  uint64_t* row(size_t worker) { return counts_.data() + worker * capacity_; }

  // JavaScript thread (table edits): an index for a new entry, counting
  // from 0; kNone when every index is taken (the entry is then not counted).
  uint32_t Take() {
    if (free_.empty()) return kNone;
    uint32_t i = free_.back();
    free_.pop_back();
    base_[i] = Raw(i);
    return i;
  }
  void Give(uint32_t i) {
    if (i < capacity_) free_.push_back(i);
  }
  // JavaScript thread: the hits of the entry holding index i.
  uint64_t Sum(uint32_t i) const { return i < capacity_ ? Raw(i) - base_[i] : 0; }

 private:
  uint32_t capacity_;
  std::vector<uint64_t> counts_;
  std::vector<uint64_t> base_;  // JavaScript thread's alone
  std::vector<uint32_t> free_;

  uint64_t Raw(uint32_t i) const {
    uint64_t s = 0;
    for (size_t w = 0; w < counts_.size() / capacity_; w++) s += __atomic_load_n(&counts_[w * capacity_ + i], __ATOMIC_RELAXED);
    return s;
  }
};

// The worker's side: one more hit on `i`.
inline void CountHit(uint64_t* row, uint32_t i) {
  if (row != nullptr && i != FibHits::kNone) __atomic_store_n(&row[i], __atomic_load_n(&row[i], __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

}  // namespace weft
