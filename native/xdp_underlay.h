// The underlay through AF_XDP: the XDP program on the underlay device
// (xdp_steer.h) hands this host's VXLAN and GRE packets to one AF_XDP
// socket per receive queue (xsk.h), read by the workers like any port; and
// packets for remote VTEPs are written onto the device as whole Ethernet
// frames, the next hop's MAC from the kernel's tables (next_hop.h), in
// batches on one socket's transmit ring. Both skip the kernel's IP stack
// and its per-packet system calls.
//
// The sockets stay open beside it (underlay.h): what the program passes
// (fragments, IP options), and packets whose next hop the kernel has not
// resolved yet, take them.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "next_hop.h"
#include "wire.h"
#include "xdp_steer.h"
#include "xsk.h"

namespace weft {

class XdpUnderlay {
 public:
  // On `ifname` (the device holding `local_ip`, network order). `vxlan` /
  // `gre`: which encapsulations are steered to weft. Throws
  // std::runtime_error with one line saying why this device cannot.
  static std::unique_ptr<XdpUnderlay> Open(const std::string& ifname, uint32_t local_ip, uint16_t vxlan_port, bool vxlan,
                                           bool gre);
  ~XdpUnderlay();
  size_t queues() const { return xsks_.size(); }
  XskSocket& socket(size_t q) { return *xsks_[q]; }
  const std::string& ifname() const { return ifname_; }
  // Whether the driver moves packets to the sockets without a copy.
  bool zero_copy() const { return xsks_[0]->zero_copy(); }
  // Whether packets of an encapsulation take this path (both ways): the
  // ones the program steers.
  bool Carries(Encap e) const { return e == Encap::kVxlan ? vxlan_ : gre_; }

  // Sends the first packets of `msgs` (each an outer IPv4 packet as
  // iovecs, total length, id and checksum left for the sender) toward
  // `remote` as frames on the device. Returns how many went: the rest
  // (no resolved next hop, no free chunk, too long) take the sockets.
  size_t Send(uint32_t remote, mmsghdr* msgs, size_t n);

 private:
  XdpUnderlay(const std::string& ifname, int ifindex) : ifname_(ifname), hops_(ifindex) {}
  std::string ifname_;
  bool vxlan_ = false, gre_ = false;
  uint8_t mac_[6] = {};
  std::mutex tx_mu_;  // any worker may send; one transmit ring
  uint16_t ip_id_ = 0;
  NextHops hops_;
  // Declared before the program: destroyed after it, so the program is
  // off the device before its sockets go.
  std::vector<std::unique_ptr<XskSocket>> xsks_;
  std::unique_ptr<XdpSteer> steer_;
};

}  // namespace weft
