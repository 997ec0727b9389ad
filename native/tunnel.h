// Tunnel ports and the tunnel header formats. A TunnelPort is one remote
// VTEP on one network: the switch forwards and floods to it like to any
// port. Its outer header (IPv4 + UDP + VXLAN, or IPv4 + GRE with key) is
// built once, when the port is made (PushOuter); only lengths and the VXLAN
// source port vary per packet. Receiving pops those headers (PopVxlan,
// PopGre) beside the push, so both directions of each format live here.
// The sockets belong to the Underlay (underlay.h).
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "gso.h"
#include "headers.h"
#include "port.h"
#include "underlay.h"

namespace weft {

// Writes the outer header toward `remote_ip` (both addresses in network
// order) into `out` (kVxlanOuterLen bytes); returns its length. The UDP
// source port and length are left 0: they are set per packet.
size_t PushOuter(uint8_t* out, Encap encap, uint32_t local_ip, uint32_t remote_ip, uint16_t vxlan_port, uint32_t vni);
// Marks a VXLAN header (as PushOuter wrote it) with a Group Policy ID:
// the G flag and the id, or neither when `gbp` is 0.
void SetVxlanGbp(uint8_t* vxlan_hdr, uint16_t gbp);

// What a tunnel header says: the network it claims (VNI or GRE key), and
// where the inner frame starts and how long it is.
struct Popped {
  uint32_t vni;
  uint32_t inner_off;
  uint32_t inner_len;
  // VXLAN-GBP: the source's Group Policy ID when the G flag is set (0
  // otherwise, and for GRE).
  uint16_t gbp = 0;
  // VXLAN: refused for a reserved flag bit only; `vni` is still read, so
  // the receiver can tell a known VTEP's malformed header (vxlan_bad_flags)
  // from an unknown VTEP's (unknown_vtep).
  bool bad_flags = false;
};
// Receiving: false for a header weft must not accept.
// VXLAN (RFC 7348 with the Group Policy extension): `p` is the UDP payload;
// the I flag must be set, and no flag bit but I, G, D and A: unlike RFC
// 7348's "ignore", as the Linux vxlan device does, so that an extension
// weft does not know (GPE's next protocol, say) is never misread as
// Ethernet. The other reserved fields (bytes 2-3 without G, byte 7) are
// ignored.
bool PopVxlan(const uint8_t* p, uint32_t len, Popped* out);
// GRE (RFC 2784, 2890): `p` is the IPv4 packet a raw socket got. Version 0,
// transparent Ethernet bridging, a key; the routing bit and the reserved
// bits (all of 1-12 but K and S) clear, as Open vSwitch's userspace
// datapath requires too; with the C bit, a checksum over the GRE header and
// payload that adds up.
bool PopGre(const uint8_t* p, uint32_t len, Popped* out);

// How many datagrams of `datagram_len` bytes one UDP_SEGMENT send may carry:
// within the kernel's UDP_MAX_SEGMENTS and 64 KB of UDP payload.
size_t BurstSegments(size_t datagram_len);

// A hash of the inner flow (MACs, IP addresses, L4 ports) for the source
// port. `p` is ParseL3L4(frame, len); the segments cut from a frame hash
// like the frame.
uint32_t FlowHash(const uint8_t* frame, uint32_t len, const ParsedFrame& p);

class TunnelPort : public Port {
 public:
  // `gbp`: the remote VTEP takes VXLAN-GBP, so frames with a group id
  // (Frame::gbp) leave with the G flag and that id. Ignored for GRE.
  TunnelPort(uint32_t id, uint32_t network, uint32_t mtu, std::shared_ptr<Underlay> ul, Encap encap, uint32_t vni,
             uint32_t remote_ip, bool flood, bool gbp = false);
  int RxBatch(Frame*, int) override { return 0; }  // tunnel frames arrive on the Underlay sockets
  // Counts tunnel_tx, the GSO work (gso_segmented, gso_segments,
  // tunnel_gso_whole, gso_bursts, gso_bursts_refused) and its drops
  // (gso_unsupported, tx_error) into `c`.
  int TxBatch(Frame* const* frames, int n, Counters& c) override;
  bool is_tunnel() const override { return true; }
  const TunnelPort* as_tunnel() const override { return this; }
  bool floods() const override { return flood_; }
  uint32_t remote_ip() const { return remote_ip_; }
  bool gbp() const { return gbp_; }
  Encap encap() const { return encap_; }
  uint32_t vni() const { return vni_; }  // or GRE key

 private:
  // Per-thread scratch of one TxBatch (tunnel.cc): a flood from one worker
  // and a unicast from another may send through one port at once.
  struct Scratch;
  // Turns frames into pieces to send (whole frames, or segments cut from
  // them), completing checksums and sending what can leave another way;
  // marks frames that cannot go at all.
  void Plan(Frame* const* frames, int n, Scratch& s, Counters& c);
  // Sends every piece through the raw socket; marks frames that lost one.
  void SendPieces(Scratch& s);
  // Sends one GSO frame's segments as VXLAN through a UDP_SEGMENT socket,
  // in bursts the kernel takes. False if that is not possible here (the
  // caller sends them one by one). A burst the kernel refuses anyway is
  // not retried: its segments' indices go to `refused`, for the caller to
  // send one by one. Nothing is remembered: the next frame tries again.
  bool SendVxlanGso(const std::vector<Segment>& segs, size_t first, size_t count, uint32_t hash, uint16_t gbp,
                    std::vector<uint32_t>& refused, Counters& c);
  // An underlay capture's copy of a UDP_SEGMENT burst (tunnel.cc).
  void CaptureBurst(const std::vector<iovec>& iov, uint16_t sport) const;
  // ... and of a super-frame sent whole through the egress TAP.
  void CaptureWhole(const uint8_t* outer, uint16_t sport, const uint8_t* eth, uint32_t len) const;
  // The group id a frame leaves with: its own toward a VTEP that takes
  // GBP, 0 (no G flag) otherwise.
  uint16_t TagOf(const Frame& f) const { return gbp_ ? f.gbp : 0; }

  std::shared_ptr<Underlay> ul_;
  Encap encap_;
  uint32_t vni_;
  uint32_t remote_ip_;
  bool flood_;
  bool gbp_;
  uint8_t outer_[kVxlanOuterLen];
  size_t outer_len_;
  sockaddr_in dst_;
};

}  // namespace weft
