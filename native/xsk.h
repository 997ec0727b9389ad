// One AF_XDP socket: a receive queue of the underlay device read, and its
// transmit side written, through rings shared with the kernel instead of a
// system call per packet. The memory the packets live in (the UMEM) is
// this socket's own: the first half of its chunks receive (they circulate
// through the fill and RX rings), the second half transmit (TX ring, then
// back through the completion ring).
//
// Receive belongs to one worker thread; transmit may come from any and is
// serialized by the caller (Underlay::XdpTx).
#pragma once

#include <linux/if_xdp.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace weft {

// The room the kernel keeps before a received packet in its chunk
// (XDP_PACKET_HEADROOM, from linux/bpf.h, which clashes with libpcap's).
constexpr uint32_t kXdpHeadroom = 256;

class XskSocket {
 public:
  // Binds to `queue` of `ifindex` (zero-copy where the driver has it, else
  // copy mode) with chunks of `chunk` bytes. Throws std::runtime_error.
  static std::unique_ptr<XskSocket> Open(int ifindex, uint32_t queue, uint32_t chunk);
  ~XskSocket();
  int fd() const { return fd_; }
  bool zero_copy() const { return zero_copy_; }
  // The largest frame a chunk holds.
  uint32_t max_frame() const { return chunk_ - kXdpHeadroom; }

  // Receiving: each packet waiting (at most `max`) to `fn(data, len)`, its
  // chunk handed back to the kernel after. Returns how many.
  template <class Fn>
  int Receive(int max, Fn&& fn) {
    uint32_t prod = __atomic_load_n(rx_.producer, __ATOMIC_ACQUIRE);
    uint32_t cons = *rx_.consumer;
    uint32_t n = prod - cons;
    if (n > static_cast<uint32_t>(max)) n = static_cast<uint32_t>(max);
    for (uint32_t i = 0; i < n; i++) {
      const xdp_desc& d = static_cast<const xdp_desc*>(rx_.ring)[(cons + i) & rx_.mask];
      fn(umem_ + d.addr, d.len);
      fill_back_.push_back(d.addr & ~static_cast<uint64_t>(chunk_ - 1));
    }
    if (n) __atomic_store_n(rx_.consumer, cons + n, __ATOMIC_RELEASE);
    Refill();
    return static_cast<int>(n);
  }

  // Transmitting: a chunk to write a frame of at most max_frame() bytes
  // into, or null when every transmit chunk is in flight.
  uint8_t* TxChunk();
  // Queues the frame written into the chunk TxChunk gave last.
  void TxPush(uint32_t len);
  // Hands what is queued to the kernel and waits, a bounded while, until
  // it took it (what it did not take yet leaves with a later kick).
  void TxFlush();

 private:
  struct Ring {
    uint32_t* producer = nullptr;
    uint32_t* consumer = nullptr;
    uint32_t* flags = nullptr;
    void* ring = nullptr;
    uint32_t mask = 0;
    void* map = nullptr;
    size_t map_len = 0;
  };
  XskSocket(int fd, uint32_t chunk) : fd_(fd), chunk_(chunk) {}
  void MapRing(Ring& r, uint64_t pgoff, const xdp_ring_offset& off, uint32_t entries, size_t desc);
  void Refill();
  void Reap();

  int fd_;
  uint32_t chunk_;
  bool zero_copy_ = false;
  uint8_t* umem_ = nullptr;
  size_t umem_len_ = 0;
  Ring fill_, comp_, rx_, tx_;
  std::vector<uint64_t> fill_back_;  // received chunks not yet back in the fill ring
  std::vector<uint64_t> tx_free_;    // transmit chunks nobody holds
  uint64_t tx_next_ = 0;             // the chunk TxChunk gave
  uint32_t tx_queued_ = 0;           // pushed since the last flush
};

}  // namespace weft
