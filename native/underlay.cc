#include "underlay.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "sys.h"

namespace weft {

namespace {

// Socket buffers of the underlay: a burst of 64 KB super-frames cut into
// segments must fit without drops while the worker is busy elsewhere.
constexpr int kUnderlaySockBuf = 16 << 20;
// UDP sockets with UDP_SEGMENT, one source port each (flows hash to one).
constexpr int kGsoSockets = 8;

int Bound(int type, int proto, uint32_t ip, uint16_t port, const char* what) {
  int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
  if (fd < 0) throw SysError(what);
  int buf = kUnderlaySockBuf;
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
    int buf = kUnderlaySockBuf;
    setsockopt(raw, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf));
  } catch (...) {
    close(vx);
    if (gre >= 0) close(gre);
    throw;
  }
  auto ul = std::shared_ptr<Underlay>(new Underlay(vx, gre, raw, local_ip, vxlan_port));
  ul->egress_ = std::move(egress);
  for (int i = 0; i < kGsoSockets; i++) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
    if (fd < 0) break;
    sockaddr_in sa;
    std::memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = local_ip;
    int pmtu = IP_PMTUDISC_DONT;  // like the raw path: no DF on the outer header
    int buf = kUnderlaySockBuf;
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

}  // namespace weft
