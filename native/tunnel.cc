#include "tunnel.h"

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

namespace weft {

thread_local TunnelPort::TxStats TunnelPort::tx_stats;
static_assert(kTunnelOuterLen == kVxlanOuterLen, "the egress writes the same outer headers as the sockets' path");

namespace {

// The most segments the kernel takes in one UDP_SEGMENT send:
// UDP_MAX_SEGMENTS in include/linux/udp.h, 64 (1 << 6) from Linux 4.18 and
// 128 (1 << 7) since 6.9 (commit 1382e3b6a350, backported to some stable
// kernels). The smaller one holds on every kernel; with a normal MSS the
// 64 KB limit below binds first anyway.
constexpr size_t kUdpMaxSegments = 64;
// And at most one IPv4 datagram's worth of UDP payload per send.
constexpr size_t kUdpMaxPayload = 65535 - 20 - 8;

std::runtime_error SysError(const std::string& what) { return std::runtime_error(what + ": " + std::strerror(errno)); }

int Bound(int type, int proto, uint32_t ip, uint16_t port, const char* what) {
  int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
  if (fd < 0) throw SysError(what);
  int buf = 16 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf));
  sockaddr_in sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = ip;
  sa.sin_port = htons(port);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) < 0) {
    auto err = SysError(what);
    close(fd);
    throw err;
  }
  return fd;
}

}  // namespace

size_t BurstSegments(size_t datagram_len) {
  if (datagram_len == 0 || datagram_len > kUdpMaxPayload) return 1;
  return std::min(kUdpMaxSegments, kUdpMaxPayload / datagram_len);
}

std::shared_ptr<Underlay> Underlay::Create(uint32_t local_ip, uint16_t vxlan_port, const std::string& egress_ifname) {
  std::unique_ptr<TunnelEgress> egress;
  if (!egress_ifname.empty()) egress = TunnelEgress::Create(egress_ifname);
  int vx = Bound(SOCK_DGRAM, IPPROTO_UDP, local_ip, vxlan_port, "VXLAN socket");
  // UDP_GRO: a burst another VTEP sent with UDP_SEGMENT (or that a NIC's
  // GRO merged) arrives as one train instead of one datagram per segment;
  // the worker splits it and joins the TCP segments inside (coalesce.h).
  // Kernels without it deliver datagram by datagram, as before.
  int on = 1;
  setsockopt(vx, SOL_UDP, UDP_GRO, &on, sizeof(on));
  int gre = -1, raw = -1;
  try {
    gre = Bound(SOCK_RAW, IPPROTO_GRE, local_ip, 0, "GRE socket");
    // IPPROTO_RAW: send-only, the IP header is ours (IP_HDRINCL implied);
    // the kernel fills in the total length, checksum and an IP id.
    raw = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
    if (raw < 0) throw SysError("raw send socket");
    int buf = 16 << 20;
    setsockopt(raw, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf));
  } catch (...) {
    close(vx);
    if (gre >= 0) close(gre);
    throw;
  }
  auto ul = std::shared_ptr<Underlay>(new Underlay(vx, gre, raw, local_ip, vxlan_port));
  ul->egress_ = std::move(egress);
  for (int i = 0; i < 8; i++) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
    if (fd < 0) break;
    sockaddr_in sa;
    std::memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = local_ip;
    int pmtu = IP_PMTUDISC_DONT;  // like the raw path: no DF on the outer header
    int buf = 16 << 20;
    setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf));
    if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) < 0) {
      close(fd);
      break;
    }
    socklen_t len = sizeof(sa);
    getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
    ul->gso_fds_.push_back(fd);
    ul->gso_ports_.push_back(ntohs(sa.sin_port));
  }
  return ul;
}

Underlay::~Underlay() {
  for (int fd : gso_fds_) close(fd);
  close(vxlan_fd_);
  close(gre_fd_);
  close(raw_fd_);
}

