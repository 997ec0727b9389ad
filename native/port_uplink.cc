#include "port_uplink.h"

#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "gso.h"
#include "port_packet.h"
#include "sys.h"

namespace weft {

std::unique_ptr<UplinkPort> UplinkPort::Create(uint32_t id, const std::string& ifname) {
  int fd = OpenPacketSocket(ifname, true);
  unsigned ifindex = if_nametoindex(ifname.c_str());
  // The interface's MTU, for what it reports; the VLAN ports carry their own.
  int mtu = 0;
  if (!InterfaceMtu(ifname, &mtu) || mtu <= 0) mtu = 1500;
  return std::make_unique<UplinkPort>(id, static_cast<uint32_t>(mtu), fd, ifindex);
}

int UplinkPort::TxBatch(Frame* const*, int n, Counters& c) {
  c.Drop(no_port, n);  // never in a flood list nor an fdb target: nothing gets here
  return 0;
}

namespace {

// The frame's VLAN tag from its PACKET_AUXDATA message; kUntagged when the
// kernel took none off.
int32_t AuxVid(msghdr& h) {
  for (cmsghdr* cm = CMSG_FIRSTHDR(&h); cm != nullptr; cm = CMSG_NXTHDR(&h, cm)) {
    if (cm->cmsg_level != SOL_PACKET || cm->cmsg_type != PACKET_AUXDATA) continue;
    tpacket_auxdata aux;
    std::memcpy(&aux, CMSG_DATA(cm), sizeof(aux));
    if (!(aux.tp_status & TP_STATUS_VLAN_VALID)) return UplinkPort::kUntagged;
    if ((aux.tp_status & TP_STATUS_VLAN_TPID_VALID) && aux.tp_vlan_tpid != kEthVlan) return UplinkPort::kForeignTag;
    return aux.tp_vlan_tci & 0xfff;
  }
  return UplinkPort::kUntagged;
}

}  // namespace

// Rare: a kernel strips tags before taps (into auxdata).
int32_t PopVlanTag(Frame& f) {
  uint8_t* eth = f.buf + kVnetHdrLen;
  uint32_t elen = f.len - kVnetHdrLen;
  if (Get16(eth + 12) != kEthVlan) return UplinkPort::kUntagged;
  if (elen < kEthHdrLen + kVlanTagLen) return UplinkPort::kBadTag;
  int32_t vid = Get16(eth + 14) & 0xfff;
  std::memmove(eth + 12, eth + 12 + kVlanTagLen, elen - 12 - kVlanTagLen);
  f.len -= kVlanTagLen;
  auto* vh = reinterpret_cast<VnetHdr*>(f.buf);
  if ((vh->flags & kVnetNeedsCsum) && vh->csum_start >= kEthHdrLen + kVlanTagLen) vh->csum_start -= kVlanTagLen;
  if (vh->gso_type != 0 && vh->hdr_len >= kEthHdrLen + kVlanTagLen) vh->hdr_len -= kVlanTagLen;
  return vid;
}

namespace {

constexpr size_t kAuxLen = CMSG_SPACE(sizeof(tpacket_auxdata));

}  // namespace

int UplinkPort::RxTagged(Frame* frames, int max, int32_t* vids) {
  mmsghdr msgs[kBatch];
  iovec iov[kBatch];
  alignas(cmsghdr) char ctrl[kBatch][kAuxLen];
  if (max > kBatch) max = kBatch;
  for (int i = 0; i < max; i++) {
    iov[i] = {frames[i].buf, kFrameBufLen};
    std::memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_control = ctrl[i];
    msgs[i].msg_hdr.msg_controllen = kAuxLen;
  }
  int n = recvmmsg(fd(), msgs, max, MSG_DONTWAIT, nullptr);
  if (n <= 0) return 0;
  for (int i = 0; i < n; i++) {
    Frame& f = frames[i];
    f.len = msgs[i].msg_len;
    f.truncated = (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
    f.gbp = 0;
    vids[i] = AuxVid(msgs[i].msg_hdr);
    // A frame too short for its Ethernet header is the switch's runt.
    if (vids[i] == kUntagged && !f.truncated && f.len >= kVnetHdrLen + kEthHdrLen) vids[i] = PopVlanTag(f);
  }
  return n;
}

namespace {

// One tagged message: the vnet header, the MACs, the tag, the rest.
void TaggedMsg(mmsghdr& m, iovec* iov, VnetHdr* vh, const uint8_t* tag, const uint8_t* eth, uint32_t hdr_len,
               const uint8_t* payload, uint32_t payload_len) {
  iov[0] = {vh, kVnetHdrLen};
  iov[1] = {const_cast<uint8_t*>(eth), 12};
  iov[2] = {const_cast<uint8_t*>(tag), kVlanTagLen};
  iov[3] = {const_cast<uint8_t*>(eth + 12), hdr_len - 12};
  iov[4] = {const_cast<uint8_t*>(payload), payload_len};
  std::memset(&m.msg_hdr, 0, sizeof(m.msg_hdr));
  m.msg_hdr.msg_iov = iov;
  m.msg_hdr.msg_iovlen = payload_len != 0 ? 5 : 4;
}

}  // namespace

bool UplinkPort::TxSegmented(const Frame& f, const uint8_t* tag, Counters& c) {
  thread_local std::vector<Segment> segs;
  const uint8_t* eth = f.buf + kVnetHdrLen;
  uint32_t elen = f.len - kVnetHdrLen;
  segs.clear();
  if (SegmentGso(*reinterpret_cast<const VnetHdr*>(f.buf), eth, elen, ParseL3L4(eth, elen), segs) != GsoResult::kOk) {
    return false;
  }
  mmsghdr msgs[kBatch];
  iovec iov[kBatch][5];
  VnetHdr none{};  // segments leave with their checksums complete
  size_t done = 0;
  while (done < segs.size()) {
    size_t m = segs.size() - done < kBatch ? segs.size() - done : kBatch;
    for (size_t k = 0; k < m; k++) {
      const Segment& sg = segs[done + k];
      TaggedMsg(msgs[k], iov[k], &none, tag, sg.hdr, sg.hdr_len, sg.payload, sg.payload_len);
    }
    int r = sendmmsg(fd(), msgs, static_cast<unsigned>(m), MSG_DONTWAIT);
    if (r <= 0) return false;  // the frame is lost whole, as a device queue drops an skb
    done += static_cast<size_t>(r);
  }
  c.Global(gso_segmented);
  c.Global(gso_segments, segs.size());
  return true;
}

int UplinkPort::TxTagged(Frame* const* frames, int n, uint16_t vid, uint32_t max_len, Counters& c) {
  mmsghdr msgs[kBatch];
  iovec iov[kBatch][5];
  VnetHdr vh[kBatch];     // each frame's own: its offsets move by the tag
  const Frame* of[kBatch];  // the frame of each message
  const uint8_t tag[kVlanTagLen] = {kEthVlan >> 8, kEthVlan & 0xff, static_cast<uint8_t>(vid >> 8),
                                    static_cast<uint8_t>(vid & 0xff)};
  int sent = 0, i = 0;
  while (i < n) {
    int m = 0;
    for (; i < n && m < kBatch; i++) {
      const uint8_t* eth = frames[i]->buf + kVnetHdrLen;
      uint32_t elen = frames[i]->len - kVnetHdrLen;
      std::memcpy(&vh[m], frames[i]->buf, kVnetHdrLen);
      if ((vh[m].gso_type & ~kGsoEcn) == 0 && elen > max_len) {
        c.Drop(oversized);
        continue;
      }
      if (vh[m].flags & kVnetNeedsCsum) vh[m].csum_start += kVlanTagLen;
      if (vh[m].gso_type != 0 && vh[m].hdr_len != 0) vh[m].hdr_len += kVlanTagLen;
      TaggedMsg(msgs[m], iov[m], &vh[m], tag, eth, elen, nullptr, 0);
      of[m] = frames[i];
      m++;
    }
    int k = 0;
    while (k < m) {
      int r = sendmmsg(fd(), msgs + k, m - k, MSG_DONTWAIT);
      if (r >= 0) {
        // A short count means the next frame failed: the next call says why.
        sent += r;
        k += r;
        continue;
      }
      if (errno == EAGAIN || errno == ENOBUFS) {
        // A device that cannot segment tagged frames itself refuses GSO
        // frames this way too (the qdisc is bypassed, so the kernel does
        // not cut them): cut here and send the segments.
        if ((vh[k].gso_type & ~kGsoEcn) != 0 && TxSegmented(*of[k], tag, c)) {
          sent++;
          k++;
          continue;
        }
        c.Drop(queue_full, (m - k) + (n - i));  // queue full: the rest is dropped
        c.Global(uplink_tx, sent);
        return sent;
      }
      // One frame the device refuses must not take the rest down with it.
      c.Drop(tx_error);
      k++;
    }
  }
  c.Global(uplink_tx, sent);
  return sent;
}

}  // namespace weft
