#include "xdp_underlay.h"

#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "checksum.h"
#include "common.h"
#include "headers.h"
#include "sys.h"

namespace weft {

namespace {

// Sockets at most: a queue beyond this has none (its packets pass to the
// kernel, and the sockets there).
constexpr uint32_t kMaxQueues = 16;

// The device's MAC, MTU and receive queues.
struct DeviceFacts {
  uint8_t mac[6];
  int mtu;
  uint32_t queues;
};

DeviceFacts Facts(const std::string& ifname) {
  DeviceFacts f{};
  if (!InterfaceMac(ifname, f.mac)) throw SysError("cannot read the address of " + ifname);
  if (!InterfaceMtu(ifname, &f.mtu)) throw SysError("cannot read the MTU of " + ifname);
  // Receive queues (ETHTOOL_GCHANNELS); a driver without it has one.
  ethtool_channels ch{};
  ch.cmd = ETHTOOL_GCHANNELS;
  ifreq ifr{};
  ifr.ifr_data = reinterpret_cast<char*>(&ch);
  f.queues = 1;
  if (InterfaceIoctl(ifname, SIOCETHTOOL, ifr)) {
    uint32_t q = ch.rx_count + ch.combined_count;
    if (q > 0) f.queues = q;
  }
  if (f.queues > kMaxQueues) f.queues = kMaxQueues;
  return f;
}

}  // namespace

std::unique_ptr<XdpUnderlay> XdpUnderlay::Open(const std::string& ifname, uint32_t local_ip, uint16_t vxlan_port,
                                               bool vxlan, bool gre) {
  int ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
  if (ifindex == 0) throw std::runtime_error("no interface '" + ifname + "'");
  DeviceFacts f = Facts(ifname);
  // A chunk holds one whole frame behind the kernel's headroom.
  uint32_t frame = static_cast<uint32_t>(f.mtu) + kEthHdrLen + 4;
  uint32_t chunk = frame + kXdpHeadroom <= 2048 ? 2048 : 4096;
  if (frame + kXdpHeadroom > chunk) throw std::runtime_error("MTU " + std::to_string(f.mtu) + " is too large for AF_XDP without multi-buffer");
  std::unique_ptr<XdpUnderlay> u(new XdpUnderlay(ifname, ifindex));
  std::memcpy(u->mac_, f.mac, 6);
  u->vxlan_ = vxlan;
  u->gre_ = gre;
  for (uint32_t q = 0; q < f.queues; q++) u->xsks_.push_back(XskSocket::Open(ifindex, q, chunk));
  u->steer_ = XdpSteer::Attach(ifindex, local_ip, vxlan_port, vxlan, gre, f.queues);
  for (uint32_t q = 0; q < f.queues; q++) u->steer_->SetSocket(q, u->xsks_[q]->fd());
  return u;
}

XdpUnderlay::~XdpUnderlay() { steer_.reset(); }

size_t XdpUnderlay::Send(uint32_t remote, mmsghdr* msgs, size_t n) {
  std::lock_guard<std::mutex> lock(tx_mu_);
  EthHdr eth;
  if (!hops_.Lookup(remote, eth.dst, NowMs())) return 0;
  std::memcpy(eth.src, mac_, 6);
  eth.type.set(kEthIPv4);
  XskSocket& x = *xsks_[0];
  size_t sent = 0;
  for (; sent < n; sent++) {
    const msghdr& m = msgs[sent].msg_hdr;
    size_t total = 0;
    for (size_t i = 0; i < m.msg_iovlen; i++) total += m.msg_iov[i].iov_len;
    if (kEthHdrLen + total > x.max_frame() || total < sizeof(Ipv4Hdr)) break;
    uint8_t* out = x.TxChunk();
    if (out == nullptr) break;
    std::memcpy(out, &eth, kEthHdrLen);
    uint8_t* p = out + kEthHdrLen;
    for (size_t i = 0; i < m.msg_iovlen; i++) {
      std::memcpy(p, m.msg_iov[i].iov_base, m.msg_iov[i].iov_len);
      p += m.msg_iov[i].iov_len;
    }
    // What the raw socket's kernel would fill in.
    auto* ip = reinterpret_cast<Ipv4Hdr*>(out + kEthHdrLen);
    ip->tot_len.set(static_cast<uint16_t>(total));
    ip->id.set(ip_id_++);
    ip->csum.set(0);
    ip->csum.set(CsumFold(CsumAdd(out + kEthHdrLen, ip->ihl())));
    x.TxPush(static_cast<uint32_t>(kEthHdrLen + total));
  }
  x.TxFlush();
  return sent;
}

}  // namespace weft
