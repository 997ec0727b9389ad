// The checks every frame from a port passes before it is learned or
// switched (size, vnet header, source MAC, port security, an uplink's claim
// to a local address). Pure functions of the frame and the tables: the
// worker (l2_switch.cc) counts what they refuse, a trace (trace.cc) reports it.
#pragma once

#include <cstdint>
#include <cstring>

#include "common.h"
#include "headers.h"
#include "port.h"
#include "port_guard.h"
#include "tables.h"

namespace weft {

// virtio_net_hdr sanity: a header the kernel would reject on the way out must
// not reach an output port.
inline bool ValidVnetHdr(const VnetHdr& h, uint32_t frame_len) {
  uint8_t gso = h.gso_type & ~kGsoEcn;
  // The ECN bit alone (no GSO type) is refused by the kernel's virtio_net_hdr_to_skb too.
  if (h.gso_type != 0 && gso == 0) return false;
  if (gso != 0 && gso != kGsoTcpV4 && gso != kGsoUdp && gso != kGsoTcpV6 && gso != kGsoUdpL4) return false;
  if (gso != 0 && h.gso_size == 0) return false;
  if ((h.flags & kVnetNeedsCsum) && static_cast<uint32_t>(h.csum_start) + h.csum_offset + 2 > frame_len) return false;
  return true;
}

// From an uplink, an IPv4 source that is one of this host's endpoints'
// addresses is a lie (a machine on the VLAN taking a container's address):
// that endpoint sits behind a port of this host.
inline bool ClaimsLocalIp(const Tables& t, uint32_t net, const uint8_t* eth, uint32_t elen) {
  if (t.local_ip.empty() || elen < kEthHdrLen + 20 || Get16(eth + 12) != kEthIPv4) return false;
  uint32_t src;
  std::memcpy(&src, eth + kEthHdrLen + 12, 4);
  return t.local_ip.count(static_cast<uint64_t>(net) << 32 | src) != 0;
}

// Why a frame from `in` is refused before anything else looks at it, or
// kDropReasonCount when it may go on. `guard`: the port's guard when port
// security is on.
inline DropReason IngressCheck(const Tables& t, const Port& in, const PortGuard* guard, const Frame& f) {
  const uint32_t max_frame = guard != nullptr ? in.max_rx_frame() : in.max_frame();
  uint32_t elen = f.len > kVnetHdrLen ? f.len - kVnetHdrLen : 0;
  const auto* vh = reinterpret_cast<const VnetHdr*>(f.buf);
  if (f.truncated) return oversized;
  if (elen < kEthHdrLen) return runt;
  if (!ValidVnetHdr(*vh, elen)) return bad_vnet_hdr;
  if ((vh->gso_type & ~kGsoEcn) == 0 && elen > max_frame) return oversized;
  const uint8_t* eth = f.buf + kVnetHdrLen;
  const uint8_t* dst = eth;
  const uint8_t* src = eth + 6;
  if (IsMulticast(src) || IsZero(src)) return bad_src_mac;
  if (IsMulticast(dst) && IsLinkLocal(dst)) return link_local;  // from any port, a bridge never forwards these
  if (guard != nullptr) return CheckGuard(*guard, eth, elen);
  if (in.is_uplink() && ClaimsLocalIp(t, in.network(), eth, elen)) return uplink_spoof;
  return kDropReasonCount;
}

// Proxy ARP (proxy_arp.cc): the MAC an ARP request from `in` is answered
// with, when the overlay fdb knows the address it asks for.
bool ProxyArpAnswer(const Tables& t, const Port& in, const uint8_t* eth, uint32_t elen, uint8_t mac[6]);

// Whether a flood from `in` leaves through `out`. Split horizon: a frame
// from a tunnel goes to local ports only (a full mesh of VTEPs has no
// loops), a non-flooding tunnel gets none; and nothing goes from an uplink
// into another (`uplink_loop`: the physical networks have their own paths
// between them, and weft runs no STP).
inline bool FloodsTo(const Port& in, const Port& out, bool* uplink_loop) {
  *uplink_loop = false;
  if (out.id() == in.id()) return false;
  if (out.is_tunnel() && (in.is_tunnel() || !out.floods())) return false;
  if (in.is_uplink() && out.is_uplink()) return !(*uplink_loop = true);
  return true;
}

// Why a frame whose destination the fast path knows (entry `e`) may not go
// to that port, or kDropReasonCount when it may.
inline DropReason ForwardCheck(const Tables& t, const Port& in, const FibEntry& e) {
  if (e.port == in.id()) return same_port;  // the destination sits behind the port it came from
  const Port* out = t.port(e.port);
  if (out == nullptr || out->network() != in.network()) return no_port;
  if (in.is_tunnel() && out->is_tunnel()) return split_horizon;  // never from one tunnel into another
  if (in.is_uplink() && out->is_uplink()) return uplink_loop;    // never from one uplink into another: no STP, no loops
  return kDropReasonCount;
}

}  // namespace weft
