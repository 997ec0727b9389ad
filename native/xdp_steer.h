// The XDP program weft puts on the underlay device when it reads the
// underlay through AF_XDP (xsk.h): it hands this host's tunnel packets
// (IPv4 without options or fragments, to the VTEP address, UDP to the VXLAN
// port or GRE) to the AF_XDP socket of the queue they arrived on, and
// passes everything else to the kernel untouched: the host's own traffic,
// ARP, fragments, packets for other addresses.
//
// The program is a dozen instructions written here as bytecode, so building
// weft needs neither clang nor libbpf. It is attached through a BPF link:
// the link lives as long as its file descriptor, so when the daemon dies,
// even by kill -9, the kernel takes the program off the device. No stale
// program can be left behind to steer packets to a socket nobody reads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace weft {

class XdpSteer {
 public:
  // Loads the program for `local_ip` (network order) and `vxlan_port`
  // (host order), with a map of `queues` sockets, and attaches it to
  // `ifindex` in the driver's (native) mode. `vxlan` / `gre`: which
  // encapsulations it steers. Throws std::runtime_error with one line
  // (the kernel's reason, or the verifier's first complaint).
  static std::unique_ptr<XdpSteer> Attach(int ifindex, uint32_t local_ip, uint16_t vxlan_port, bool vxlan, bool gre,
                                          uint32_t queues);
  ~XdpSteer();
  // Puts the AF_XDP socket `xsk_fd` behind receive queue `queue`.
  void SetSocket(uint32_t queue, int xsk_fd);

 private:
  XdpSteer(int map_fd, int prog_fd) : map_fd_(map_fd), prog_fd_(prog_fd) {}
  int map_fd_;
  int prog_fd_;
  int link_fd_ = -1;
};

}  // namespace weft
