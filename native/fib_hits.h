// How often each fast-path entry was hit (weft dp dump): one counter per
// (worker, entry), written by that worker alone with a plain relaxed store
// (no shared cache line, no read-modify-write across threads), summed when
// JavaScript asks. Entries get a counter index when they are added and give
// it back when removed; the index is zeroed when it is handed out again.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

namespace weft {

class FibHits {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;

  FibHits(size_t workers, uint32_t capacity) : capacity_(capacity), counts_(workers * static_cast<size_t>(capacity)) {
    free_.reserve(capacity);
    for (uint32_t i = capacity; i > 0; i--) free_.push_back(i - 1);
  }

  // A worker's row of counters.
  uint64_t* row(size_t worker) { return counts_.data() + worker * capacity_; }

  // JavaScript thread (table edits): an index for a new entry, its counts
  // zeroed; kNone when every index is taken (the entry is then not counted).
  uint32_t Take() {
    if (free_.empty()) return kNone;
    uint32_t i = free_.back();
    free_.pop_back();
    for (size_t w = 0; w < counts_.size() / capacity_; w++) __atomic_store_n(&counts_[w * capacity_ + i], 0, __ATOMIC_RELAXED);
    return i;
  }
  void Give(uint32_t i) {
    if (i < capacity_) free_.push_back(i);
  }
  uint64_t Sum(uint32_t i) const {
    if (i >= capacity_) return 0;
    uint64_t s = 0;
    for (size_t w = 0; w < counts_.size() / capacity_; w++) s += __atomic_load_n(&counts_[w * capacity_ + i], __ATOMIC_RELAXED);
    return s;
  }

 private:
  uint32_t capacity_;
  std::vector<uint64_t> counts_;
  std::vector<uint32_t> free_;
};

// The worker's side: one more hit on `i`.
inline void CountHit(uint64_t* row, uint32_t i) {
  if (row != nullptr && i != FibHits::kNone) __atomic_store_n(&row[i], __atomic_load_n(&row[i], __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

}  // namespace weft
