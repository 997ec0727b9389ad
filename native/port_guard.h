// Port security: what an endpoint port may send. A container is an access
// port with one MAC and one IPv4 address (from its record in the store), so
// every frame it sends must come from them; anything else would let it take
// a neighbour's traffic (a moved MAC, a poisoned ARP cache) or act as the
// network's router or DHCP server. A few compares on headers the worker reads
// anyway; no table lookup.
#pragma once

#include <cstdint>
#include <cstring>

#include "common.h"
#include "headers.h"
#include "port.h"

namespace weft {

namespace guard_detail {

constexpr uint16_t kDhcpServer = 67, kDhcpClient = 68, kDhcpV6Server = 547;
constexpr uint8_t kRouterAdvert = 134, kRedirect = 137;

inline DropReason IPv4(const PortGuard& g, const uint8_t* p, uint32_t len) {
  if (len < sizeof(Ipv4Hdr)) return runt;
  const auto* ip = reinterpret_cast<const Ipv4Hdr*>(p);
  uint32_t ihl = ip->ihl();
  if (ip->version() != 4 || ihl < sizeof(Ipv4Hdr)) return spoof;
  if (len < ihl) return runt;
  uint32_t src;
  std::memcpy(&src, ip->saddr, 4);
  // The UDP header, when this is UDP and not a later fragment.
  const UdpHdr* udp = nullptr;
  if (ip->proto == kIpProtoUdp && (ip->frag.get() & 0x1fff) == 0) {
    if (len < ihl + sizeof(UdpHdr)) return runt;
    udp = reinterpret_cast<const UdpHdr*>(p + ihl);
  }
  // A DHCP client has no address yet: 0.0.0.0 is its own only for
  // DISCOVER/REQUEST (RFC 2131 4.1).
  if (src == 0) {
    return udp && udp->sport.get() == kDhcpClient && udp->dport.get() == kDhcpServer ? kDropReasonCount : spoof;
  }
  if (g.router) return kDropReasonCount;
  if (g.ip != 0 && src != g.ip) return spoof;
  if (udp && udp->sport.get() == kDhcpServer) return dhcp_guard;
  return kDropReasonCount;
}

inline DropReason Arp(const PortGuard& g, const uint8_t* p, uint32_t len) {
  if (len < sizeof(ArpHdr)) return runt;
  const auto* a = reinterpret_cast<const ArpHdr*>(p);
  // Ethernet/IPv4 only: another hardware or protocol type is not ours to check.
  if (a->htype.get() != kArpEthernet || a->ptype.get() != kEthIPv4 || a->hlen != 6 || a->plen != 4) return spoof;
  if (std::memcmp(a->sha, g.mac, 6) != 0) return spoof;
  uint32_t spa;
  std::memcpy(&spa, a->spa, 4);
  // Sender 0.0.0.0: an RFC 5227 probe (a request), which claims nothing.
  if (spa == 0 && a->op.get() == kArpRequest) return kDropReasonCount;
  if (g.ip != 0 && spa != g.ip) return spoof;
  return kDropReasonCount;
}

// Endpoints have no IPv6 address: only link-local (fe80::/10) and the
// unspecified address (DAD, MLD) are theirs. Router advertisements and
// redirects (RA guard, RFC 6105) and DHCPv6 server messages are a router's;
// the upper-layer header is found past extension headers, and a first
// fragment that hides it is refused (RFC 7113).
inline DropReason IPv6(const PortGuard& g, const uint8_t* ip, uint32_t len) {
  if (len < sizeof(Ipv6Hdr)) return runt;
  if (reinterpret_cast<const Ipv6Hdr*>(ip)->version() != 6) return spoof;
  if (g.router) return kDropReasonCount;
  const uint8_t* src = ip + 8;
  bool link_local = src[0] == 0xfe && (src[1] & 0xc0) == 0x80;
  if (!link_local) {
    static const uint8_t unspecified[16] = {0};
    if (std::memcmp(src, unspecified, 16) != 0) return spoof;
  }
  uint8_t next = ip[6];
  uint32_t off = 40;
  for (int hops = 0; hops < 8; hops++) {
    if (next == 0 || next == 43 || next == 60) {  // hop-by-hop, routing, destination options
      if (len < off + 2) return ra_guard;
      next = ip[off];
      off += (ip[off + 1] + 1u) * 8;
    } else if (next == 44) {  // fragment
      if (len < off + 8) return ra_guard;
      if ((Get16(ip + off + 2) & 0xfff8) != 0) return kDropReasonCount;  // a later fragment: no upper header
      next = ip[off];
      off += 8;
    } else {
      break;
    }
  }
  if (next == kIpProtoIcmpV6) {
    if (len < off + 1) return ra_guard;
    return ip[off] == kRouterAdvert || ip[off] == kRedirect ? ra_guard : kDropReasonCount;
  }
  if (next == kIpProtoUdp) {
    if (len < off + 2) return ra_guard;
    return Get16(ip + off) == kDhcpV6Server ? dhcp_guard : kDropReasonCount;
  }
  if (next == 0 || next == 43 || next == 60 || next == 44) return ra_guard;  // more headers than we follow
  return kDropReasonCount;
}

}  // namespace guard_detail

// Whether a frame of `len` bytes (at least an Ethernet header) from a port
// with guard `g` may pass: kDropReasonCount if so, else why not.
inline DropReason CheckGuard(const PortGuard& g, const uint8_t* eth, uint32_t len) {
  if (std::memcmp(reinterpret_cast<const EthHdr*>(eth)->src, g.mac, 6) != 0) return spoof;
  const uint8_t* l3 = eth + kEthHdrLen;
  uint32_t l3len = len - kEthHdrLen;
  switch (reinterpret_cast<const EthHdr*>(eth)->type.get()) {
    case kEthIPv4:
      return guard_detail::IPv4(g, l3, l3len);
    case kEthArp:
      return guard_detail::Arp(g, l3, l3len);
    case kEthIPv6:
      return guard_detail::IPv6(g, l3, l3len);
    case kEthVlan:     // 802.1Q
    case kEthQinQ:     // 802.1ad
    case kEthQinQOld:  // old QinQ
      return vlan_tagged;
    default:
      return spoof;  // an access port for IP: no other protocol to check the source of
  }
}

}  // namespace weft
