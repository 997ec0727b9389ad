#include "coalesce.h"

#include <algorithm>
#include <cstring>

#include "checksum.h"
#include "headers.h"

namespace weft {

namespace {

// At most this many segments in one joined frame (the kernel's GRO stops at
// 64 as well), and at most 64 KB of IP packet.
constexpr size_t kMaxJoined = 64;
constexpr uint32_t kMaxIpLen = 65535;
// The arena's first size: receive buffers per round, and a vnet header and
// rounding for the most datagrams GRO trains carry (64 each); a round of
// trains of tinier datagrams grows it (Run).
constexpr size_t kArenaLen = static_cast<size_t>(kBatch) * kFrameBufLen + static_cast<size_t>(kBatch) * 128 * 16;


// Where a TCP segment's parts are, if it may be joined: checksum verified,
// IPv4 without options or fragments, or IPv6 with TCP as the next header,
// lengths exact (no Ethernet padding), only ACK (and PSH) set, some payload.
struct Tcp {
  uint32_t l3, l4, hdrs, plen, seq;
  uint8_t flags;
  bool v4;
};

bool Joinable(const Decapped& d, Tcp* t) {
  if (d.vh.flags != kVnetDataValid || d.vh.gso_type != 0 || d.truncated) return false;  // not verified, or already GSO
  const ParsedFrame& p = d.parsed;
  const uint32_t len = d.len;
  if (len < kEthHdrLen + sizeof(Ipv6Hdr) || p.l3 != kEthHdrLen || p.proto != kIpProtoTcp) return false;  // no VLAN tag
  const uint8_t* ip = d.inner + p.l3;
  if (p.v4) {
    if (ip[0] != kIpv4NoOptions || p.fragment || p.ip_len != len - p.l3) return false;
  } else if (p.v6) {
    if (len < p.l3 + sizeof(Ipv6Hdr) + sizeof(TcpHdr) || reinterpret_cast<const Ipv6Hdr*>(ip)->version() != 6 ||
        p.ip_len != len - p.l3) {
      return false;
    }
  } else {
    return false;
  }
  t->l3 = p.l3;
  t->l4 = p.l4;
  t->v4 = p.v4;
  const auto* tcp = reinterpret_cast<const TcpHdr*>(d.inner + p.l4);
  uint32_t thl = p.thl;
  t->flags = tcp->flags;
  if (thl < sizeof(TcpHdr) || t->l4 + thl >= len || (t->flags & ~kTcpPsh) != kTcpAck || (tcp->doff & 0x0f)) return false;
  t->hdrs = t->l4 + thl;
  t->plen = len - t->hdrs;
  t->seq = tcp->seq.get();
  return true;
}

// Whether `b` continues the flow of `a` with the same everything but what a
// segmenter changes (IP length, ID and checksum; TCP sequence, checksum, PSH).
bool SameFlow(const Decapped& a, const Tcp& ta, const Decapped& b, const Tcp& tb) {
  // One group id per joined frame: the policy stage reads it once.
  if (a.port != b.port || a.gbp != b.gbp || ta.v4 != tb.v4 || ta.hdrs != tb.hdrs) return false;
  const uint8_t *x = a.inner, *y = b.inner;
  if (std::memcmp(x, y, kEthHdrLen) != 0) return false;
  if (ta.v4) {
    const auto* ix = reinterpret_cast<const Ipv4Hdr*>(x + ta.l3);
    const auto* iy = reinterpret_cast<const Ipv4Hdr*>(y + tb.l3);
    // TOS, flags (DF), TTL (both are TCP); then both addresses.
    if (ix->tos != iy->tos || ix->frag.b[0] != iy->frag.b[0] || ix->ttl != iy->ttl ||
        std::memcmp(ix->saddr, iy->saddr, 8) != 0) {
      return false;
    }
  } else {
    const auto* ix = reinterpret_cast<const Ipv6Hdr*>(x + ta.l3);
    const auto* iy = reinterpret_cast<const Ipv6Hdr*>(y + tb.l3);
    // Version, traffic class, flow label; hop limit (both are TCP); addresses.
    if (std::memcmp(ix->ver_tc_flow.b, iy->ver_tc_flow.b, 4) != 0 || ix->hop_limit != iy->hop_limit ||
        std::memcmp(ix->saddr, iy->saddr, 32) != 0) {
      return false;
    }
  }
  const uint8_t *px = x + ta.l4, *py = y + tb.l4;
  // Ports; acknowledgment and data offset; window; urgent pointer and options.
  constexpr size_t kSeq = offsetof(TcpHdr, seq), kAck = offsetof(TcpHdr, ack);
  constexpr size_t kWin = offsetof(TcpHdr, window), kUrg = offsetof(TcpHdr, urg);
  return std::memcmp(px, py, kSeq) == 0 && std::memcmp(px + kAck, py + kAck, sizeof(Be32) + 1) == 0 &&
         std::memcmp(px + kWin, py + kWin, sizeof(Be16)) == 0 &&
         std::memcmp(px + kUrg, py + kUrg, ta.hdrs - ta.l4 - kUrg) == 0;
}

}  // namespace

uint8_t* Coalescer::Take(size_t len) {
  if (arena_.empty()) arena_.resize(kArenaLen);
  if (used_ + len > arena_.size()) return nullptr;
  uint8_t* p = arena_.data() + used_;
  used_ += (len + 7) & ~static_cast<size_t>(7);
  return p;
}

void Coalescer::Emit(const std::vector<Decapped>& in, size_t first, size_t count, std::vector<Outgoing>& out, Joined& joined) {
  const Decapped& d = in[first];
  if (count == 1) {
    Outgoing o{d.port, {}};
    if (d.room_before) {
      o.frame.buf = d.inner - kVnetHdrLen;
    } else {
      o.frame.buf = Take(kVnetHdrLen + d.len);
      if (o.frame.buf == nullptr) return;  // cannot happen: the arena holds a whole round
      std::memcpy(o.frame.buf + kVnetHdrLen, d.inner, d.len);
    }
    std::memcpy(o.frame.buf, &d.vh, kVnetHdrLen);
    o.frame.len = kVnetHdrLen + d.len;
    o.frame.truncated = d.truncated;
    o.frame.gbp = d.gbp;  // from the datagram's GBP header (tunnel_rx.cc)
    out.push_back(o);
    return;
  }
  Tcp t0, tl;
  Joinable(d, &t0);
  Joinable(in[first + count - 1], &tl);
  uint32_t total = t0.hdrs;
  for (size_t i = 0; i < count; i++) total += in[first + i].len - t0.hdrs;
  uint8_t* buf = Take(kVnetHdrLen + total);
  if (buf == nullptr) return;
  uint8_t* f = buf + kVnetHdrLen;
  std::memcpy(f, d.inner, t0.hdrs);
  uint32_t at = t0.hdrs;
  for (size_t i = 0; i < count; i++) {
    const Decapped& s = in[first + i];
    std::memcpy(f + at, s.inner + t0.hdrs, s.len - t0.hdrs);
    at += s.len - t0.hdrs;
  }
  auto* tcp = reinterpret_cast<TcpHdr*>(f + t0.l4);
  uint32_t l4len = total - t0.l4;
  uint64_t pseudo;
  if (t0.v4) {
    auto* ip = reinterpret_cast<Ipv4Hdr*>(f + t0.l3);
    ip->tot_len.set(static_cast<uint16_t>(total - t0.l3));
    ip->csum.set(0);
    ip->csum.set(CsumFold(CsumAdd(f + t0.l3, sizeof(Ipv4Hdr))));
    pseudo = PseudoV4(ip->saddr, ip->daddr, kIpProtoTcp, l4len);
  } else {
    auto* ip = reinterpret_cast<Ipv6Hdr*>(f + t0.l3);
    ip->payload_len.set(static_cast<uint16_t>(l4len));
    pseudo = PseudoV6(ip->saddr, ip->daddr, kIpProtoTcp, l4len);
  }
  tcp->flags = static_cast<uint8_t>(t0.flags | (tl.flags & kTcpPsh));
  // Checksum partial, as a TSO sender leaves it: every segment was verified
  // on the way in, and the kernel finishes each one it cuts from this.
  tcp->csum.set(static_cast<uint16_t>(~CsumFold(pseudo)));
  VnetHdr vh{};
  vh.flags = kVnetNeedsCsum;
  vh.gso_type = t0.v4 ? kGsoTcpV4 : kGsoTcpV6;
  vh.hdr_len = static_cast<uint16_t>(t0.hdrs);
  vh.gso_size = static_cast<uint16_t>(t0.plen);
  vh.csum_start = static_cast<uint16_t>(t0.l4);
  vh.csum_offset = offsetof(TcpHdr, csum);
  std::memcpy(buf, &vh, kVnetHdrLen);
  out.push_back({d.port, {buf, static_cast<uint32_t>(kVnetHdrLen + total), false, d.gbp}});
  joined.frames++;
  joined.segments += count;
}

Coalescer::Joined Coalescer::Run(const std::vector<Decapped>& in, std::vector<Outgoing>& out) {
  used_ = 0;
  // Room for a copy of everything, each with a vnet header and rounding:
  // what a round needs however many datagrams its trains were cut into,
  // so Take never runs out (the arena grows to the largest round, which
  // the receive buffers bound).
  size_t need = 0;
  for (const Decapped& d : in) need += kVnetHdrLen + d.len + 8;
  if (arena_.size() < need) arena_.resize(std::max(need, kArenaLen));
  Joined joined;
  size_t first = 0, count = 0;  // the run being joined
  Tcp head{}, last{};
  uint32_t bytes = 0;  // IP length of the run so far
  auto close = [&] {
    if (count > 0) Emit(in, first, count, out, joined);
    count = 0;
  };
  for (size_t i = 0; i < in.size(); i++) {
    Tcp t;
    if (!Joinable(in[i], &t)) {
      close();
      Emit(in, i, 1, out, joined);
      continue;
    }
    bool joins = count > 0 && count < kMaxJoined && SameFlow(in[first], head, in[i], t) &&
                 t.seq == last.seq + last.plen && last.plen == head.plen && !(last.flags & kTcpPsh) &&
                 t.plen <= head.plen && bytes + t.plen <= kMaxIpLen;
    if (!joins) {
      close();
      first = i;
      head = t;
      bytes = in[i].len - t.l3;
    } else {
      bytes += t.plen;
    }
    count++;
    last = t;
    // A short segment or a push ends what the sender had to say for now.
    if (t.plen < head.plen || (t.flags & kTcpPsh)) close();
  }
  close();
  return joined;
}

}  // namespace weft
