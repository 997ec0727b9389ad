#include "next_hop.h"

#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "sys.h"

namespace weft {

namespace {

// An unknown destination is asked about again after this long (its packets
// take the sockets meanwhile, which makes the kernel resolve it)...
constexpr double kRetryMs = 50;
// ... and a stale neighbour's packet takes the sockets this often, so the
// kernel probes it again.
constexpr double kVerifyMs = 1000;

int NetlinkSocket(uint32_t groups) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) throw SysError("rtnetlink socket");
  sockaddr_nl sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = groups;
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) < 0) {
    auto err = SysError("rtnetlink bind");
    close(fd);
    throw err;
  }
  return fd;
}

struct AddrRequest {
  nlmsghdr nh;
  union {
    rtmsg rt;
    ndmsg nd;
  };
  rtattr attr;
  uint32_t addr;
};

// A get request about one IPv4 address (RTA_DST and NDA_DST are both 1);
// the caller fills in the route or neighbour part.
AddrRequest Request(uint16_t type, uint32_t seq, uint32_t addr) {
  static_assert(static_cast<int>(RTA_DST) == static_cast<int>(NDA_DST), "one attribute type for both");
  AddrRequest req;
  std::memset(&req, 0, sizeof(req));
  req.nh.nlmsg_len = sizeof(req);
  req.nh.nlmsg_type = type;
  req.nh.nlmsg_flags = NLM_F_REQUEST;
  req.nh.nlmsg_seq = seq;
  req.attr.rta_type = RTA_DST;
  req.attr.rta_len = RTA_LENGTH(4);
  req.addr = addr;
  return req;
}

}  // namespace

NextHops::NextHops(int ifindex) : ifindex_(ifindex) {
  query_fd_ = NetlinkSocket(0);
  timeval tv = {0, 200000};  // the kernel answers at once; never hang a worker on it
  setsockopt(query_fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  try {
    events_fd_ = NetlinkSocket(RTMGRP_LINK | RTMGRP_NEIGH | RTMGRP_IPV4_ROUTE);
  } catch (...) {
    close(query_fd_);
    throw;
  }
  watcher_ = std::thread([this] { Watch(); });
}

NextHops::~NextHops() {
  stop_.store(true);
  watcher_.join();
  close(events_fd_);
  close(query_fd_);
}

void NextHops::Watch() {
  char drain[8192];
  while (!stop_.load()) {
    pollfd p = {events_fd_, POLLIN, 0};
    if (poll(&p, 1, 250) <= 0) continue;
    // Any change to links, neighbours or routes: every answer is asked
    // again when next used. Overflowed notices (ENOBUFS) mean the same.
    while (recv(events_fd_, drain, sizeof(drain), MSG_DONTWAIT) > 0 || errno == ENOBUFS) {
    }
    generation_.fetch_add(1);
  }
}

int NextHops::Ask(const void* req, size_t len) {
  if (send(query_fd_, req, len, 0) < 0) return -errno;
  uint32_t seq = reinterpret_cast<const nlmsghdr*>(req)->nlmsg_seq;
  for (;;) {
    ssize_t n = recv(query_fd_, buf_, sizeof(buf_), 0);
    if (n < 0) return -errno;
    auto* nh = reinterpret_cast<nlmsghdr*>(buf_);
    if (!NLMSG_OK(nh, static_cast<size_t>(n)) || nh->nlmsg_seq != seq) continue;  // an old answer
    if (nh->nlmsg_type == NLMSG_ERROR) {
      int err = reinterpret_cast<nlmsgerr*>(NLMSG_DATA(nh))->error;
      return err < 0 ? err : -EINVAL;
    }
    return static_cast<int>(nh->nlmsg_len);
  }
}

bool NextHops::Route(uint32_t dst, uint32_t* gateway) {
  AddrRequest req = Request(RTM_GETROUTE, ++seq_, dst);
  req.rt.rtm_family = AF_INET;
  req.rt.rtm_dst_len = 32;
  if (Ask(&req, sizeof(req)) <= 0) return false;
  auto* nh = reinterpret_cast<nlmsghdr*>(buf_);
  auto* rt = static_cast<rtmsg*>(NLMSG_DATA(nh));
  if (nh->nlmsg_type != RTM_NEWROUTE || rt->rtm_type != RTN_UNICAST) return false;
  int oif = 0;
  *gateway = 0;
  int left = RTM_PAYLOAD(nh);
  for (rtattr* a = RTM_RTA(rt); RTA_OK(a, left); a = RTA_NEXT(a, left)) {
    if (a->rta_type == RTA_OIF) std::memcpy(&oif, RTA_DATA(a), 4);
    if (a->rta_type == RTA_GATEWAY) std::memcpy(gateway, RTA_DATA(a), 4);
  }
  return oif == ifindex_;
}

bool NextHops::Neighbour(uint32_t addr, Entry& e) {
  AddrRequest req = Request(RTM_GETNEIGH, ++seq_, addr);
  req.nd.ndm_family = AF_INET;
  req.nd.ndm_ifindex = ifindex_;
  if (Ask(&req, sizeof(req)) <= 0) return false;
  auto* nh = reinterpret_cast<nlmsghdr*>(buf_);
  auto* nd = static_cast<ndmsg*>(NLMSG_DATA(nh));
  if (nh->nlmsg_type != RTM_NEWNEIGH) return false;
  constexpr uint16_t kUsable = NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT;
  if (!(nd->ndm_state & kUsable)) return false;
  bool have = false;
  int left = static_cast<int>(nh->nlmsg_len - NLMSG_LENGTH(sizeof(ndmsg)));
  for (auto* a = reinterpret_cast<rtattr*>(reinterpret_cast<uint8_t*>(nd) + NLMSG_ALIGN(sizeof(ndmsg))); RTA_OK(a, left);
       a = RTA_NEXT(a, left)) {
    if (a->rta_type == NDA_LLADDR && RTA_PAYLOAD(a) == 6) {
      std::memcpy(e.mac, RTA_DATA(a), 6);
      have = true;
    }
  }
  e.stale = (nd->ndm_state & NUD_STALE) != 0;
  return have;
}

void NextHops::Resolve(uint32_t dst, Entry& e, double now_ms) {
  e.generation = generation_.load();
  uint32_t gateway = 0;
  e.ok = Route(dst, &gateway) && Neighbour(gateway ? gateway : dst, e);
  e.retry_at = now_ms + kRetryMs;
  e.verify_at = now_ms + kVerifyMs;
}

bool NextHops::Lookup(uint32_t dst, uint8_t* mac, double now_ms) {
  Entry& e = cache_[dst];
  if (e.generation != generation_.load() || (!e.ok && now_ms >= e.retry_at)) Resolve(dst, e, now_ms);
  if (!e.ok) return false;
  if (e.stale && now_ms >= e.verify_at) {
    e.verify_at = now_ms + kVerifyMs;
    return false;  // this one packet by the sockets: the kernel confirms the neighbour
  }
  std::memcpy(mac, e.mac, 6);
  return true;
}

}  // namespace weft
