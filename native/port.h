// A port: one file descriptor frames come in and go out of, with the vnet
// header in front of every frame. Subclasses differ only in the syscalls
// (a service port has no fd at all: its frames go to JavaScript).
#pragma once

#include <cstdint>

#include "common.h"

namespace weft {

// What an endpoint port may send as (port security): its own MAC, its own
// IPv4 address (network order; 0 when the port has none), and whether it is
// a router (may send RAs, DHCP server messages and routed packets).
struct PortGuard {
  uint8_t mac[6];
  uint32_t ip;
  bool router;
};

class MemoryPort;
class TunnelPort;
class UplinkPort;

struct Frame {
  uint8_t* buf;  // vnet header, then the Ethernet frame
  uint32_t len;  // bytes in buf, vnet header included
  bool truncated;
  // The source's group policy id (VXLAN-GBP, 16 bits; 0: none): set from a
  // received GBP header, or by the policy stage for frames a tunnel port
  // sends to a VTEP that takes GBP.
  uint16_t gbp = 0;
};

class Port {
 public:
  Port(uint32_t id, uint32_t network, uint32_t mtu, int fd) : id_(id), network_(network), mtu_(mtu), fd_(fd) {}
  virtual ~Port();
  Port(const Port&) = delete;
  Port& operator=(const Port&) = delete;

  // Reads up to max frames into frames[i].buf (each kFrameBufLen long).
  // Returns the count; 0 when the port has nothing more to give now.
  virtual int RxBatch(Frame* frames, int max) = 0;
  // Sends n frames; returns how many went. The port counts every frame it
  // did not send into `c`, by reason (a full device queue, an error, a
  // frame it cannot carry), and any work of its own (segments, bursts).
  // The caller counts the port's tx_packets, tx_bytes and tx_dropped.
  virtual int TxBatch(Frame* const* frames, int n, Counters& c) = 0;

  // Tunnel ports send to another VTEP; what comes from one is never sent
  // into another (split horizon). Only flooding tunnels get broadcasts.
  virtual bool is_tunnel() const { return false; }
  virtual bool floods() const { return true; }
  // A tunnel port's VTEP, VNI and encapsulation (weft trace reads them).
  virtual const TunnelPort* as_tunnel() const { return nullptr; }
  // weft's own service (in-band DNS, port_service.h): exempt from group policy.
  virtual bool is_service() const { return false; }
  // A memory port's wire is JavaScript (port_memory.h, for tests).
  virtual MemoryPort* as_memory() { return nullptr; }
  // A VLAN of an uplink trunk (port_uplink.h): what comes from one is never
  // sent into another (an uplink never forwards to an uplink: no STP).
  virtual bool is_uplink() const { return false; }
  // The trunk itself: the worker reads it and switches each tagged frame as
  // its VLAN port's (uplink_rx.cc); it is never an output port.
  virtual UplinkPort* as_trunk() { return nullptr; }
  // The port is being removed for good: a device made to outlive the
  // daemon (a persistent TAP) goes with it. Others have nothing to do.
  virtual void Unpersist() {}

  uint32_t id() const { return id_; }
  uint32_t network() const { return network_; }
  uint32_t mtu() const { return mtu_; }
  int fd() const { return fd_; }
  // The largest frame without GSO: MTU plus Ethernet and one VLAN tag.
  uint32_t max_frame() const { return mtu_ + kEthHdrLen + 4; }

  // Port security: set once, before the port is published to the workers,
  // never changed after. An endpoint port is an access port: no VLAN tag.
  void set_guard(const PortGuard& g) {
    guard_ = g;
    guarded_ = true;
  }
  const PortGuard* guard() const { return guarded_ ? &guard_ : nullptr; }
  // What a guarded port may send without GSO: no room for a tag.
  uint32_t max_rx_frame() const { return guarded_ ? mtu_ + kEthHdrLen : max_frame(); }

 private:
  PortGuard guard_{};
  bool guarded_ = false;
  uint32_t id_;
  uint32_t network_;
  uint32_t mtu_;
  int fd_;
};

}  // namespace weft
