// A faster way out for VXLAN: a TAP device in the host's namespace that a
// container's whole TCP super-frame is written into with its VXLAN, UDP and
// IP headers in front and a virtio_net_hdr that says "UDP tunnel GSO"
// (Linux 6.17+, TUN_F_UDP_TUNNEL_GSO). The host routes it to the remote
// VTEP as one packet, like the kernel's own vxlan device does: no
// segmentation or checksum in weft, and a kernel far end decapsulates it
// once instead of once per segment. NICs segment it in hardware, or the
// kernel does in software. The host must forward from the device (the
// daemon sets that up); weft still sends everything else on its sockets.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common.h"
#include "headers.h"

namespace weft {

constexpr size_t kTunnelOuterLen = kVxlanOuterLen;  // IPv4 + UDP + VXLAN

class TunnelEgress {
 public:
  // Throws std::runtime_error when the device cannot be made or the kernel
  // does not take UDP tunnel GSO frames on a TAP.
  static std::unique_ptr<TunnelEgress> Create(const std::string& ifname);
  ~TunnelEgress();
  // Sends one GSO frame (a TCP super-frame with a partial checksum, as a
  // TAP port gave it) behind `outer` (IPv4 + UDP + VXLAN; the UDP source
  // port, lengths and checksums are filled in here). False if this frame
  // cannot go this way (not TCP GSO, too long for one IPv4 packet, the
  // write failed): the caller sends it the usual way.
  bool Send(const uint8_t* outer, uint16_t source_port, const VnetHdr& vh, const uint8_t* frame, uint32_t len);

 private:
  TunnelEgress(int fd, const uint8_t* mac);
  int fd_;
  uint8_t mac_[6];
};

}  // namespace weft
