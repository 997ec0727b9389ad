// Packet headers as the wire lays them out, and the one parse of a frame's
// L3/L4 offsets every packet function shares (ParsedFrame).
//
// Every multi-byte field is a Be16/Be32: big-endian bytes with alignment 1,
// so a header can be overlaid on any byte of a receive buffer and its size
// is checked by the compiler below, not by eye. Offsets of fields come from
// offsetof on these structs instead of literals.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common.h"

namespace weft {

struct Be16 {
  uint8_t b[2];
  uint16_t get() const { return Get16(b); }
  void set(uint16_t v) { Put16(b, v); }
};
struct Be32 {
  uint8_t b[4];
  uint32_t get() const { return Get32(b); }
  void set(uint32_t v) { Put32(b, v); }
};

constexpr uint16_t kEthIPv4 = 0x0800, kEthArp = 0x0806, kEthIPv6 = 0x86dd;
constexpr uint16_t kEthVlan = 0x8100, kEthQinQ = 0x88a8, kEthQinQOld = 0x9100;
constexpr uint16_t kEthTransparentBridging = 0x6558;  // GRE's protocol for Ethernet frames
constexpr uint8_t kIpProtoTcp = 6, kIpProtoUdp = 17, kIpProtoGre = 47, kIpProtoIcmpV6 = 58;

struct EthHdr {
  uint8_t dst[6];
  uint8_t src[6];
  Be16 type;
};
static_assert(sizeof(EthHdr) == kEthHdrLen, "Ethernet header is 14 bytes");

struct VlanTag {  // 802.1Q, after the source MAC: TPID is EthHdr::type
  Be16 tci;
  Be16 type;
};
static_assert(sizeof(VlanTag) == 4, "802.1Q tag is 4 bytes");

struct Ipv4Hdr {
  uint8_t ver_ihl;
  uint8_t tos;
  Be16 tot_len;
  Be16 id;
  Be16 frag;  // flags and fragment offset
  uint8_t ttl;
  uint8_t proto;
  Be16 csum;
  uint8_t saddr[4];
  uint8_t daddr[4];
  uint32_t ihl() const { return (ver_ihl & 0x0f) * 4u; }
  uint8_t version() const { return ver_ihl >> 4; }
  // More fragments, or a fragment offset: any fragment but a whole packet.
  bool fragment() const { return (frag.get() & 0x3fff) != 0; }
};
static_assert(sizeof(Ipv4Hdr) == 20, "IPv4 header is 20 bytes without options");
constexpr uint8_t kIpv4NoOptions = 0x45;  // version 4, 20-byte header

struct Ipv6Hdr {
  Be32 ver_tc_flow;
  Be16 payload_len;
  uint8_t next;
  uint8_t hop_limit;
  uint8_t saddr[16];
  uint8_t daddr[16];
  uint8_t version() const { return ver_tc_flow.b[0] >> 4; }
};
static_assert(sizeof(Ipv6Hdr) == 40, "IPv6 header is 40 bytes");

struct TcpHdr {
  Be16 sport;
  Be16 dport;
  Be32 seq;
  Be32 ack;
  uint8_t doff;  // data offset in the high nibble
  uint8_t flags;
  Be16 window;
  Be16 csum;
  Be16 urg;
  uint32_t hlen() const { return (doff >> 4) * 4u; }
};
static_assert(sizeof(TcpHdr) == 20, "TCP header is 20 bytes without options");
constexpr uint8_t kTcpFin = 0x01, kTcpPsh = 0x08, kTcpAck = 0x10, kTcpCwr = 0x80;

struct UdpHdr {
  Be16 sport;
  Be16 dport;
  Be16 len;
  Be16 csum;
};
static_assert(sizeof(UdpHdr) == 8, "UDP header is 8 bytes");

struct VxlanHdr {  // RFC 7348
  uint8_t flags;   // kVxlanFlagVni: the VNI is valid
  uint8_t reserved1[3];
  uint8_t vni[3];
  uint8_t reserved2;
  uint32_t get_vni() const { return static_cast<uint32_t>(vni[0]) << 16 | vni[1] << 8 | vni[2]; }
  void set_vni(uint32_t v) {
    vni[0] = (v >> 16) & 0xff;
    vni[1] = (v >> 8) & 0xff;
    vni[2] = v & 0xff;
  }
};
static_assert(sizeof(VxlanHdr) == 8, "VXLAN header is 8 bytes");
constexpr uint8_t kVxlanFlagVni = 0x08;
// VXLAN Group Policy (draft-smith-vxlan-group-policy; the Linux vxlan
// device's `gbp`): in the first flags byte G says bytes 2-3 carry the
// source's 16-bit Group Policy ID; in the second, D (don't learn) and A
// (policy applied). Every other bit of the two flags bytes is reserved.
constexpr uint8_t kVxlanFlagGbp = 0x80;
constexpr uint8_t kVxlanGbpDontLearn = 0x40, kVxlanGbpApplied = 0x08;
constexpr size_t kVxlanGbpIdAt = 2;  // big-endian, beside the flags

struct GreHdr {  // RFC 2784/2890: optional checksum, key and sequence follow
  Be16 flags;    // C, K, S bits and version
  Be16 proto;
};
static_assert(sizeof(GreHdr) == 4, "GRE base header is 4 bytes");
constexpr uint16_t kGreChecksum = 0x8000, kGreKey = 0x2000, kGreSeq = 0x1000;

struct ArpHdr {  // Ethernet/IPv4 ARP (RFC 826)
  Be16 htype;
  Be16 ptype;
  uint8_t hlen;
  uint8_t plen;
  Be16 op;
  uint8_t sha[6];
  uint8_t spa[4];
  uint8_t tha[6];
  uint8_t tpa[4];
};
static_assert(sizeof(ArpHdr) == 28, "Ethernet/IPv4 ARP is 28 bytes");
constexpr uint16_t kArpEthernet = 1, kArpRequest = 1, kArpReply = 2;

// A VXLAN outer header as weft sends it (no Ethernet: the raw socket or the
// egress TAP adds that): IPv4, UDP, VXLAN, and where each part starts.
constexpr size_t kOuterUdpAt = sizeof(Ipv4Hdr);
constexpr size_t kOuterVxlanAt = kOuterUdpAt + sizeof(UdpHdr);
constexpr size_t kVxlanOuterLen = kOuterVxlanAt + sizeof(VxlanHdr);
// GRE's: IPv4, GRE with a key.
constexpr size_t kGreOuterLen = sizeof(Ipv4Hdr) + sizeof(GreHdr) + 4;

// Where a frame's IP and L4 headers are, parsed once (after Ethernet and at
// most one VLAN tag) and handed to every function that needs them. Only
// what the frame holds is filled in; each user checks what it requires on
// top (a fragment, an exact length, options).
struct ParsedFrame {
  uint16_t ethertype = 0;  // after the VLAN tag, if any
  uint32_t l3 = 0;         // offset of the IP header
  // An IPv4 header (at least 20 bytes, and as long as its IHL says it is
  // not shorter than that) or an IPv6 fixed header fits in the frame.
  bool v4 = false, v6 = false;
  uint32_t l4 = 0;       // offset of the L4 header: l3 + IHL, or l3 + 40
  uint8_t proto = 0;     // IPv4 protocol or IPv6 next header
  uint32_t ip_len = 0;   // what the IP header claims: total length, or 40 + payload length
  bool fragment = false;  // IPv4 only
  const uint8_t* saddr = nullptr;
  const uint8_t* daddr = nullptr;
  // TCP header length from its data offset (when proto is TCP and that byte
  // is in the frame), else 0. Not checked against the frame's length.
  uint32_t thl = 0;

