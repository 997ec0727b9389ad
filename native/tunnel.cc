#include "tunnel.h"

#include "capture.h"

#include <arpa/inet.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "checksum.h"
#include "gso.h"
#include "udp_gro.h"

namespace weft {


namespace {

// The most segments the kernel takes in one UDP_SEGMENT send:
// UDP_MAX_SEGMENTS in include/linux/udp.h, 64 (1 << 6) from Linux 4.18 and
// 128 (1 << 7) since 6.9 (commit 1382e3b6a350, backported to some stable
// kernels). The smaller one holds on every kernel; with a normal MSS the
// 64 KB limit below binds first anyway.
constexpr size_t kUdpMaxSegments = 64;
// And at most one IPv4 datagram's worth of UDP payload per send.
constexpr size_t kUdpMaxPayload = 65535 - sizeof(Ipv4Hdr) - sizeof(UdpHdr);
// Packets per sendmmsg on the raw socket.
constexpr unsigned kRawSendChunk = 256;
constexpr uint8_t kOuterTtl = 64;

}  // namespace

size_t BurstSegments(size_t datagram_len) {
  if (datagram_len == 0 || datagram_len > kUdpMaxPayload) return 1;
  return std::min(kUdpMaxSegments, kUdpMaxPayload / datagram_len);
}

size_t PushOuter(uint8_t* out, Encap encap, uint32_t local_ip, uint32_t remote_ip, uint16_t vxlan_port, uint32_t vni) {
  std::memset(out, 0, kVxlanOuterLen);
  auto* ip = reinterpret_cast<Ipv4Hdr*>(out);
  ip->ver_ihl = kIpv4NoOptions;
  ip->ttl = kOuterTtl;
  std::memcpy(ip->saddr, &local_ip, 4);
  std::memcpy(ip->daddr, &remote_ip, 4);
  if (encap == Encap::kVxlan) {
    ip->proto = kIpProtoUdp;
    // Source port and length are set per packet; checksum 0 (RFC 7348).
    reinterpret_cast<UdpHdr*>(out + kOuterUdpAt)->dport.set(vxlan_port);
    auto* vx = reinterpret_cast<VxlanHdr*>(out + kOuterVxlanAt);
    vx->flags = kVxlanFlagVni;
    vx->set_vni(vni);
    return kVxlanOuterLen;
  }
  ip->proto = kIpProtoGre;
  auto* gre = reinterpret_cast<GreHdr*>(out + sizeof(Ipv4Hdr));
  gre->flags.set(kGreKey);  // a key follows (RFC 2890): the network's id
  gre->proto.set(kEthTransparentBridging);
  Put32(out + sizeof(Ipv4Hdr) + sizeof(GreHdr), vni);
  return kGreOuterLen;
}

void SetVxlanGbp(uint8_t* vxlan_hdr, uint16_t gbp) {
  if (gbp == 0) return;
  vxlan_hdr[0] |= kVxlanFlagGbp;
  Put16(vxlan_hdr + kVxlanGbpIdAt, gbp);
}

bool PopVxlan(const uint8_t* p, uint32_t len, Popped* out) {
  const auto* vx = reinterpret_cast<const VxlanHdr*>(p);
  if (len < sizeof(VxlanHdr) || !(vx->flags & kVxlanFlagVni)) return false;
  out->vni = vx->get_vni();
  out->inner_off = sizeof(VxlanHdr);
  out->inner_len = len - sizeof(VxlanHdr);
  out->gbp = (vx->flags & kVxlanFlagGbp) ? Get16(p + kVxlanGbpIdAt) : 0;
  out->bad_flags = (vx->flags & ~(kVxlanFlagVni | kVxlanFlagGbp)) != 0 ||
                   (p[1] & ~(kVxlanGbpDontLearn | kVxlanGbpApplied)) != 0;
  return !out->bad_flags;
}

bool PopGre(const uint8_t* p, uint32_t len, Popped* out) {
  // The kernel hands a raw socket only valid IPv4 headers; checked anyway,
  // since everything below is an offset from them.
  const auto* ip = reinterpret_cast<const Ipv4Hdr*>(p);
  if (len < sizeof(Ipv4Hdr) || ip->version() != 4) return false;
  const uint32_t ihl = ip->ihl();
  const uint32_t tot = ip->tot_len.get();
  if (ihl < sizeof(Ipv4Hdr) || tot < ihl + sizeof(GreHdr) || tot > len) return false;
  const uint8_t* g = p + ihl;
  const auto* gre = reinterpret_cast<const GreHdr*>(g);
  const uint32_t glen = tot - ihl;
  const uint16_t flags = gre->flags.get();
  // Anything but C, K and S, and version 0: the routing bit and RFC 1701's
  // source route and recursion bits (RFC 2784: MUST discard), the other
  // reserved bits (which RFC 2784 would have ignored: nobody sends them,
  // and Open vSwitch drops them too), and versions other than 0 (1 is PPTP).
  if ((flags & ~(kGreChecksum | kGreKey | kGreSeq)) != 0 || gre->proto.get() != kEthTransparentBridging ||
      !(flags & kGreKey)) {
    return false;
  }
  const uint32_t csum_len = (flags & kGreChecksum) ? 4 : 0;
  const uint32_t hlen = sizeof(GreHdr) + csum_len + 4 + ((flags & kGreSeq) ? 4 : 0);
  if (glen < hlen) return false;
  // The checksum covers the GRE header and the payload (RFC 2784 2.5).
  if ((flags & kGreChecksum) && CsumFold(CsumAdd(g, glen)) != 0) return false;
  out->vni = Get32(g + sizeof(GreHdr) + csum_len);
  out->inner_off = ihl + hlen;
  out->inner_len = tot - ihl - hlen;
  return true;
}

uint32_t FlowHash(const uint8_t* f, uint32_t len, const ParsedFrame& p) {
  // FNV-1a over MACs, and the IPv4/IPv6 addresses and L4 ports when present.
  uint32_t h = 2166136261u;
  auto mix = [&](const uint8_t* q, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) h = (h ^ q[i]) * 16777619u;
  };
  mix(f, 12);
  if (p.ip()) {
    mix(p.saddr, p.v4 ? 8 : 32);  // source and destination, side by side
    if ((p.proto == kIpProtoTcp || p.proto == kIpProtoUdp) && p.l4 + 4 <= len) mix(f + p.l4, 4);
  }
  return h ^ (h >> 16);
}

