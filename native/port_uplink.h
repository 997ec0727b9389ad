// Uplink trunks and their VLANs (issue 17). A trunk is an existing interface
// (a NIC, the host end of a veth) read and written through one AF_PACKET
// socket; it belongs to no network and is never switched to. Each VLAN of
// it that weft owns is a VlanPort on some network: frames switched to the
// VlanPort leave through the trunk's socket with an 802.1Q tag pushed after
// the MACs, and tagged frames of that VID read off the trunk are switched as
// if the VlanPort had received them (the worker's demux, uplink_rx.cc).
//
// The kernel strips a received tag before any tap sees it and hands it over
// as PACKET_AUXDATA; an in-band tag (a kernel that did not strip it) is
// popped here. Untagged frames are the host's: AF_PACKET is a tap, so the
// host stack has its own copy and weft only counts them.
#pragma once

#include <memory>
#include <string>

#include "headers.h"
#include "port.h"

namespace weft {

// 802.1Q (TPID kEthVlan, headers.h): the tag's length, the largest VID.
constexpr uint32_t kVlanTagLen = 4;
constexpr uint32_t kMaxVid = 4094;

// An in-band 802.1Q tag after the MACs of `f` (vnet header first): popped
// (the rest of the frame moves up 4 bytes), with the vnet header's
// csum_start and hdr_len moved to match; returns its VID. kUntagged (0) for
// a frame with no such tag, kBadTag (-1) for one cut short.
int32_t PopVlanTag(Frame& f);

class UplinkPort : public Port {
 public:
  // What RxTagged says of a frame instead of a VID (1..4095).
  static constexpr int32_t kUntagged = 0;  // no tag, or a priority tag (VID 0): the host's
  static constexpr int32_t kBadTag = -1;   // an in-band tag cut short
  static constexpr int32_t kForeignTag = 0x10000;  // a tag of another TPID (802.1ad): never ours

  // Binds a packet socket to `ifname` in the calling thread's network
  // namespace. Throws std::runtime_error ("no interface 'X'", ...).
  static std::unique_ptr<UplinkPort> Create(uint32_t id, const std::string& ifname);
  UplinkPort(uint32_t id, uint32_t mtu, int fd, unsigned ifindex) : Port(id, 0, mtu, fd), ifindex_(ifindex) {}
  // The interface it is bound to: one trunk per interface, or every frame
  // would be read and switched twice.
  unsigned ifindex() const { return ifindex_; }

  // Read with RxTagged by the worker's demux; a trunk is no output port.
  int RxBatch(Frame*, int) override { return 0; }
  int TxBatch(Frame* const* frames, int n, Counters& c) override;
  UplinkPort* as_trunk() override { return this; }

  // Reads up to max frames like Port::RxBatch; vids[i] is frame i's VID
  // (its tag gone from the frame) or one of the codes above.
  int RxTagged(Frame* frames, int max, int32_t* vids);
  // Sends n frames tagged with `vid`, the frames themselves untouched
  // (scatter-gather: a flood shares one frame between ports). A frame
  // without GSO longer than `max_len` (Ethernet, untagged) is dropped
  // (oversized). Counts uplink_tx and what it did not send, by reason.
  int TxTagged(Frame* const* frames, int n, uint16_t vid, uint32_t max_len, Counters& c);

 private:
  // A GSO frame the device refused, cut into tagged segments (checksums
  // complete) and sent; false if it cannot be cut or the segments do not go.
  bool TxSegmented(const Frame& f, const uint8_t* tag, Counters& c);

  unsigned ifindex_;
};

class VlanPort : public Port {
 public:
  VlanPort(uint32_t id, uint32_t network, uint32_t mtu, std::shared_ptr<UplinkPort> trunk, uint16_t vid)
      : Port(id, network, mtu, -1), trunk_(std::move(trunk)), vid_(vid) {}
  int RxBatch(Frame*, int) override { return 0; }  // its frames come off the trunk
  int TxBatch(Frame* const* frames, int n, Counters& c) override {
    return trunk_->TxTagged(frames, n, vid_, mtu() + kEthHdrLen, c);
  }
  bool is_uplink() const override { return true; }
  uint32_t trunk_id() const { return trunk_->id(); }
  uint16_t vid() const { return vid_; }
  // (trunk id << 32 | VID): its key in Tables::vlan_port.
  uint64_t key() const { return Key(trunk_->id(), vid_); }
  static uint64_t Key(uint32_t trunk, uint32_t vid) { return static_cast<uint64_t>(trunk) << 32 | vid; }

 private:
  std::shared_ptr<UplinkPort> trunk_;  // kept open while a snapshot holds this port
  uint16_t vid_;
};

}  // namespace weft
