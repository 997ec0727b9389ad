#include "gso.h"

#include <cstring>

#include "checksum.h"

namespace weft {

namespace {

constexpr uint8_t kTcpFin = 0x01, kTcpPsh = 0x08, kTcpCwr = 0x80;
// TCP_MIN_GSO_SIZE in include/net/tcp.h: TCP_MIN_SND_MSS (48) less the most
// option space (40).
constexpr uint32_t kMinGsoSize = 8;

// Offset of the L3 header: after Ethernet and at most one VLAN tag.
uint32_t L3Offset(const uint8_t* frame, uint32_t len, uint16_t* ethertype) {
  uint32_t off = 12;
  uint16_t type = Get16(frame + off);
  if (type == 0x8100 && len >= 18) {
    off += 4;
    type = Get16(frame + off);
  }
  *ethertype = type;
  return off + 2;
}

}  // namespace

bool CompleteChecksum(VnetHdr* vh, uint8_t* frame, uint32_t len) {
  if (!(vh->flags & 1)) return true;
  uint32_t start = vh->csum_start, field = start + vh->csum_offset;
  if (field + 2 > len || start >= len) return false;
  // The field holds the pseudo-header sum already; the sum over the rest
  // from csum_start finishes it.
  uint16_t c = CsumFold(CsumAdd(frame + start, len - start));
  if (c == 0 && vh->csum_offset == 6) c = 0xffff;  // UDP: 0 means "no checksum"
  Put16(frame + field, c);
  vh->flags &= ~1;
  return true;
}

bool FinishReceivedChecksum(uint8_t* frame, uint32_t len) {
  uint16_t ethertype;
  uint32_t l3 = L3Offset(frame, len, &ethertype);
  uint32_t l4, l4len;
  uint8_t proto;
  const uint8_t *saddr, *daddr;
  bool v4 = ethertype == 0x0800;
  if (v4) {
    if (l3 + 20 > len) return false;
    uint32_t ihl = (frame[l3] & 0x0f) * 4u;
    uint32_t tot = Get16(frame + l3 + 2);
    if (Get16(frame + l3 + 6) & 0x3fff) return false;  // a fragment: leave it to the stack
    if (ihl < 20 || tot < ihl || l3 + tot > len) return false;
    l4 = l3 + ihl;
    l4len = tot - ihl;
    proto = frame[l3 + 9];
    saddr = frame + l3 + 12;
    daddr = frame + l3 + 16;
  } else if (ethertype == 0x86dd) {
    if (l3 + 40 > len) return false;
    l4 = l3 + 40;
    l4len = Get16(frame + l3 + 4);
    proto = frame[l3 + 6];
    saddr = frame + l3 + 8;
    daddr = frame + l3 + 24;
    if (l4 + l4len > len) return false;
  } else {
    return false;
  }
  uint32_t at;
  if (proto == 6 && l4len >= 20) at = 16;
  else if (proto == 17 && l4len >= 8) at = 6;
  else return false;
  uint8_t* field = frame + l4 + at;
  if (proto == 17 && v4 && Get16(field) == 0) return false;  // no UDP checksum to check
  uint64_t pseudo = v4 ? PseudoV4(saddr, daddr, proto, l4len) : PseudoV6(saddr, daddr, proto, l4len);
  if (CsumFold(CsumAdd(frame + l4, l4len, pseudo)) == 0) return true;
  // Partial: the field holds the folded pseudo-header sum, not complemented.
  if (Get16(field) != static_cast<uint16_t>(~CsumFold(pseudo))) return false;  // really corrupt
  Put16(field, 0);
  uint16_t c = CsumFold(CsumAdd(frame + l4, l4len, pseudo));
  if (proto == 17 && c == 0) c = 0xffff;
  Put16(field, c);
  return true;
}

bool DescribeInnerGso(VnetHdr* vh, uint8_t* frame, uint32_t len, uint32_t mtu) {
  uint16_t ethertype;
  uint32_t l3 = L3Offset(frame, len, &ethertype);
  bool v4 = ethertype == 0x0800;
  if (!v4 && ethertype != 0x86dd) return false;
  if (l3 + (v4 ? 20 : 40) > len) return false;
  uint32_t ihl = v4 ? (frame[l3] & 0x0f) * 4u : 40;
  uint32_t l4 = l3 + ihl;
  uint8_t proto = v4 ? frame[l3 + 9] : frame[l3 + 6];
  if (ihl < 20 || proto != 6 || l4 + 20 > len) return false;
  if (v4 && (Get16(frame + l3 + 6) & 0x3fff)) return false;
  // A super-frame's IP length is exact: one that claims less or more than
  // arrived is not what a kernel VTEP sent, and would be cut wrongly.
  if (Get16(frame + l3 + (v4 ? 2 : 4)) != len - l3 - (v4 ? 0 : 40)) return false;
  uint32_t thl = (frame[l4 + 12] >> 4) * 4u;
  if (thl < 20 || l4 + thl > len || mtu <= (l4 - l3) + thl) return false;
  uint32_t l4len = len - l4;
  const uint8_t* saddr = v4 ? frame + l3 + 12 : frame + l3 + 8;
  const uint8_t* daddr = v4 ? frame + l3 + 16 : frame + l3 + 24;
  // Checksum partial, as a TSO sender leaves it: the pseudo-header sum
  // over the whole length, folded and not complemented.
  uint64_t pseudo = v4 ? PseudoV4(saddr, daddr, 6, l4len) : PseudoV6(saddr, daddr, 6, l4len);
  Put16(frame + l4 + 16, static_cast<uint16_t>(~CsumFold(pseudo)));
  vh->flags = 1;  // NEEDS_CSUM
  vh->gso_type = v4 ? kGsoTcpV4 : kGsoTcpV6;
  vh->gso_size = static_cast<uint16_t>(mtu - (l4 - l3) - thl);
  vh->hdr_len = static_cast<uint16_t>(l4 + thl);
  vh->csum_start = static_cast<uint16_t>(l4);
  vh->csum_offset = 16;
  return true;
}

GsoResult SegmentGso(const VnetHdr& vh, const uint8_t* frame, uint32_t len, std::vector<Segment>& out) {
  uint8_t type = vh.gso_type & ~kGsoEcn;
  uint16_t ethertype;
  uint32_t l3 = L3Offset(frame, len, &ethertype);
  bool v4 = ethertype == 0x0800, v6 = ethertype == 0x86dd;
  if (!v4 && !v6) return GsoResult::kUnsupported;
  if ((type == kGsoTcpV4 && !v4) || (type == kGsoTcpV6 && !v6)) return GsoResult::kMalformed;
  uint32_t l4;
  uint8_t proto;
  if (v4) {
    if (l3 + 20 > len || (frame[l3] & 0x0f) < 5) return GsoResult::kMalformed;
    l4 = l3 + (frame[l3] & 0x0f) * 4;
    proto = frame[l3 + 9];
  } else {
    if (l3 + 40 > len) return GsoResult::kMalformed;
    l4 = l3 + 40;
    proto = frame[l3 + 6];  // no extension headers on a GSO frame we accept
  }
  bool tcp = type == kGsoTcpV4 || type == kGsoTcpV6;
  if ((tcp && proto != 6) || (type == kGsoUdpL4 && proto != 17) || (!tcp && type != kGsoUdpL4)) return GsoResult::kUnsupported;
  uint32_t l4hdr = tcp ? (l4 + 13 <= len ? (frame[l4 + 12] >> 4) * 4u : 0) : 8u;
  uint32_t hdrs = l4 + l4hdr;
  // A TCP header shorter than 20 bytes would put the checksum written
  // below past the headers copied.
  if (l4hdr < (tcp ? 20u : 8u) || hdrs > len || hdrs > sizeof(Segment::hdr)) return GsoResult::kMalformed;
  // Below the kernel's TCP_MIN_GSO_SIZE a sender is not sending data but
  // asking for work: 64 KB cut into 1-byte segments.
  uint32_t mss = vh.gso_size;
  if (mss < kMinGsoSize) return GsoResult::kMalformed;
  uint32_t payload = len - hdrs;
  uint32_t count = payload == 0 ? 1 : (payload + mss - 1) / mss;
  uint32_t seq = tcp ? Get32(frame + l4 + 4) : 0;
  uint16_t id = v4 ? Get16(frame + l3 + 4) : 0;
  const uint8_t* saddr = v4 ? frame + l3 + 12 : frame + l3 + 8;
  const uint8_t* daddr = v4 ? frame + l3 + 16 : frame + l3 + 24;
  for (uint32_t i = 0; i < count; i++) {
    Segment& s = out.emplace_back();
    uint32_t off = i * mss;
    uint32_t plen = payload - off < mss ? payload - off : mss;
    std::memcpy(s.hdr, frame, hdrs);
    s.hdr_len = hdrs;
    s.payload = frame + hdrs + off;
    s.payload_len = plen;
    uint8_t* ip = s.hdr + l3;
    uint8_t* l4p = s.hdr + l4;
    uint32_t l4len = l4hdr + plen;
    if (v4) {
      Put16(ip + 2, static_cast<uint16_t>(l4 - l3 + l4len));
      Put16(ip + 4, static_cast<uint16_t>(id + i));
      Put16(ip + 10, 0);
      Put16(ip + 10, CsumFold(CsumAdd(ip, l4 - l3)));
    } else {
      Put16(ip + 4, static_cast<uint16_t>(l4len));
    }
    uint32_t check_at;
    if (tcp) {
      Put32(l4p + 4, seq + off);
      if (i + 1 < count) l4p[13] &= ~(kTcpFin | kTcpPsh);
      if (i > 0) l4p[13] &= ~kTcpCwr;
      check_at = 16;
    } else {
      Put16(l4p + 4, static_cast<uint16_t>(l4len));
      check_at = 6;
    }
    Put16(l4p + check_at, 0);
    uint64_t sum = v4 ? PseudoV4(saddr, daddr, proto, l4len) : PseudoV6(saddr, daddr, proto, l4len);
    sum = CsumAdd(l4p, l4hdr, sum);
    sum = CsumAdd(s.payload, plen, sum);
    uint16_t c = CsumFold(sum);
    if (!tcp && c == 0) c = 0xffff;
    Put16(l4p + check_at, c);
  }
  return GsoResult::kOk;
}

}  // namespace weft
