// The underlay: one per daemon, owning the tunnel sockets. A UDP socket on
// the VXLAN port and a raw GRE socket receive; one IPPROTO_RAW socket sends
// both encapsulations (each packet carries an outer header built once per
// destination, tunnel.h); a few UDP sockets with UDP_SEGMENT send VXLAN
// bursts; and, optionally, a TunnelEgress TAP takes whole super-frames and
// an XdpUnderlay reads and writes the device itself through AF_XDP.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tunnel_egress.h"
#include "xdp_underlay.h"
#include "wire.h"

namespace weft {

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
  // The AF_XDP path, once attached (null before): workers already running
  // read it, so it is published once and never replaced.
  XdpUnderlay* xdp() const { return xdp_.load(std::memory_order_acquire); }
  void AttachXdp(std::unique_ptr<XdpUnderlay> x) {
    xdp_owned_ = std::move(x);
    xdp_.store(xdp_owned_.get(), std::memory_order_release);
  }
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
  std::unique_ptr<XdpUnderlay> xdp_owned_;
  std::atomic<XdpUnderlay*> xdp_{nullptr};
  std::vector<int> gso_fds_;
  std::vector<uint16_t> gso_ports_;
  uint32_t local_ip_;
  uint16_t vxlan_port_;
};

}  // namespace weft
