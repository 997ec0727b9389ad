// How the fast-path tables (tables.h) change under running workers.
//
// Workers read an immutable Tables snapshot; the JavaScript thread builds a
// new snapshot for every batch of changes and publishes it with one atomic
// store (copy on write). Old snapshots are freed once every worker has passed
// a quiescent point (epoch-based reclamation), so a worker never takes a lock
// per packet, nor even per batch.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "common.h"
#include "tables.h"

namespace weft {

// Epoch-based reclamation for a fixed set of reader threads.
class Epochs {
 public:
  explicit Epochs(size_t readers) : local_(readers) {
    for (auto& e : local_) e.store(0);
  }
  // Reader side, once per wakeup: online before touching a snapshot, offline
  // before blocking.
  void Online(size_t reader) { local_[reader].store(global_.load()); }
  void Offline(size_t reader) { local_[reader].store(0); }

  // Writer side (one thread): run `free` once no reader can still hold what
  // was unpublished before this call.
  void Retire(std::function<void()> free) {
    uint64_t epoch = global_.fetch_add(1);
    retired_.push_back({epoch, std::move(free)});
    Reclaim();
  }
  void Reclaim() {
    uint64_t oldest = UINT64_MAX;
    for (auto& e : local_) {
      uint64_t v = e.load();
      if (v != 0 && v < oldest) oldest = v;
    }
    std::vector<Retired> keep;
    for (auto& r : retired_) {
      if (r.epoch < oldest) r.free();
      else keep.push_back(std::move(r));
    }
    retired_.swap(keep);
  }
  size_t pending() const { return retired_.size(); }

 private:
  struct Retired {
    uint64_t epoch;
    std::function<void()> free;
  };
  std::atomic<uint64_t> global_{1};
  std::vector<std::atomic<uint64_t>> local_;
  std::vector<Retired> retired_;
};

// The published snapshot plus the writer's helpers to change it.
class FastPath {
 public:
  explicit FastPath(size_t readers) : epochs_(readers), current_(new Tables()) {}
  ~FastPath() { delete current_.load(); }

  Epochs& epochs() { return epochs_; }
  const Tables* Current() const { return current_.load(); }

  // Writer: copy the current snapshot, let `change` edit the copy, publish it.
  void Update(const std::function<void(Tables&)>& change) {
    auto* next = new Tables(*current_.load());
    change(*next);
    Tables* old = current_.exchange(next);
    epochs_.Retire([old] { delete old; });
  }

 private:
  Epochs epochs_;
  std::atomic<Tables*> current_;
};

}  // namespace weft
