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

// What a tunnel header says: the network it claims (VNI or GRE key), and
// where the inner frame starts and how long it is.
struct Popped {
  uint32_t vni;
  uint32_t inner_off;
  uint32_t inner_len;
};
// Receiving: false for a header weft must not accept.
// VXLAN (RFC 7348): `p` is the UDP payload; the I flag must be set (the
// other reserved bits are ignored, as the RFC says).
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
  TunnelPort(uint32_t id, uint32_t network, uint32_t mtu, std::shared_ptr<Underlay> ul, Encap encap, uint32_t vni,
             uint32_t remote_ip, bool flood);
  int RxBatch(Frame*, int) override { return 0; }  // tunnel frames arrive on the Underlay sockets
  // Counts tunnel_tx, the GSO work (gso_segmented, gso_segments,
  // tunnel_gso_whole, gso_bursts, gso_bursts_refused) and its drops
  // (gso_unsupported, tx_error) into `c`.
  int TxBatch(Frame* const* frames, int n, Counters& c) override;
  bool is_tunnel() const override { return true; }
  bool floods() const override { return flood_; }
  uint32_t remote_ip() const { return remote_ip_; }

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
  bool SendVxlanGso(const std::vector<Segment>& segs, size_t first, size_t count, uint32_t hash,
                    std::vector<uint32_t>& refused, Counters& c);

  std::shared_ptr<Underlay> ul_;
  Encap encap_;
  uint32_t remote_ip_;
  bool flood_;
  uint8_t outer_[kVxlanOuterLen];
  size_t outer_len_;
  sockaddr_in dst_;
};

}  // namespace weft
