#include "port_packet.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "sys.h"

namespace weft {

int OpenPacketSocket(const std::string& ifname, bool auxdata) {
  unsigned ifindex = if_nametoindex(ifname.c_str());
  if (ifindex == 0) throw std::runtime_error("no interface '" + ifname + "'");
  // Protocol 0: the socket receives nothing until bind(), so no frame of
  // another interface slips in between socket() and bind().
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw SysError("packet socket");
  auto fail = [&](const std::string& what) {
    auto err = SysError(what + " on " + ifname);
    close(fd);
    return err;
  };
  int one = 1;
  // virtio_net_hdr on every frame: GSO and checksum-partial frames from veth
  // defaults arrive whole and leave whole; nobody has to run ethtool.
  if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) < 0) throw fail("PACKET_VNET_HDR");
  if (auxdata && setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof(one)) < 0) throw fail("PACKET_AUXDATA");
  // Frames weft sends go straight to the driver, and frames the host itself
  // sends out of this interface are not switched back.
  setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
  setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
  int buf = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf));
  setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf));
  struct sockaddr_ll sll;
  std::memset(&sll, 0, sizeof(sll));
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = static_cast<int>(ifindex);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof(sll)) < 0) throw fail("bind");
  // A switch port sees every frame, not only those for the interface's MAC.
  struct packet_mreq mr;
  std::memset(&mr, 0, sizeof(mr));
  mr.mr_ifindex = static_cast<int>(ifindex);
  mr.mr_type = PACKET_MR_PROMISC;
  if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0) throw fail("promiscuous mode");
  return fd;
}

std::unique_ptr<PacketPort> PacketPort::Create(uint32_t id, uint32_t network, uint32_t mtu,
                                               const std::string& ifname) {
  auto p = std::make_unique<PacketPort>(id, network, mtu, OpenPacketSocket(ifname, false));
  p->MapRing();
  return p;
}

namespace {
// Ring geometry: 2 KB slots (a 1500-byte frame with its headers), 32 to a
// 64 KB block, 2048 slots (4 MB): a burst of small frames at line rate
// waits there while the worker is busy elsewhere.
constexpr uint32_t kRingSlotLen = 2048, kRingBlockLen = 1 << 16, kRingBlocks = 64;
constexpr uint32_t kRingSlots = kRingBlocks * (kRingBlockLen / kRingSlotLen);
constexpr size_t kRingLen = static_cast<size_t>(kRingBlockLen) * kRingBlocks;
}  // namespace

void PacketPort::MapRing() {
  int v = TPACKET_V2, one = 1;
  if (setsockopt(fd(), SOL_PACKET, PACKET_VERSION, &v, sizeof(v)) < 0) return;
  tpacket_req req;
  req.tp_block_size = kRingBlockLen;
  req.tp_block_nr = kRingBlocks;
  req.tp_frame_size = kRingSlotLen;
  req.tp_frame_nr = kRingSlots;
  // A frame too large for a slot (a GSO frame) is queued whole on the
  // socket too, its slot marked TP_STATUS_COPY.
  bool ok = setsockopt(fd(), SOL_PACKET, PACKET_COPY_THRESH, &one, sizeof(one)) == 0 &&
            setsockopt(fd(), SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) == 0;
  void* m = ok ? mmap(nullptr, kRingLen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd(), 0)
               : MAP_FAILED;
  if (m == MAP_FAILED) {
    // Back to plain reads: no ring, version 1 (a ring that was set is freed
    // by asking for one of no blocks).
    std::memset(&req, 0, sizeof(req));
    setsockopt(fd(), SOL_PACKET, PACKET_RX_RING, &req, sizeof(req));
    v = TPACKET_V1;
    setsockopt(fd(), SOL_PACKET, PACKET_VERSION, &v, sizeof(v));
    return;
  }
  ring_ = static_cast<uint8_t*>(m);
}

PacketPort::~PacketPort() {
  if (ring_ != nullptr) munmap(ring_, kRingLen);
}

int PacketPort::RxBatch(Frame* frames, int max) { return ring_ != nullptr ? RxRing(frames, max) : RxSocket(frames, max); }

int PacketPort::RxRing(Frame* frames, int max) {
  int n = 0;
  while (n < max) {
    auto* h = reinterpret_cast<tpacket2_hdr*>(ring_ + static_cast<size_t>(head_) * kRingSlotLen);
    uint32_t status = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
    if (!(status & TP_STATUS_USER)) break;
    Frame& f = frames[n];
    if (status & TP_STATUS_COPY) {
      // The whole frame waits on the socket, in the order of the ring.
      if (RxSocket(&f, 1) == 1) n++;
    } else {
      // The vnet header lies just before the frame, as on the socket.
      const uint8_t* vnet = reinterpret_cast<const uint8_t*>(h) + h->tp_mac - kVnetHdrLen;
      uint32_t len = h->tp_snaplen;
      std::memcpy(f.buf, vnet, kVnetHdrLen + len);
      f.len = static_cast<uint32_t>(kVnetHdrLen + len);
      f.truncated = len < h->tp_len;  // too large, and the socket had no room for the copy
      f.gbp = 0;
      n++;
    }
    __atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    head_ = head_ + 1 == kRingSlots ? 0 : head_ + 1;
  }
  return n;
}

int PacketPort::RxSocket(Frame* frames, int max) {
  struct mmsghdr msgs[kBatch];
  struct iovec iov[kBatch];
  if (max > kBatch) max = kBatch;
  for (int i = 0; i < max; i++) {
    iov[i].iov_base = frames[i].buf;
    iov[i].iov_len = kFrameBufLen;
    std::memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  int n = recvmmsg(fd(), msgs, max, MSG_DONTWAIT, nullptr);
  if (n <= 0) return 0;
  for (int i = 0; i < n; i++) {
    frames[i].len = msgs[i].msg_len;
    frames[i].truncated = (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
    frames[i].gbp = 0;
  }
  return n;
}

int PacketPort::TxBatch(Frame* const* frames, int n, Counters& c) {
  struct mmsghdr msgs[kBatch];
  struct iovec iov[kBatch];
  int sent = 0;
  while (sent < n) {
    int chunk = n - sent > kBatch ? kBatch : n - sent;
    for (int i = 0; i < chunk; i++) {
      iov[i].iov_base = frames[sent + i]->buf;
      iov[i].iov_len = frames[sent + i]->len;
      std::memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int r = sendmmsg(fd(), msgs, chunk, MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EAGAIN || errno == ENOBUFS) {
        c.Drop(queue_full, n - sent);  // queue full: the rest is dropped
        return sent;
      }
      // A frame the device refuses (e.g. too big) must not take the rest of
      // the batch down with it: skip it and go on.
      c.Drop(tx_error);
      n--;
      frames++;
      continue;
    }
    // A short count means the next frame failed: the next call reports why.
    sent += r;
  }
  return sent;
}

}  // namespace weft