TunnelPort::TunnelPort(uint32_t id, uint32_t network, uint32_t mtu, std::shared_ptr<Underlay> ul, Encap encap,
                       uint32_t vni, uint32_t remote_ip, bool flood)
    : Port(id, network, mtu, -1), ul_(std::move(ul)), encap_(encap), remote_ip_(remote_ip), flood_(flood) {
  std::memset(outer_, 0, sizeof(outer_));
  uint8_t* ip = outer_;
  ip[0] = 0x45;  // IPv4, 20-byte header
  ip[8] = 64;    // TTL
  uint32_t local = ul_->local_ip();
  std::memcpy(ip + 12, &local, 4);
  std::memcpy(ip + 16, &remote_ip, 4);
  if (encap == Encap::kVxlan) {
    ip[9] = IPPROTO_UDP;
    uint8_t* udp = ip + 20;
    uint16_t dport = htons(ul_->vxlan_port());
    std::memcpy(udp + 2, &dport, 2);  // source port, length set per packet; checksum 0 (RFC 7348)
    uint8_t* vx = udp + 8;
    vx[0] = 0x08;  // I flag: the VNI is valid
    vx[4] = (vni >> 16) & 0xff;
    vx[5] = (vni >> 8) & 0xff;
    vx[6] = vni & 0xff;
    outer_len_ = kVxlanOuterLen;
  } else {
    ip[9] = IPPROTO_GRE;
    uint8_t* gre = ip + 20;
    gre[0] = 0x20;  // K bit: a key follows (RFC 2890)
    gre[2] = 0x65;  // protocol 0x6558: transparent Ethernet bridging
    gre[3] = 0x58;
    uint32_t key = htonl(vni);
    std::memcpy(gre + 4, &key, 4);
    outer_len_ = kGreOuterLen;
  }
  std::memset(&dst_, 0, sizeof(dst_));
  dst_.sin_family = AF_INET;
  dst_.sin_addr.s_addr = remote_ip;
}

uint32_t FlowHash(const uint8_t* f, uint32_t len) {
  // FNV-1a over MACs, and the IPv4/IPv6 addresses and L4 ports when present.
  uint32_t h = 2166136261u;
  auto mix = [&](const uint8_t* p, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
  };
  mix(f, 12);
  if (len >= 34 && f[12] == 0x08 && f[13] == 0x00) {
    uint32_t ihl = (f[14] & 0x0f) * 4;
    mix(f + 26, 8);
    if ((f[23] == 6 || f[23] == 17) && len >= 14 + ihl + 4) mix(f + 14 + ihl, 4);
  } else if (len >= 58 && f[12] == 0x86 && f[13] == 0xdd) {
    mix(f + 22, 32);
    if ((f[20] == 6 || f[20] == 17) && len >= 58) mix(f + 54, 4);
  }
  return h ^ (h >> 16);
}

bool ParseVxlan(const uint8_t* p, uint32_t len, uint32_t* vni, uint32_t* inner_off, uint32_t* inner_len) {
  if (len < 8 || !(p[0] & 0x08)) return false;
  *vni = static_cast<uint32_t>(p[4]) << 16 | p[5] << 8 | p[6];
  *inner_off = 8;
  *inner_len = len - 8;
  return true;
}

bool ParseGre(const uint8_t* p, uint32_t len, uint32_t* key, uint32_t* inner_off, uint32_t* inner_len) {
  // The kernel hands a raw socket only valid IPv4 headers; checked anyway,
  // since everything below is an offset from them.
  if (len < 20 || (p[0] >> 4) != 4) return false;
  const uint32_t ihl = (p[0] & 0x0f) * 4u;
  const uint32_t tot = Get16(p + 2);
  if (ihl < 20 || tot < ihl + 4 || tot > len) return false;
  const uint8_t* g = p + ihl;
  const uint32_t glen = tot - ihl;
  constexpr uint16_t kC = 0x8000, kK = 0x2000, kS = 0x1000;
  const uint16_t flags = Get16(g);
  // Anything but C, K and S, and version 0: the routing bit and RFC 1701's
  // source route and recursion bits (RFC 2784: MUST discard), the other
  // reserved bits (which RFC 2784 would have ignored: nobody sends them,
  // and Open vSwitch drops them too), and versions other than 0 (1 is PPTP).
  if ((flags & ~(kC | kK | kS)) != 0 || Get16(g + 2) != 0x6558 || !(flags & kK)) return false;
  const uint32_t hlen = 4 + ((flags & kC) ? 4 : 0) + 4 + ((flags & kS) ? 4 : 0);
  if (glen < hlen) return false;
  // The checksum covers the GRE header and the payload (RFC 2784 2.5).
  if ((flags & kC) && CsumFold(CsumAdd(g, glen)) != 0) return false;
  const uint8_t* k = g + 4 + ((flags & kC) ? 4 : 0);
  *key = Get32(k);
  *inner_off = ihl + hlen;
  *inner_len = tot - ihl - hlen;
  return true;
}

