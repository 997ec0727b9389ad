// AF_PACKET ports: an existing interface (the host end of a veth, a NIC)
// read and written through a packet socket with PACKET_VNET_HDR.
#pragma once

#include <memory>
#include <string>

#include "port.h"

namespace weft {

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