TunnelPort::TunnelPort(uint32_t id, uint32_t network, uint32_t mtu, std::shared_ptr<Underlay> ul, Encap encap,
                       uint32_t vni, uint32_t remote_ip, bool flood, bool gbp)
    : Port(id, network, mtu, -1),
      ul_(std::move(ul)),
      encap_(encap),
      vni_(vni),
      remote_ip_(remote_ip),
      flood_(flood),
      gbp_(gbp && encap == Encap::kVxlan) {  // GRE has no place for a group id
  outer_len_ = PushOuter(outer_, encap, ul_->local_ip(), remote_ip, ul_->vxlan_port(), vni);
  std::memset(&dst_, 0, sizeof(dst_));
  dst_.sin_family = AF_INET;
  dst_.sin_addr.s_addr = remote_ip;
}

struct TunnelPort::Scratch {
  struct Piece {
    int frame;
    int seg;  // -1: the whole frame
    const uint8_t* data;
    uint32_t len;
    uint32_t hash;  // FlowHash of its frame
    uint16_t gbp;   // its frame's group id toward this VTEP (TagOf)
  };
  std::vector<Segment> segs;
  std::vector<Piece> pieces;
  std::vector<uint8_t> outers;
  std::vector<iovec> iovs;
  std::vector<mmsghdr> msgs;
  std::vector<uint32_t> refused;  // segments of bursts the kernel refused
  std::vector<uint8_t> bad, lost;  // per frame
  size_t via_xdp = 0;              // pieces that left through AF_XDP
};

// An underlay capture of a UDP_SEGMENT burst: each datagram the kernel
// will cut from it (a VXLAN header, then one segment's pieces), with the
// IPv4 and UDP headers made up.
void TunnelPort::CaptureBurst(const std::vector<iovec>& iov, uint16_t sport) const {
  const uint32_t local = ul_->local_ip();
  const uint16_t sp = htons(sport), dp = htons(ul_->vxlan_port());
  for (size_t i = 0; i < iov.size();) {
    size_t j = i + 1;
    while (j < iov.size() && iov[j].iov_base != iov[i].iov_base) j++;  // up to the next VXLAN header
    capture_thread.capture->CopyUnderlayUdp(capture_thread.worker, kCapOut, local, sp, remote_ip_, dp, &iov[i], j - i,
                                            *capture_thread.counters);
    i = j;
  }
}

// An underlay capture of a super-frame that left whole through the egress
// TAP: one outer packet, as the host's stack got it (before it cut it).
void TunnelPort::CaptureWhole(const uint8_t* outer, uint16_t sport, const uint8_t* eth, uint32_t len) const {
  uint8_t o[kVxlanOuterLen];
  std::memcpy(o, outer, kVxlanOuterLen);
  auto* udp = reinterpret_cast<UdpHdr*>(o + kOuterUdpAt);
  udp->sport.set(sport);
  udp->len.set(static_cast<uint16_t>(std::min<size_t>(65535 - sizeof(Ipv4Hdr), sizeof(UdpHdr) + sizeof(VxlanHdr) + len)));
  iovec iov[2] = {{o, kVxlanOuterLen}, {const_cast<uint8_t*>(eth), len}};
  capture_thread.capture->CopyUnderlayIov(capture_thread.worker, kCapOut, iov, 2, *capture_thread.counters);
}

