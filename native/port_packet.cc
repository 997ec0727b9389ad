#include "port_packet.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace weft {

static std::runtime_error SysError(const std::string& what) {
  return std::runtime_error(what + ": " + std::strerror(errno));
}

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
  return std::make_unique<PacketPort>(id, network, mtu, OpenPacketSocket(ifname, false));
}

int PacketPort::RxBatch(Frame* frames, int max) {
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
