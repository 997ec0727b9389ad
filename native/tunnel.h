// Tunnels to other VTEPs. One Underlay per daemon owns the sockets: a UDP
// socket on the VXLAN port and a raw GRE socket to receive, and one
// IPPROTO_RAW socket to send both, so each packet carries an outer header
// built once per destination (only lengths and the VXLAN source port vary).
// A TunnelPort is one remote VTEP on one network: the switch forwards and
// floods to it like to any port.
#pragma once

#include <netinet/in.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gso.h"
#include "port.h"
#include "tunnel_egress.h"

namespace weft {

enum class Encap : uint8_t { kVxlan = 1, kGre = 2 };

constexpr size_t kVxlanOuterLen = 20 + 8 + 8;  // IPv4 + UDP + VXLAN
constexpr size_t kGreOuterLen = 20 + 8;        // IPv4 + GRE with key

class Underlay {
 public:
  // local_ip in network byte order. With `egress_ifname`, VXLAN GSO frames
  // leave whole through a TunnelEgress of that name. Throws std::runtime_error.
  static std::shared_ptr<Underlay> Create(uint32_t local_ip, uint16_t vxlan_port, const std::string& egress_ifname = "");
  ~Underlay();
  int vxlan_fd() const { return vxlan_fd_; }
  int gre_fd() const { return gre_fd_; }
  int raw_fd() const { return raw_fd_; }
  uint32_t local_ip() const { return local_ip_; }
  TunnelEgress* egress() const { return egress_.get(); }
  uint16_t vxlan_port() const { return vxlan_port_; }
  // UDP sockets for VXLAN with UDP_SEGMENT: a whole GSO frame leaves in one
  // sendmsg. Each is bound to its own source port; a flow hashes to one.
  size_t gso_sockets() const { return gso_fds_.size(); }
  int gso_fd(uint32_t flow_hash) const { return gso_fds_[flow_hash % gso_fds_.size()]; }
  // The VXLAN source port of a flow (RFC 7348), the same whichever way its
  // packets leave (one by one, or as a GSO burst), so an ECMP underlay never
  // splits and reorders a flow: that of the flow's socket when there are
  // sockets, else from the hash, in the ephemeral range.
  uint16_t SourcePort(uint32_t flow_hash) const {
    if (!gso_ports_.empty()) return gso_ports_[flow_hash % gso_ports_.size()];
    return static_cast<uint16_t>(49152 + flow_hash % 16384);
  }

 private:
  Underlay(int vxlan_fd, int gre_fd, int raw_fd, uint32_t local_ip, uint16_t vxlan_port)
      : vxlan_fd_(vxlan_fd), gre_fd_(gre_fd), raw_fd_(raw_fd), local_ip_(local_ip), vxlan_port_(vxlan_port) {}
  int vxlan_fd_, gre_fd_, raw_fd_;
  std::unique_ptr<TunnelEgress> egress_;  // set once, before any worker sees this
  std::vector<int> gso_fds_;
  std::vector<uint16_t> gso_ports_;
  uint32_t local_ip_;
  uint16_t vxlan_port_;
};

class TunnelPort : public Port {
 public:
  TunnelPort(uint32_t id, uint32_t network, uint32_t mtu, std::shared_ptr<Underlay> ul, Encap encap, uint32_t vni,
             uint32_t remote_ip, bool flood);
  int RxBatch(Frame*, int) override { return 0; }  // tunnel frames arrive on the Underlay sockets
  int TxBatch(Frame* const* frames, int n, int* errors) override;
  bool is_tunnel() const override { return true; }
  bool floods() const override { return flood_; }
  uint32_t remote_ip() const { return remote_ip_; }
  // Sends one GSO frame's segments as VXLAN through a UDP_SEGMENT socket,
  // in bursts the kernel takes. False if that is not possible here (the
  // caller sends them one by one). A burst the kernel refuses anyway is
  // not retried: its segments' indices go to `refused`, for the caller to
  // send one by one. Nothing is remembered: the next frame tries again.
  bool SendVxlanGso(const std::vector<Segment>& segs, size_t first, size_t count, std::vector<uint32_t>& refused);
  // Segments, completed checksums and frames refused, for the counters.
  struct TxStats {
    // whole: GSO frames that left through the TunnelEgress uncut.
    uint64_t segments = 0, gso_frames = 0, unsupported = 0, whole = 0;
    // UDP_SEGMENT sends the kernel took, and those it refused (their
    // segments then left one by one).
    uint64_t bursts = 0, bursts_refused = 0;
  };
  static thread_local TxStats tx_stats;

 private:
  std::shared_ptr<Underlay> ul_;
  Encap encap_;
  uint32_t remote_ip_;
  bool flood_;
  uint8_t outer_[kVxlanOuterLen];
  size_t outer_len_;
  sockaddr_in dst_;
};

// Receiving: where a tunnel packet's inner frame starts, how long it is,
// and which network (VNI or GRE key) it claims. False for a header weft must not accept.
// VXLAN (RFC 7348): `p` is the UDP payload; the I flag must be set (the
// other reserved bits are ignored, as the RFC says).
bool ParseVxlan(const uint8_t* p, uint32_t len, uint32_t* vni, uint32_t* inner_off, uint32_t* inner_len);
// GRE (RFC 2784, 2890): `p` is the IPv4 packet a raw socket got. Version 0,
// transparent Ethernet bridging, a key; the routing bit and the reserved
// bits (all of 1-12 but K and S) clear, as Open vSwitch's userspace
// datapath requires too; with the C bit, a checksum over the GRE header and
// payload that adds up.
bool ParseGre(const uint8_t* p, uint32_t len, uint32_t* key, uint32_t* inner_off, uint32_t* inner_len);

// How many datagrams of `datagram_len` bytes one UDP_SEGMENT send may carry:
// within the kernel's UDP_MAX_SEGMENTS and 64 KB of UDP payload.
size_t BurstSegments(size_t datagram_len);

// A hash of the inner flow (MACs, IP addresses, L4 ports) for the source port.
uint32_t FlowHash(const uint8_t* frame, uint32_t len);

}  // namespace weft
