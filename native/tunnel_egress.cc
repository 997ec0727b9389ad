#include "tunnel_egress.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "checksum.h"
#include "sys.h"

#ifndef TUN_F_UDP_TUNNEL_GSO
#define TUN_F_UDP_TUNNEL_GSO 0x080
#endif

namespace weft {

namespace {

// virtio_net_hdr_v1_hash_tunnel (include/uapi/linux/virtio_net.h, 6.17+):
// the v1 header, the hash fields (unused here), and where the outer
// transport header and the inner network header start.
struct TunnelVnetHdr {
  VnetHdr base;
  uint16_t num_buffers;
  uint32_t hash_value;
  uint16_t hash_report;
  uint16_t padding;
  uint16_t outer_th_offset;
  uint16_t inner_nh_offset;
} __attribute__((packed));
static_assert(sizeof(TunnelVnetHdr) == 24, "virtio_net_hdr_v1_hash_tunnel is 24 bytes");

constexpr uint8_t kGsoUdpTunnelV4 = 0x20;
constexpr uint32_t kOuterEth = kEthHdrLen + kTunnelOuterLen;  // where the inner frame starts

}  // namespace

std::unique_ptr<TunnelEgress> TunnelEgress::Create(const std::string& ifname) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ) throw std::runtime_error("bad interface name '" + ifname + "'");
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw SysError("open /dev/net/tun");
  struct ifreq ifr;
  std::memset(&ifr, 0, sizeof(ifr));
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  std::strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  int hdrlen = sizeof(TunnelVnetHdr);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETVNETHDRSZ, &hdrlen) < 0) {
    auto err = SysError("create tunnel egress " + ifname);
    close(fd);
    throw err;
  }
  unsigned offloads = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN | TUN_F_UDP_TUNNEL_GSO;
  if (ioctl(fd, TUNSETOFFLOAD, offloads) < 0) {
    close(fd);
    throw std::runtime_error("this kernel does not take UDP tunnel GSO frames on a TAP device (Linux 6.17 or later does)");
  }
  uint8_t mac[6];
  if (!InterfaceMac(ifname, mac)) {
    auto err = SysError("read the address of " + ifname);
    close(fd);
    throw err;
  }
  return std::unique_ptr<TunnelEgress>(new TunnelEgress(fd, mac));
}

TunnelEgress::TunnelEgress(int fd, const uint8_t* mac) : fd_(fd) { std::memcpy(mac_, mac, 6); }

TunnelEgress::~TunnelEgress() { close(fd_); }

bool TunnelEgress::Send(const uint8_t* outer, uint16_t source_port, const VnetHdr& vh, const uint8_t* frame, uint32_t len) {
  uint8_t inner_gso = vh.gso_type & ~kGsoEcn;
  constexpr uint16_t kTcpCsumAt = offsetof(TcpHdr, csum);
  if ((inner_gso != kGsoTcpV4 && inner_gso != kGsoTcpV6) || !(vh.flags & kVnetNeedsCsum) || vh.csum_offset != kTcpCsumAt) {
    return false;
  }
  // One IPv4 packet, however large.
  if (kTunnelOuterLen + len > 65535 || len < kEthHdrLen + sizeof(VlanTag)) return false;
  // The offsets below move by the outer headers' length and must still
  // point into this frame (a container's own header, checked before, may
  // be anything a packet socket let it write).
  if (vh.csum_start < kEthHdrLen || vh.csum_start + sizeof(TcpHdr) > len || vh.hdr_len > len) return false;
  const auto* inner_eth = reinterpret_cast<const EthHdr*>(frame);
  uint32_t inner_l3 = inner_eth->type.get() == kEthVlan ? kEthHdrLen + sizeof(VlanTag) : kEthHdrLen;

  struct {
    TunnelVnetHdr vh;
    uint8_t eth[kEthHdrLen];
    uint8_t outer[kTunnelOuterLen];
  } __attribute__((packed)) h;
  std::memset(&h.vh, 0, sizeof(h.vh));
  // The inner TCP checksum stays partial, as the sender left it.
  h.vh.base.flags = kVnetNeedsCsum;
  h.vh.base.gso_type = static_cast<uint8_t>(kGsoUdpTunnelV4 | vh.gso_type);
  h.vh.base.gso_size = vh.gso_size;
  h.vh.base.csum_start = static_cast<uint16_t>(kOuterEth + vh.csum_start);
  h.vh.base.csum_offset = kTcpCsumAt;
  h.vh.base.hdr_len = static_cast<uint16_t>(kOuterEth + (vh.hdr_len ? vh.hdr_len : vh.csum_start + sizeof(TcpHdr)));
  h.vh.outer_th_offset = kEthHdrLen + kOuterUdpAt;
  h.vh.inner_nh_offset = static_cast<uint16_t>(kOuterEth + inner_l3);
  // To this device, from a made-up neighbour: the host takes it in and
  // routes it on.
  std::memcpy(h.eth, mac_, 6);
  static const uint8_t kFrom[6] = {0x02, 0x57, 0x45, 0x46, 0x54, 0x00};
  std::memcpy(h.eth + 6, kFrom, 6);
  Put16(h.eth + offsetof(EthHdr, type), kEthIPv4);
  std::memcpy(h.outer, outer, kTunnelOuterLen);
  auto* ip = reinterpret_cast<Ipv4Hdr*>(h.outer);
  ip->tot_len.set(static_cast<uint16_t>(kTunnelOuterLen + len));
  ip->ttl = 65;  // forwarding takes one off: it leaves with 64 like the socket path's
  ip->csum.set(0);
  ip->csum.set(CsumFold(CsumAdd(h.outer, sizeof(Ipv4Hdr))));
  auto* udp = reinterpret_cast<UdpHdr*>(h.outer + kOuterUdpAt);
  udp->sport.set(source_port);
  udp->len.set(static_cast<uint16_t>(sizeof(UdpHdr) + sizeof(VxlanHdr) + len));
  udp->csum.set(0);  // RFC 7348
  iovec iov[2] = {{&h, sizeof(h)}, {const_cast<uint8_t*>(frame), len}};
  return writev(fd_, iov, 2) == static_cast<ssize_t>(sizeof(h) + len);
}

}  // namespace weft