bool TunnelPort::SendVxlanGso(const std::vector<Segment>& segs, size_t first, size_t count,
                              std::vector<uint32_t>& refused) {
  if (encap_ != Encap::kVxlan || count < 2 || ul_->gso_sockets() == 0) return false;
  // Every datagram but the last must have the same size: the segments' own
  // (all of the MSS but the last) plus the VXLAN header.
  const Segment& s0 = segs[first];
  const size_t chunk = 8 + s0.hdr_len + s0.payload_len;
  // The datagrams are gathered straight from the segments (VXLAN header,
  // the segment's own headers, its slice of the frame): no copy here; the
  // kernel makes the only one.
  thread_local std::vector<iovec> iov;
  const int fd = ul_->gso_fd(FlowHash(s0.hdr, s0.hdr_len));
  sockaddr_in to = dst_;
  to.sin_port = htons(ul_->vxlan_port());
  const size_t per_send = BurstSegments(chunk);
  for (size_t done = 0; done < count;) {
    size_t n = std::min(per_send, count - done);
    iov.clear();
    for (size_t i = 0; i < n; i++) {
      const Segment& sg = segs[first + done + i];
      iov.push_back({outer_ + 28, 8});  // the VXLAN header
      iov.push_back({const_cast<uint8_t*>(sg.hdr), sg.hdr_len});
      if (sg.payload_len) iov.push_back({const_cast<uint8_t*>(sg.payload), sg.payload_len});
    }
    alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(uint16_t))];
    msghdr m;
    std::memset(&m, 0, sizeof(m));
    m.msg_name = &to;
    m.msg_namelen = sizeof(to);
    m.msg_iov = iov.data();
    m.msg_iovlen = iov.size();
    if (n > 1) {
      m.msg_control = ctrl;
      m.msg_controllen = sizeof(ctrl);
      cmsghdr* cm = CMSG_FIRSTHDR(&m);
      cm->cmsg_level = SOL_UDP;
      cm->cmsg_type = UDP_SEGMENT;
      cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      uint16_t gso = static_cast<uint16_t>(chunk);
      std::memcpy(CMSG_DATA(cm), &gso, sizeof(gso));
    }
    if (sendmsg(fd, &m, 0) < 0) {
      if (errno == EINTR) continue;
      // Refused (no UDP GSO on this route or device, a path MTU below the
      // segment, a full buffer): this burst leaves one by one, and only
      // this burst. Nothing is remembered: one odd flow must not switch
      // the offload off for every other.
      for (size_t i = 0; i < n; i++) refused.push_back(static_cast<uint32_t>(first + done + i));
      tx_stats.bursts_refused++;
    } else {
      tx_stats.bursts++;
    }
    done += n;
  }
  return true;
}

