// Memory ports: a port whose wire is two bounded queues JavaScript holds
// the ends of. Frames injected from JavaScript are what RxBatch reads;
// what the switch sends is appended to a transmit queue JavaScript drains.
// With them a whole Datapath switches in memory, without root or devices,
// as Open vSwitch's netdev-dummy and wireguard-go's tuntest.ChannelTUN let
// their switches be tested.
//
// A memory port plays a device with the offloads a TAP port may have: with
// the vnet header on, frames in and out carry the 10-byte virtio_net_hdr;
// with TSO (and checksum offload) it takes GSO super-frames and partial
// checksums as they are. Without an offload it gets what the kernel would
// hand such a device: GSO frames cut into segments (SegmentGso), partial
// checksums completed (CompleteChecksum). So a test sees what segmentation
// and checksum completion did to a frame by reading the other port.
//
// Not a forwarding-path port: only tests and diagnostics make one
// (addMemoryPort, injectRx and drainTx in addon_memory.cc).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "port.h"

namespace weft {

class MemoryPort : public Port {
 public:
  struct Options {
    bool vnet_hdr = true;  // frames in and out start with a virtio_net_hdr
    bool csum = true;      // takes checksum-partial frames (TUN_F_CSUM)
    bool tso = true;       // takes TCP GSO frames (TUN_F_TSO4/6); needs csum and vnet_hdr
    size_t capacity = 4096;  // frames each queue holds; beyond that, dropped
  };

  // Throws std::runtime_error (no eventfd).
  MemoryPort(uint32_t id, uint32_t network, uint32_t mtu, const Options& opts);

  // Worker side.
  int RxBatch(Frame* frames, int max) override;
  // Appends what the device would get. Counts into `c` a frame that finds
  // the queue full (queue_full), one that cannot be segmented
  // (gso_unsupported) or whose checksum cannot be completed (tx_error).
  int TxBatch(Frame* const* frames, int n, Counters& c) override;
  MemoryPort* as_memory() override { return this; }

  // JavaScript side. Returns how many frames the receive queue took.
  size_t Inject(std::vector<std::vector<uint8_t>> frames);
  std::vector<std::vector<uint8_t>> Drain();

 private:
  // What the device gets for one frame: the frame itself, or its segments.
  // The reason it cannot be made (a malformed GSO or checksum-partial
  // frame), or kDropReasonCount.
  DropReason Render(const Frame& f, std::vector<std::vector<uint8_t>>& out) const;
  void Rearm();  // with mu_ held: the eventfd is readable iff rx_ is not empty

  const Options opts_;
  std::mutex mu_;
  std::deque<std::vector<uint8_t>> rx_;
  std::deque<std::vector<uint8_t>> tx_;
};

}  // namespace weft
