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

// Receiving goes through a TPACKET_V2 ring where the kernel has one with
// vnet headers: the kernel copies each frame into shared memory as it
// arrives (in the sender's context), and the worker takes them without a
// system call or an skb to free per frame. Ring slots hold a frame of the
// port's MTU; a larger one (a GSO super-frame) is also queued whole on the
// socket (PACKET_COPY_THRESH) and read from there, in the ring's order.
// Sending stays sendmmsg: a transmit ring's slot is handed back before
// the receiving stack is done with its pages (README, Offloads).
class PacketPort : public Port {
 public:
  // Binds a packet socket to `ifname` in the calling thread's network
  // namespace. Throws std::runtime_error.
  static std::unique_ptr<PacketPort> Create(uint32_t id, uint32_t network, uint32_t mtu,
                                            const std::string& ifname);
  using Port::Port;
  ~PacketPort() override;
  int RxBatch(Frame* frames, int max) override;
  int TxBatch(Frame* const* frames, int n, Counters& c) override;

 private:
  // Maps a receive ring on the socket; where the kernel refuses, leaves
  // the socket as it was (ring_ stays null).
  void MapRing();
  int RxRing(Frame* frames, int max);
  int RxSocket(Frame* frames, int max);
  uint8_t* ring_ = nullptr;  // null: no ring, recvmmsg
  uint32_t head_ = 0;         // the next slot to look at
};

}  // namespace weft