int TunnelPort::TxBatch(Frame* const* frames, int n, int* errors) {
  // Per thread, reused: a flood from a worker and a unicast from another
  // never share them.
  thread_local std::vector<Segment> segs;
  thread_local std::vector<uint8_t> outers;
  thread_local std::vector<iovec> iovs;
  thread_local std::vector<mmsghdr> msgs;
  thread_local std::vector<int> origin;  // frame index of each packet
  thread_local std::vector<uint32_t> refused;  // segments of bursts the kernel refused
  segs.clear();
  struct Piece {
    int frame;
    int seg;  // -1: the whole frame
    const uint8_t* data;
    uint32_t len;
  };
  thread_local std::vector<Piece> pieces;
  pieces.clear();
  thread_local std::vector<uint8_t> bad, lost;  // per frame, reused across calls
  bad.assign(n, 0);
  lost.assign(n, 0);
  for (int i = 0; i < n; i++) {
    auto* vh = reinterpret_cast<VnetHdr*>(frames[i]->buf);
    uint8_t* eth = frames[i]->buf + kVnetHdrLen;
    uint32_t len = frames[i]->len - kVnetHdrLen;
    if ((vh->gso_type & ~kGsoEcn) != 0) {
      if (encap_ == Encap::kVxlan && ul_->egress() != nullptr) {
        // Whole, through the host's stack; the source port as on every path.
        if (ul_->egress()->Send(outer_, ul_->SourcePort(FlowHash(eth, len)), *vh, eth, len)) {
          tx_stats.whole++;
          continue;
        }
      }
      size_t first = segs.size();
      if (SegmentGso(*vh, eth, len, segs) != GsoResult::kOk) {
        segs.resize(first);
        tx_stats.unsupported++;
        bad[i] = 1;
        continue;
      }
      tx_stats.gso_frames++;
      tx_stats.segments += segs.size() - first;
      refused.clear();
      if (SendVxlanGso(segs, first, segs.size() - first, refused)) {
        for (uint32_t s : refused) pieces.push_back({i, static_cast<int>(s), nullptr, 0});
        continue;
      }
      for (size_t s = first; s < segs.size(); s++) pieces.push_back({i, static_cast<int>(s), nullptr, 0});
    } else {
      if (!CompleteChecksum(vh, eth, len)) {
        tx_stats.unsupported++;
        bad[i] = 1;
        continue;
      }
      pieces.push_back({i, -1, eth, len});
    }
  }
  size_t np = pieces.size();
  outers.resize(np * kVxlanOuterLen);
  iovs.resize(np * 3);
  msgs.resize(np);
  origin.resize(np);
  for (size_t p = 0; p < np; p++) {
    Piece& pc = pieces[p];
    uint8_t* o = outers.data() + p * kVxlanOuterLen;
    std::memcpy(o, outer_, outer_len_);
    iovec* iov = iovs.data() + p * 3;
    size_t cnt = 0;
    iov[cnt++] = {o, outer_len_};
    uint32_t inner_len;
    const uint8_t* inner_start;
    if (pc.seg >= 0) {
      Segment& s = segs[pc.seg];
      iov[cnt++] = {s.hdr, s.hdr_len};
      if (s.payload_len) iov[cnt++] = {const_cast<uint8_t*>(s.payload), s.payload_len};
      inner_len = s.hdr_len + s.payload_len;
      inner_start = s.hdr;
    } else {
      iov[cnt++] = {const_cast<uint8_t*>(pc.data), pc.len};
      inner_len = pc.len;
      inner_start = pc.data;
    }
    if (encap_ == Encap::kVxlan) {
      uint16_t sport = htons(ul_->SourcePort(FlowHash(inner_start, inner_len)));
      uint16_t ulen = htons(static_cast<uint16_t>(8 + 8 + inner_len));
      std::memcpy(o + 20, &sport, 2);
      std::memcpy(o + 24, &ulen, 2);
    }
    std::memset(&msgs[p].msg_hdr, 0, sizeof(msghdr));
    msgs[p].msg_hdr.msg_name = &dst_;
    msgs[p].msg_hdr.msg_namelen = sizeof(dst_);
    msgs[p].msg_hdr.msg_iov = iov;
    msgs[p].msg_hdr.msg_iovlen = cnt;
    origin[p] = pc.frame;
  }
  // Blocking sends: a full socket buffer pushes back on the sender (as a
  // NIC queue would) instead of dropping segments of a TCP burst.
  size_t done = 0;
  while (done < np) {
    unsigned chunk = np - done > 256 ? 256 : static_cast<unsigned>(np - done);
    int r = sendmmsg(ul_->raw_fd(), msgs.data() + done, chunk, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      lost[origin[done]] = 1;  // this packet failed: skip it
      done++;
      continue;
    }
    done += r;
  }
  int sent = 0;
  for (int i = 0; i < n; i++) {
    if (bad[i] || lost[i]) (*errors)++;
    else sent++;
  }
  return sent;
}

}  // namespace weft
