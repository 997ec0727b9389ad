#include "port_tap.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <sched.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <utility>

#include "sys.h"
#include "uring_batch.h"

namespace weft {

Port::~Port() {
  if (fd_ >= 0) close(fd_);
}

// A tun fd belongs to the namespace it was opened in (TUNSETIFF looks the
// name up there), so it is opened on a short-lived thread that has entered
// `netns`; setns() changes only that thread.
static int OpenTunIn(const std::string& netns) {
  int fd = -1, err = 0;
  std::string what;
  std::thread t([&] {
    int ns = open(netns.c_str(), O_RDONLY | O_CLOEXEC);
    if (ns < 0) {
      err = errno, what = "open " + netns;
      return;
    }
    if (setns(ns, CLONE_NEWNET) < 0) {
      err = errno, what = "enter " + netns;
      close(ns);
      return;
    }
    close(ns);
    fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) err = errno, what = "open /dev/net/tun in " + netns;
  });
  t.join();
  if (fd < 0) {
    errno = err;
    throw SysError(what);
  }
  return fd;
}

std::unique_ptr<TapPort> TapPort::Create(uint32_t id, uint32_t network, uint32_t mtu,
                                         const std::string& ifname, const std::string& netns) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ) throw std::runtime_error("bad interface name '" + ifname + "'");
  int fd = netns.empty() ? open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC) : OpenTunIn(netns);
  if (fd < 0) throw SysError("open /dev/net/tun");
  struct ifreq ifr;
  std::memset(&ifr, 0, sizeof(ifr));
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  std::strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    auto err = SysError("create tap " + ifname);
    close(fd);
    throw err;
  }
  int hdrlen = kVnetHdrLen;
  unsigned offloads = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
  if (ioctl(fd, TUNSETVNETHDRSZ, &hdrlen) < 0 || ioctl(fd, TUNSETOFFLOAD, offloads) < 0) {
    auto err = SysError("configure tap " + ifname);
    close(fd);
    throw err;
  }
  bool persistent = !netns.empty();
  if (persistent && ioctl(fd, TUNSETPERSIST, 1) < 0) {
    auto err = SysError("make tap " + ifname + " persistent");
    close(fd);
    throw err;
  }
  return std::make_unique<TapPort>(id, network, mtu, fd, persistent);
}

void TapPort::Unpersist() {
  if (persistent_ && ioctl(fd(), TUNSETPERSIST, 0) == 0) persistent_ = false;
}

// A tap fd has no batch read: reads go in batches through io_uring
// (uring_batch.h), 8 at first and twice as many while every one got a
// frame; else one read() per frame until the queue is empty.
int TapPort::RxBatch(Frame* frames, int max) {
  int n = 0;
  if (UringBatch* u = UringBatch::ForThread()) {
    iovec bufs[kBatch];
    int results[kBatch];
    for (int want = 8; n < max; want *= 2) {
      int k = max - n < want ? max - n : want;
      for (int i = 0; i < k; i++) bufs[i] = {frames[n + i].buf, kFrameBufLen};
      u->Read(fd(), bufs, k, results);
      int got = 0;
      for (int i = 0; i < k; i++) {
        if (results[i] <= 0) continue;  // -EAGAIN: the queue was empty at that moment
        // A frame after an empty read moves up, its buffer with it: the
        // frames stay contiguous (every buffer is the worker's alike).
        if (i != got) std::swap(frames[n + got].buf, frames[n + i].buf);
        Frame& f = frames[n + got++];
        f.len = static_cast<uint32_t>(results[i]);
        f.truncated = false;
        f.gbp = 0;
      }
      n += got;
      if (got < k) break;
    }
    return n;
  }
  while (n < max) {
    ssize_t r = read(fd(), frames[n].buf, kFrameBufLen);
    if (r < 0) break;  // EAGAIN: drained; other errors: the device went away
    frames[n].len = static_cast<uint32_t>(r);
    frames[n].truncated = false;
    frames[n].gbp = 0;
    n++;
  }
  return n;
}

int TapPort::TxBatch(Frame* const* frames, int n, Counters& c) {
  int sent = 0;
  // More than one frame: one io_uring_enter for all (uring_batch.h).
  if (UringBatch* u = n > 1 ? UringBatch::ForThread() : nullptr) {
    iovec bufs[kBatch];
    int results[kBatch];
    for (int at = 0; at < n; at += kBatch) {
      int k = n - at < kBatch ? n - at : kBatch;
      for (int i = 0; i < k; i++) bufs[i] = {frames[at + i]->buf, frames[at + i]->len};
      u->Write(fd(), bufs, k, results);
      for (int i = 0; i < k; i++) {
        if (results[i] >= 0) sent++;
        else c.Drop(results[i] == -EAGAIN || results[i] == -ENOBUFS ? queue_full : tx_error);
      }
    }
    return sent;
  }
  for (int i = 0; i < n; i++) {
    ssize_t w = write(fd(), frames[i]->buf, frames[i]->len);
    if (w >= 0) sent++;
    else c.Drop(errno == EAGAIN || errno == ENOBUFS ? queue_full : tx_error);
  }
  return sent;
}

}  // namespace weft