bool TunnelPort::SendVxlanGso(const std::vector<Segment>& segs, size_t first, size_t count, uint32_t hash, uint16_t gbp,
                              std::vector<uint32_t>& refused, Counters& c) {
  if (encap_ != Encap::kVxlan || count < 2 || ul_->gso_sockets() == 0) return false;
  // Every datagram but the last must have the same size: the segments' own
  // (all of the MSS but the last) plus the VXLAN header.
  const Segment& s0 = segs[first];
  const size_t chunk = sizeof(VxlanHdr) + s0.hdr_len + s0.payload_len;
  // The datagrams are gathered straight from the segments (VXLAN header,
  // the segment's own headers, its slice of the frame): no copy here; the
  // kernel makes the only one.
  thread_local std::vector<iovec> iov;
  const int fd = ul_->gso_fd(hash);
  sockaddr_in to = dst_;
  to.sin_port = htons(ul_->vxlan_port());
  const size_t per_send = BurstSegments(chunk);
  // Every datagram of the burst is cut from one frame: one group id.
  uint8_t vx[sizeof(VxlanHdr)];
  std::memcpy(vx, outer_ + kOuterVxlanAt, sizeof(vx));
  SetVxlanGbp(vx, gbp);
  for (size_t done = 0; done < count;) {
    size_t n = std::min(per_send, count - done);
    iov.clear();
    for (size_t i = 0; i < n; i++) {
      const Segment& sg = segs[first + done + i];
      iov.push_back({vx, sizeof(vx)});
      iov.push_back({const_cast<uint8_t*>(sg.hdr), sg.hdr_len});
      if (sg.payload_len) iov.push_back({const_cast<uint8_t*>(sg.payload), sg.payload_len});
    }
    alignas(cmsghdr) char ctrl[kUdpSegmentCtrlLen];
    msghdr m;
    std::memset(&m, 0, sizeof(m));
    m.msg_name = &to;
    m.msg_namelen = sizeof(to);
    m.msg_iov = iov.data();
    m.msg_iovlen = iov.size();
    if (n > 1) SetGsoSize(m, ctrl, static_cast<uint16_t>(chunk));
    if (capture_thread.active()) CaptureBurst(iov, ul_->SourcePort(hash));
    if (sendmsg(fd, &m, 0) < 0) {
      if (errno == EINTR) continue;
      // Refused (no UDP GSO on this route or device, a path MTU below the
      // segment, a full buffer): this burst leaves one by one, and only
      // this burst. Nothing is remembered: one odd flow must not switch
      // the offload off for every other.
      for (size_t i = 0; i < n; i++) refused.push_back(static_cast<uint32_t>(first + done + i));
      c.Global(gso_bursts_refused);
    } else {
      c.Global(gso_bursts);
    }
    done += n;
  }
  return true;
}

void TunnelPort::Plan(Frame* const* frames, int n, Scratch& s, Counters& c) {
  for (int i = 0; i < n; i++) {
    auto* vh = reinterpret_cast<VnetHdr*>(frames[i]->buf);
    uint8_t* eth = frames[i]->buf + kVnetHdrLen;
    uint32_t len = frames[i]->len - kVnetHdrLen;
    const ParsedFrame p = ParseL3L4(eth, len);
    const uint32_t hash = FlowHash(eth, len, p);
    const uint16_t gbp = TagOf(*frames[i]);
    if ((vh->gso_type & ~kGsoEcn) == 0) {
      if (!CompleteChecksum(vh, eth, len)) {
        c.Drop(gso_unsupported);
        s.bad[i] = 1;
        continue;
      }
      s.pieces.push_back({i, -1, eth, len, hash, gbp});
      continue;
    }
    // Whole, through the host's stack; the source port as on every path.
    uint8_t tagged[kVxlanOuterLen];
    const uint8_t* outer = outer_;
    if (gbp != 0) {
      std::memcpy(tagged, outer_, kVxlanOuterLen);
      SetVxlanGbp(tagged + kOuterVxlanAt, gbp);
      outer = tagged;
    }
    if (encap_ == Encap::kVxlan && ul_->egress() != nullptr &&
        ul_->egress()->Send(outer, ul_->SourcePort(hash), *vh, eth, len)) {
      c.Global(tunnel_gso_whole);
      if (capture_thread.active()) CaptureWhole(outer, ul_->SourcePort(hash), eth, len);
      continue;
    }
    size_t first = s.segs.size();
    if (SegmentGso(*vh, eth, len, p, s.segs) != GsoResult::kOk) {
      s.segs.resize(first);
      c.Drop(gso_unsupported);
      s.bad[i] = 1;
      continue;
    }
    c.Global(gso_segmented);
    c.Global(gso_segments, s.segs.size() - first);
    s.refused.clear();
    if (SendVxlanGso(s.segs, first, s.segs.size() - first, hash, gbp, s.refused, c)) {
      for (uint32_t g : s.refused) s.pieces.push_back({i, static_cast<int>(g), nullptr, 0, hash, gbp});
      continue;
    }
    for (size_t g = first; g < s.segs.size(); g++) s.pieces.push_back({i, static_cast<int>(g), nullptr, 0, hash, gbp});
  }
}

