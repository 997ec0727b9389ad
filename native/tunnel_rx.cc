// Tunnel receive: the worker reads the underlay's VXLAN and GRE sockets
// with recvmmsg (a VXLAN message may be a UDP_GRO train, udp_gro.h), pops
// each datagram's tunnel header (tunnel.cc), accepts it only from a VTEP
// the control plane knows on that network, verifies or completes the inner
// checksum once, joins TCP segments back into GSO frames (coalesce.h) and
// switches the result like frames read from a port.
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include "gso.h"
#include "udp_gro.h"
#include "worker.h"

namespace weft {

void Worker::RxTunnel(const Tables& t, Encap encap, double now) {
  Underlay* ul = underlay_.get();
  if (ul == nullptr) return;
  int fd = encap == Encap::kVxlan ? ul->vxlan_fd() : ul->gre_fd();
  // VXLAN payloads land 2 bytes in, so the 8-byte header ends exactly where
  // a vnet header before the inner frame ends; GRE arrives with its IP
  // header, and the inner frame starts further in.
  const size_t at = encap == Encap::kVxlan ? kVnetHdrLen - 8 : 0;
  for (int round = 0; round < kRoundsPerPort; round++) {
    mmsghdr msgs[kBatch];
    iovec iov[kBatch];
    sockaddr_in from[kBatch];
    // With UDP_GRO on the VXLAN socket, one message may be a train of
    // datagrams of `gso_size` bytes each (the last one shorter).
    alignas(cmsghdr) char ctrl[kBatch][kUdpGroCtrlLen];
    for (int i = 0; i < kBatch; i++) {
      iov[i] = {frames_[i].buf + at, kFrameBufLen - at};
      std::memset(&msgs[i].msg_hdr, 0, sizeof(msghdr));
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &from[i];
      msgs[i].msg_hdr.msg_namelen = sizeof(from[i]);
      msgs[i].msg_hdr.msg_control = ctrl[i];
      msgs[i].msg_hdr.msg_controllen = sizeof(ctrl[i]);
    }
    int n = recvmmsg(fd, msgs, kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) break;
    decapped_.clear();
    for (int i = 0; i < n; i++) {
      uint32_t total = msgs[i].msg_len;
      uint32_t gso = GetGsoSize(msgs[i].msg_hdr);
      if (total == 0) {
        counters_.Drop(bad_tunnel_hdr);
        continue;
      }
      if (gso == 0 || encap != Encap::kVxlan) gso = total;
      if (capture_ != nullptr && capture_->active()) CaptureUnderlayRx(encap, frames_[i].buf + at, total, gso, from[i]);
      // Cut short by the buffer (it holds the largest datagram, so this
      // does not happen): only the last datagram of a train lost its end.
      bool truncated = (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
      for (uint32_t off = 0; off < total; off += gso) {
        uint32_t len = total - off < gso ? total - off : gso;
        Decap(t, encap, frames_[i].buf + at + off, len, from[i].sin_addr.s_addr, off == 0,
              truncated && off + len == total);
      }
    }
    SwitchDecapped(t, now);
    if (n < kBatch) break;
  }
}

void Worker::SwitchDecapped(const Tables& t, double now) {
  Coalescer::Joined joined = coalescer_.Run(decapped_, outgoing_);
  counters_.Global(coalesced_frames, joined.frames);
  counters_.Global(coalesced_segments, joined.segments);
  for (Outgoing& o : outgoing_) Switch(t, *o.port, &o.frame, 1, now);
  Flush(t);
  outgoing_.clear();
}

void Worker::RxXsk(const Tables& t, uint32_t queue, double now) {
  XdpUnderlay* xu = underlay_ ? underlay_->xdp() : nullptr;
  if (xu == nullptr || queue >= xu->queues()) return;
  XskSocket& x = xu->socket(queue);
  for (int round = 0; round < kRoundsPerPort; round++) {
    decapped_.clear();
    int used = 0;
    // Each packet is copied out of its chunk where the socket path would
    // have put it (the chunk goes back to the kernel at once), then
    // decapsulated exactly as a socket's would be.
    int n = x.Receive(kBatch, [&](const uint8_t* pkt, uint32_t len) {
      // What the program let through, checked again as any input is.
      const auto* ip = reinterpret_cast<const Ipv4Hdr*>(pkt + kEthHdrLen);
      if (len < kEthHdrLen + sizeof(Ipv4Hdr) || ip->version() != 4 || ip->ihl() < sizeof(Ipv4Hdr) ||
          ip->tot_len.get() < ip->ihl() || ip->tot_len.get() > len - kEthHdrLen) {
        counters_.Drop(bad_tunnel_hdr);
        return;
      }
      const uint32_t ip_len = ip->tot_len.get();  // Ethernet padding cut off
      uint32_t from;
      std::memcpy(&from, ip->saddr, 4);
      if (capture_ != nullptr && capture_->active()) capture_->CopyUnderlay(index_, kCapIn, reinterpret_cast<const uint8_t*>(ip), ip_len, counters_);
      Frame& f = frames_[used++];
      if (ip->proto == kIpProtoUdp) {
        const uint32_t hl = ip->ihl() + sizeof(UdpHdr);
        if (ip_len < hl) {
          counters_.Drop(bad_tunnel_hdr);
          return;
        }
        const size_t at = kVnetHdrLen - 8;  // as RxTunnel places a VXLAN payload
        std::memcpy(f.buf + at, reinterpret_cast<const uint8_t*>(ip) + hl, ip_len - hl);
        Decap(t, Encap::kVxlan, f.buf + at, ip_len - hl, from, true, false);
      } else {
        std::memcpy(f.buf, ip, ip_len);  // GRE: the IPv4 packet, as a raw socket gives it
        Decap(t, Encap::kGre, f.buf, ip_len, from, true, false);
      }
    });
    if (n == 0) break;
    counters_.Global(xdp_rx, n);
    SwitchDecapped(t, now);
    if (n < kBatch) break;
  }
}

// What the underlay socket gave, as the outer packets that arrived: GRE
// comes with its IPv4 header; a VXLAN message (each datagram of a GRO
// train) gets its IPv4 and UDP headers made up.
void Worker::CaptureUnderlayRx(Encap encap, const uint8_t* p, uint32_t total, uint32_t gso, const sockaddr_in& from) {
  if (encap != Encap::kVxlan) {
    capture_->CopyUnderlay(index_, kCapIn, p, total, counters_);
    return;
  }
  const uint16_t dport = htons(underlay_->vxlan_port());
  for (uint32_t off = 0; off < total; off += gso) {
    iovec iov = {const_cast<uint8_t*>(p + off), total - off < gso ? total - off : gso};
    capture_->CopyUnderlayUdp(index_, kCapIn, from.sin_addr.s_addr, from.sin_port, underlay_->local_ip(), dport, &iov, 1, counters_);
  }
}

void Worker::Decap(const Tables& t, Encap encap, uint8_t* base, uint32_t len, uint32_t from, bool room_before,
                   bool truncated) {
  Popped pop;
  if (!(encap == Encap::kVxlan ? PopVxlan(base, len, &pop) : PopGre(base, len, &pop)) && !pop.bad_flags) {
    NoteTunnelDrop(bad_tunnel_hdr, 0, nullptr, len, from);
    return;
  }
  len = pop.inner_len;
  const uint32_t vni = pop.vni, off = pop.inner_off;
  uint8_t* inner = base + off;
  auto net = t.vni_net.find(static_cast<uint64_t>(encap) << 32 | vni);
  if (net == t.vni_net.end()) {
    NoteTunnelDrop(unknown_vni, 0, inner, len, from);
    return;
  }
  // Only VTEPs the control plane knows for this network may inject into it.
  auto vp = t.vtep_port.find(static_cast<uint64_t>(net->second) << 32 | from);
  const Port* tp = vp == t.vtep_port.end() ? nullptr : t.port(vp->second);
  if (tp == nullptr) {
    NoteTunnelDrop(unknown_vtep, net->second, inner, len, from);
    return;
  }
  // Who may send is settled first; then what they sent.
  if (pop.bad_flags) {
    NoteTunnelDrop(vxlan_bad_flags, net->second, inner, len, from);
    return;
  }
  if (len < kEthHdrLen) {
    NoteTunnelDrop(runt, net->second, inner, len, from);
    return;
  }
  counters_.Global(tunnel_rx);
  if (pop.gbp != 0) counters_.Global(gbp_rx);
  Decapped d{tp, inner, len, {}, room_before, truncated, ParseL3L4(inner, len), pop.gbp};
  // Verified (or completed, when a kernel sender left it partial): the
  // receiving stack need not check it again. A kernel VTEP's whole TCP
  // super-frame is described as GSO for the output port's kernel to cut.
  if (len > tp->max_frame()) DescribeInnerGso(&d.vh, inner, len, d.parsed, tp->mtu());
  else if (FinishReceivedChecksum(inner, len, d.parsed)) d.vh.flags = kVnetDataValid;
  decapped_.push_back(d);
}

}  // namespace weft