  bool ip() const { return v4 || v6; }
};

inline ParsedFrame ParseL3L4(const uint8_t* frame, uint32_t len) {
  ParsedFrame p;
  if (len < kEthHdrLen) return p;
  uint32_t off = offsetof(EthHdr, type);
  uint16_t type = Get16(frame + off);
  if (type == kEthVlan && len >= kEthHdrLen + sizeof(VlanTag)) {
    off += sizeof(VlanTag);
    type = Get16(frame + off);
  }
  p.ethertype = type;
  p.l3 = off + 2;
  if (type == kEthIPv4 && p.l3 + sizeof(Ipv4Hdr) <= len) {
    const auto* ip = reinterpret_cast<const Ipv4Hdr*>(frame + p.l3);
    if (ip->ihl() < sizeof(Ipv4Hdr)) return p;
    p.v4 = true;
    p.l4 = p.l3 + ip->ihl();
    p.proto = ip->proto;
    p.ip_len = ip->tot_len.get();
    p.fragment = ip->fragment();
    p.saddr = ip->saddr;
    p.daddr = ip->daddr;
  } else if (type == kEthIPv6 && p.l3 + sizeof(Ipv6Hdr) <= len) {
    const auto* ip = reinterpret_cast<const Ipv6Hdr*>(frame + p.l3);
    p.v6 = true;
    p.l4 = p.l3 + sizeof(Ipv6Hdr);
    p.proto = ip->next;
    p.ip_len = sizeof(Ipv6Hdr) + ip->payload_len.get();
    p.saddr = ip->saddr;
    p.daddr = ip->daddr;
  } else {
    return p;
  }
  if (p.proto == kIpProtoTcp && p.l4 + offsetof(TcpHdr, doff) < len) {
    p.thl = reinterpret_cast<const TcpHdr*>(frame + p.l4)->hlen();
  }
  return p;
}

}  // namespace weft