void TunnelPort::SendPieces(Scratch& s) {
  size_t np = s.pieces.size();
  s.outers.resize(np * kVxlanOuterLen);
  s.iovs.resize(np * 3);
  s.msgs.resize(np);
  for (size_t p = 0; p < np; p++) {
    const Scratch::Piece& pc = s.pieces[p];
    uint8_t* o = s.outers.data() + p * kVxlanOuterLen;
    std::memcpy(o, outer_, outer_len_);
    SetVxlanGbp(o + kOuterVxlanAt, pc.gbp);  // 0 (and always for GRE): untouched
    iovec* iov = s.iovs.data() + p * 3;
    size_t cnt = 0;
    iov[cnt++] = {o, outer_len_};
    uint32_t inner_len;
    if (pc.seg >= 0) {
      Segment& sg = s.segs[pc.seg];
      iov[cnt++] = {sg.hdr, sg.hdr_len};
      if (sg.payload_len) iov[cnt++] = {const_cast<uint8_t*>(sg.payload), sg.payload_len};
      inner_len = sg.hdr_len + sg.payload_len;
    } else {
      iov[cnt++] = {const_cast<uint8_t*>(pc.data), pc.len};
      inner_len = pc.len;
    }
    if (encap_ == Encap::kVxlan) {
      auto* udp = reinterpret_cast<UdpHdr*>(o + kOuterUdpAt);
      udp->sport.set(ul_->SourcePort(pc.hash));
      udp->len.set(static_cast<uint16_t>(sizeof(UdpHdr) + sizeof(VxlanHdr) + inner_len));
    }
    std::memset(&s.msgs[p].msg_hdr, 0, sizeof(msghdr));
    s.msgs[p].msg_hdr.msg_name = &dst_;
    s.msgs[p].msg_hdr.msg_namelen = sizeof(dst_);
    s.msgs[p].msg_hdr.msg_iov = iov;
    s.msgs[p].msg_hdr.msg_iovlen = cnt;
  }
  // An underlay capture sees each packet as it is handed to the socket.
  if (capture_thread.active()) {
    for (size_t p = 0; p < np; p++) {
      const msghdr& m = s.msgs[p].msg_hdr;
      capture_thread.capture->CopyUnderlayIov(capture_thread.worker, kCapOut, m.msg_iov, m.msg_iovlen, *capture_thread.counters);
    }
  }
  // Through AF_XDP first, where it is attached and knows the next hop: no
  // IP stack, no system call per packet. What it does not take goes on.
  size_t done = 0;
  XdpUnderlay* x = ul_->xdp();
  if (x != nullptr && np > 0 && x->Carries(encap_)) done = s.via_xdp = x->Send(remote_ip_, s.msgs.data(), np);
  // Blocking sends: a full socket buffer pushes back on the sender (as a
  // NIC queue would) instead of dropping segments of a TCP burst.
  while (done < np) {
    unsigned chunk = np - done > kRawSendChunk ? kRawSendChunk : static_cast<unsigned>(np - done);
    int r = sendmmsg(ul_->raw_fd(), s.msgs.data() + done, chunk, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      s.lost[s.pieces[done].frame] = 1;  // this packet failed: skip it
      done++;
      continue;
    }
    done += r;
  }
}

int TunnelPort::TxBatch(Frame* const* frames, int n, Counters& c) {
  // Per thread, reused: a flood from a worker and a unicast from another
  // never share them.
  thread_local Scratch s;
  s.segs.clear();
  s.pieces.clear();
  s.bad.assign(n, 0);
  s.lost.assign(n, 0);
  s.via_xdp = 0;
  Plan(frames, n, s, c);
  SendPieces(s);
  int sent = 0, tagged = 0;
  for (int i = 0; i < n; i++) {
    if (s.bad[i]) continue;  // counted as gso_unsupported
    if (s.lost[i]) {
      c.Drop(tx_error);
    } else {
      sent++;
      if (TagOf(*frames[i]) != 0) tagged++;
    }
  }
  c.Global(tunnel_tx, sent);
  if (s.via_xdp) c.Global(xdp_tx, s.via_xdp);
  if (tagged) c.Global(gbp_tx, tagged);
  return sent;
}

}  // namespace weft
