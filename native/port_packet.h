// AF_PACKET ports: an existing interface (the host end of a veth, a NIC)
// read and written through a packet socket with PACKET_VNET_HDR.
#pragma once

#include <memory>
#include <string>

#include "port.h"

namespace weft {

// A packet socket bound to `ifname` (in the calling thread's network
// namespace) with the vnet header on every frame, promiscuous, bypassing the
// qdisc and blind to what the host itself sends there; with `auxdata`, each
// frame's VLAN tag (stripped by the kernel before taps) comes as a
// PACKET_AUXDATA message. Throws std::runtime_error ("no interface 'X'", ...).
int OpenPacketSocket(const std::string& ifname, bool auxdata);

class PacketPort : public Port {
 public:
  // Binds a packet socket to `ifname` in the calling thread's network
  // namespace. Throws std::runtime_error.
  static std::unique_ptr<PacketPort> Create(uint32_t id, uint32_t network, uint32_t mtu,
                                            const std::string& ifname);
  using Port::Port;
  int RxBatch(Frame* frames, int max) override;
  int TxBatch(Frame* const* frames, int n, Counters& c) override;
};

}  // namespace weft
