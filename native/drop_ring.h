// The last frames a worker dropped, summarised (weft stats drops): a ring of
// kSize notes per worker, written by that worker where a drop is decided
// with the frame at hand, read by JavaScript at any time. No allocation per
// drop; a note being overwritten while it is read is skipped (a sequence
// number per slot, odd while written).
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <vector>

#include "common.h"
#include "headers.h"

namespace weft {

struct DropNote {
  double at;  // NowMs()
  uint32_t reason, port, network, len;
  uint8_t src_mac[6], dst_mac[6];
  uint16_t ethertype;
  uint8_t ipver;  // 0: not IP
  uint8_t proto;
  uint8_t src[16], dst[16];
  uint16_t sport, dport;
  uint32_t vtep;  // tunnel receive: the outer source IPv4 (network order); 0 otherwise
  uint8_t tx;     // 1: an output port refused it (reason kDropTxRefused)
};

// A note's reason beyond DropReason: the output port did not take the frame
// (it counted why itself; the worker learns only how many).
constexpr uint32_t kDropTxRefused = kDropReasonCount;

// What a dropped frame was: its addresses and, for IP, its ends.
inline DropNote SummarizeDrop(double at, DropReason why, uint32_t port, uint32_t net, const uint8_t* eth, uint32_t len) {
  DropNote n;
  std::memset(&n, 0, sizeof(n));
  n.at = at;
  n.reason = why;
  n.port = port;
  n.network = net;
  n.len = len;
  if (eth == nullptr || len < kEthHdrLen) return n;
  std::memcpy(n.dst_mac, eth, 6);
  std::memcpy(n.src_mac, eth + 6, 6);
  ParsedFrame p = ParseL3L4(eth, len);
  n.ethertype = p.ethertype != 0 ? p.ethertype : Get16(eth + 12);
  if (!p.ip()) return n;
  n.ipver = p.v4 ? 4 : 6;
  n.proto = p.proto;
  std::memcpy(n.src, p.saddr, p.v4 ? 4 : 16);
  std::memcpy(n.dst, p.daddr, p.v4 ? 4 : 16);
  bool ported = p.proto == kIpProtoTcp || p.proto == kIpProtoUdp;
  if (ported && !p.fragment && p.l4 + 4 <= len) {
    n.sport = Get16(eth + p.l4);
    n.dport = Get16(eth + p.l4 + 2);
  }
  return n;
}

class DropRing {
 public:
  static constexpr size_t kSize = 64;

  // The worker that owns the ring.
  void Push(const DropNote& n) {
    Slot& s = slots_[next_ % kSize];
    uint32_t seq = s.seq.load(std::memory_order_relaxed);
    s.seq.store(seq + 1, std::memory_order_relaxed);  // odd: being written
    std::atomic_thread_fence(std::memory_order_release);
    std::memcpy(&s.note, &n, sizeof(n));
    s.seq.store(seq + 2, std::memory_order_release);
    next_++;
  }

  // Any thread: the notes written so far, oldest first.
  std::vector<DropNote> Snapshot() const {
    std::vector<DropNote> out;
    for (const Slot& s : slots_) {
      uint32_t before = s.seq.load(std::memory_order_acquire);
      if (before == 0 || (before & 1)) continue;
      DropNote copy;
      std::memcpy(&copy, &s.note, sizeof(copy));
      std::atomic_thread_fence(std::memory_order_acquire);
      if (s.seq.load(std::memory_order_relaxed) == before) out.push_back(copy);
    }
    return out;
  }

 private:
  struct Slot {
    std::atomic<uint32_t> seq{0};
    DropNote note;
  };
  Slot slots_[kSize];
  uint64_t next_ = 0;  // the writer's alone
};

}  // namespace weft
