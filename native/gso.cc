#include "gso.h"

#include <cstring>

#include "checksum.h"

namespace weft {

namespace {

// TCP_MIN_GSO_SIZE in include/net/tcp.h: TCP_MIN_SND_MSS (48) less the most
// option space (40).
constexpr uint32_t kMinGsoSize = 8;
constexpr uint32_t kTcpCsumAt = offsetof(TcpHdr, csum), kUdpCsumAt = offsetof(UdpHdr, csum);

}  // namespace

bool CompleteChecksum(VnetHdr* vh, uint8_t* frame, uint32_t len) {
  if (!(vh->flags & kVnetNeedsCsum)) return true;
  uint32_t start = vh->csum_start, field = start + vh->csum_offset;
  if (field + 2 > len || start >= len) return false;
  // The field holds the pseudo-header sum already; the sum over the rest
  // from csum_start finishes it.
  uint16_t c = CsumFold(CsumAdd(frame + start, len - start));
  if (c == 0 && vh->csum_offset == kUdpCsumAt) c = 0xffff;  // UDP: 0 means "no checksum"
  Put16(frame + field, c);
  vh->flags &= ~kVnetNeedsCsum;
  return true;
}

bool FinishReceivedChecksum(uint8_t* frame, uint32_t len, const ParsedFrame& p) {
  uint32_t l4len;
  if (p.v4) {
    uint32_t ihl = p.l4 - p.l3;
    if (p.fragment) return false;  // a fragment: leave it to the stack
    if (p.ip_len < ihl || p.l3 + p.ip_len > len) return false;
    l4len = p.ip_len - ihl;
  } else if (p.v6) {
    l4len = p.ip_len - sizeof(Ipv6Hdr);
    if (p.l4 + l4len > len) return false;
  } else {
    return false;
  }
  uint32_t at;
  if (p.proto == kIpProtoTcp && l4len >= sizeof(TcpHdr)) at = kTcpCsumAt;
  else if (p.proto == kIpProtoUdp && l4len >= sizeof(UdpHdr)) at = kUdpCsumAt;
  else return false;
  uint8_t* field = frame + p.l4 + at;
  if (p.proto == kIpProtoUdp && p.v4 && Get16(field) == 0) return false;  // no UDP checksum to check
  uint64_t pseudo = p.v4 ? PseudoV4(p.saddr, p.daddr, p.proto, l4len) : PseudoV6(p.saddr, p.daddr, p.proto, l4len);
  if (CsumFold(CsumAdd(frame + p.l4, l4len, pseudo)) == 0) return true;
  // Partial: the field holds the folded pseudo-header sum, not complemented.
  if (Get16(field) != static_cast<uint16_t>(~CsumFold(pseudo))) return false;  // really corrupt
  Put16(field, 0);
  uint16_t c = CsumFold(CsumAdd(frame + p.l4, l4len, pseudo));
  if (p.proto == kIpProtoUdp && c == 0) c = 0xffff;
  Put16(field, c);
  return true;
}

bool DescribeInnerGso(VnetHdr* vh, uint8_t* frame, uint32_t len, const ParsedFrame& p, uint32_t mtu) {
  if (!p.ip() || p.proto != kIpProtoTcp || p.l4 + sizeof(TcpHdr) > len) return false;
  if (p.v4 && p.fragment) return false;
  // A super-frame's IP length is exact: one that claims less or more than
  // arrived is not what a kernel VTEP sent, and would be cut wrongly.
  if (p.ip_len != len - p.l3) return false;
  const uint32_t ihl = p.l4 - p.l3, thl = p.thl;
  if (thl < sizeof(TcpHdr) || p.l4 + thl > len || mtu <= ihl + thl) return false;
  uint32_t l4len = len - p.l4;
  // Checksum partial, as a TSO sender leaves it: the pseudo-header sum
  // over the whole length, folded and not complemented.
  uint64_t pseudo = p.v4 ? PseudoV4(p.saddr, p.daddr, kIpProtoTcp, l4len) : PseudoV6(p.saddr, p.daddr, kIpProtoTcp, l4len);
  Put16(frame + p.l4 + kTcpCsumAt, static_cast<uint16_t>(~CsumFold(pseudo)));
  vh->flags = kVnetNeedsCsum;
  vh->gso_type = p.v4 ? kGsoTcpV4 : kGsoTcpV6;
  vh->gso_size = static_cast<uint16_t>(mtu - ihl - thl);
  vh->hdr_len = static_cast<uint16_t>(p.l4 + thl);
  vh->csum_start = static_cast<uint16_t>(p.l4);
  vh->csum_offset = kTcpCsumAt;
  return true;
}

GsoResult SegmentGso(const VnetHdr& vh, const uint8_t* frame, uint32_t len, const ParsedFrame& p,
                     std::vector<Segment>& out) {
  uint8_t type = vh.gso_type & ~kGsoEcn;
  bool v4 = p.ethertype == kEthIPv4, v6 = p.ethertype == kEthIPv6;
  if (!v4 && !v6) return GsoResult::kUnsupported;
  if ((type == kGsoTcpV4 && !v4) || (type == kGsoTcpV6 && !v6)) return GsoResult::kMalformed;
  if (!p.ip()) return GsoResult::kMalformed;  // the IP header is cut short (or an IHL below 5)
  // IPv6: no extension headers on a GSO frame we accept.
  const uint32_t l3 = p.l3, l4 = p.l4;
  const uint8_t proto = p.proto;
  bool tcp = type == kGsoTcpV4 || type == kGsoTcpV6;
  if ((tcp && proto != kIpProtoTcp) || (type == kGsoUdpL4 && proto != kIpProtoUdp) || (!tcp && type != kGsoUdpL4)) {
    return GsoResult::kUnsupported;
  }
  uint32_t l4hdr = tcp ? p.thl : static_cast<uint32_t>(sizeof(UdpHdr));
  uint32_t hdrs = l4 + l4hdr;
  // A TCP header shorter than 20 bytes would put the checksum written
  // below past the headers copied.
  if (l4hdr < (tcp ? sizeof(TcpHdr) : sizeof(UdpHdr)) || hdrs > len || hdrs > sizeof(Segment::hdr)) {
    return GsoResult::kMalformed;
  }
  // Below the kernel's TCP_MIN_GSO_SIZE a sender is not sending data but
  // asking for work: 64 KB cut into 1-byte segments.
  uint32_t mss = vh.gso_size;
  if (mss < kMinGsoSize) return GsoResult::kMalformed;
  uint32_t payload = len - hdrs;
  uint32_t count = payload == 0 ? 1 : (payload + mss - 1) / mss;
  uint32_t seq = tcp ? reinterpret_cast<const TcpHdr*>(frame + l4)->seq.get() : 0;
  uint16_t id = v4 ? reinterpret_cast<const Ipv4Hdr*>(frame + l3)->id.get() : 0;
  for (uint32_t i = 0; i < count; i++) {
    Segment& s = out.emplace_back();
    uint32_t off = i * mss;
    uint32_t plen = payload - off < mss ? payload - off : mss;
    std::memcpy(s.hdr, frame, hdrs);
    s.hdr_len = hdrs;
    s.payload = frame + hdrs + off;
    s.payload_len = plen;
    uint8_t* l4p = s.hdr + l4;
    uint32_t l4len = l4hdr + plen;
    if (v4) {
      auto* ip = reinterpret_cast<Ipv4Hdr*>(s.hdr + l3);
      ip->tot_len.set(static_cast<uint16_t>(l4 - l3 + l4len));
      ip->id.set(static_cast<uint16_t>(id + i));
      ip->csum.set(0);
      ip->csum.set(CsumFold(CsumAdd(s.hdr + l3, l4 - l3)));
    } else {
      reinterpret_cast<Ipv6Hdr*>(s.hdr + l3)->payload_len.set(static_cast<uint16_t>(l4len));
    }
    uint32_t check_at;
    if (tcp) {
      auto* th = reinterpret_cast<TcpHdr*>(l4p);
      th->seq.set(seq + off);
      if (i + 1 < count) th->flags &= ~(kTcpFin | kTcpPsh);
      if (i > 0) th->flags &= ~kTcpCwr;
      check_at = kTcpCsumAt;
    } else {
      reinterpret_cast<UdpHdr*>(l4p)->len.set(static_cast<uint16_t>(l4len));
      check_at = kUdpCsumAt;
    }
    Put16(l4p + check_at, 0);
    uint64_t sum = v4 ? PseudoV4(p.saddr, p.daddr, proto, l4len) : PseudoV6(p.saddr, p.daddr, proto, l4len);
    sum = CsumAdd(l4p, l4hdr, sum);
    sum = CsumAdd(s.payload, plen, sum);
    uint16_t c = CsumFold(sum);
    if (!tcp && c == 0) c = 0xffff;
    Put16(l4p + check_at, c);
  }
  return GsoResult::kOk;
}

}  // namespace weft
