// Where a packet weft writes onto the underlay device itself (AF_XDP,
// xdp_underlay.h) must go: the Ethernet address of the next hop toward a
// remote VTEP, from the kernel's route and neighbour tables, asked over
// rtnetlink and kept until the tables change (a thread listens for their
// change notices) so the answer is a map lookup per packet.
//
// Only what the kernel already knows is used: a destination without a
// route out of the device, or whose neighbour the kernel has not resolved,
// is "unknown" and its packets take the sockets, whose sending makes the
// kernel resolve it. A neighbour the kernel holds as stale is used, but now
// and then a packet takes the sockets anyway so the kernel checks it again
// (weft's own packets bypass the stack that would otherwise confirm it).
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <unordered_map>

namespace weft {

class NextHops {
 public:
  // For packets leaving by `ifindex`. Throws std::runtime_error.
  explicit NextHops(int ifindex);
  ~NextHops();
  // The MAC to send a packet for `dst` (network order) to, into `mac`.
  // Not thread-safe: the caller serializes (one transmit lock).
  bool Lookup(uint32_t dst, uint8_t* mac, double now_ms);

 private:
  struct Entry {
    uint8_t mac[6];
    bool ok = false;
    bool stale = false;
    uint64_t generation = 0;
    double retry_at = 0;   // unknown: when to ask the kernel again
    double verify_at = 0;  // stale: when to let a packet take the sockets
  };
  void Resolve(uint32_t dst, Entry& e, double now_ms);
  bool Route(uint32_t dst, uint32_t* gateway);
  bool Neighbour(uint32_t addr, Entry& e);
  // One request and its answer on query_fd_; the answer's payload in buf_.
  int Ask(const void* req, size_t len);
  void Watch();

  int ifindex_;
  int query_fd_ = -1;
  int events_fd_ = -1;
  uint32_t seq_ = 0;
  alignas(8) uint8_t buf_[8192];
  std::unordered_map<uint32_t, Entry> cache_;
  std::atomic<uint64_t> generation_{1};
  std::atomic<bool> stop_{false};
  std::thread watcher_;
};

}  // namespace weft
