#include "xsk.h"

#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "sys.h"

#ifndef AF_XDP
#define AF_XDP 44
#endif
#ifndef SOL_XDP
#define SOL_XDP 283
#endif

namespace weft {

namespace {

// Chunks per socket (half receive, half transmit) and the size of each ring.
constexpr uint32_t kChunks = 4096;
constexpr uint32_t kRingSize = kChunks / 2;
// How often TxFlush kicks the kernel before it gives up on a full device
// queue: each kick sends a batch (32 frames in copy mode).
constexpr int kKicks = 4096;

}  // namespace

void XskSocket::MapRing(Ring& r, uint64_t pgoff, const xdp_ring_offset& off, uint32_t entries, size_t desc) {
  r.map_len = off.desc + entries * desc;
  void* m = mmap(nullptr, r.map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_, static_cast<off_t>(pgoff));
  if (m == MAP_FAILED) throw SysError("mapping an AF_XDP ring");
  auto* base = static_cast<uint8_t*>(m);
  r.map = m;
  r.producer = reinterpret_cast<uint32_t*>(base + off.producer);
  r.consumer = reinterpret_cast<uint32_t*>(base + off.consumer);
  r.flags = reinterpret_cast<uint32_t*>(base + off.flags);
  r.ring = base + off.desc;
  r.mask = entries - 1;
}

std::unique_ptr<XskSocket> XskSocket::Open(int ifindex, uint32_t queue, uint32_t chunk) {
  int fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) throw SysError("AF_XDP socket");
  std::unique_ptr<XskSocket> s(new XskSocket(fd, chunk));
  s->umem_len_ = static_cast<size_t>(kChunks) * chunk;
  void* m = mmap(nullptr, s->umem_len_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (m == MAP_FAILED) throw SysError("AF_XDP packet memory");
  s->umem_ = static_cast<uint8_t*>(m);
  // Not in children: the daemon forks for ip(8) and the like, and a fork
  // must copy pages pinned for the kernel at once, all of them, each time.
  madvise(m, s->umem_len_, MADV_DONTFORK);
  xdp_umem_reg reg;
  std::memset(&reg, 0, sizeof(reg));
  reg.addr = reinterpret_cast<uint64_t>(s->umem_);
  reg.len = s->umem_len_;
  reg.chunk_size = chunk;
  if (setsockopt(fd, SOL_XDP, XDP_UMEM_REG, &reg, sizeof(reg)) < 0) throw SysError("AF_XDP packet memory registration");
  uint32_t n = kRingSize;
  for (int opt : {XDP_UMEM_FILL_RING, XDP_UMEM_COMPLETION_RING, XDP_RX_RING, XDP_TX_RING}) {
    if (setsockopt(fd, SOL_XDP, opt, &n, sizeof(n)) < 0) throw SysError("AF_XDP ring");
  }
  xdp_mmap_offsets off;
  socklen_t ol = sizeof(off);
  if (getsockopt(fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &ol) < 0) throw SysError("AF_XDP ring offsets");
  s->MapRing(s->fill_, XDP_UMEM_PGOFF_FILL_RING, off.fr, n, sizeof(uint64_t));
  s->MapRing(s->comp_, XDP_UMEM_PGOFF_COMPLETION_RING, off.cr, n, sizeof(uint64_t));
  s->MapRing(s->rx_, XDP_PGOFF_RX_RING, off.rx, n, sizeof(xdp_desc));
  s->MapRing(s->tx_, XDP_PGOFF_TX_RING, off.tx, n, sizeof(xdp_desc));
  // Every receive chunk starts in the fill ring; the transmit ones are free.
  for (uint32_t i = 0; i < kRingSize; i++) s->fill_back_.push_back(static_cast<uint64_t>(i) * chunk);
  for (uint32_t i = kRingSize; i < kChunks; i++) s->tx_free_.push_back(static_cast<uint64_t>(i) * chunk);
  s->Refill();
  sockaddr_xdp sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sxdp_family = AF_XDP;
  sa.sxdp_ifindex = static_cast<uint32_t>(ifindex);
  sa.sxdp_queue_id = queue;
  sa.sxdp_flags = XDP_USE_NEED_WAKEUP;  // neither flag: zero-copy where the driver can, copy elsewhere
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) < 0) throw SysError("binding the AF_XDP socket to queue " + std::to_string(queue));
  xdp_options opts;
  socklen_t pl = sizeof(opts);
  if (getsockopt(fd, SOL_XDP, XDP_OPTIONS, &opts, &pl) == 0) s->zero_copy_ = (opts.flags & XDP_OPTIONS_ZEROCOPY) != 0;
  return s;
}

XskSocket::~XskSocket() {
  close(fd_);
  for (Ring* r : {&fill_, &comp_, &rx_, &tx_}) {
    if (r->map) munmap(r->map, r->map_len);
  }
  if (umem_) munmap(umem_, umem_len_);
}

void XskSocket::Refill() {
  if (fill_back_.empty()) return;
  uint32_t prod = *fill_.producer;
  uint32_t room = kRingSize - (prod - __atomic_load_n(fill_.consumer, __ATOMIC_ACQUIRE));
  uint32_t n = fill_back_.size() < room ? static_cast<uint32_t>(fill_back_.size()) : room;
  auto* ring = static_cast<uint64_t*>(fill_.ring);
  for (uint32_t i = 0; i < n; i++) ring[(prod + i) & fill_.mask] = fill_back_[fill_back_.size() - 1 - i];
  fill_back_.resize(fill_back_.size() - n);
  __atomic_store_n(fill_.producer, prod + n, __ATOMIC_RELEASE);
  // A zero-copy driver may sleep on an empty fill ring until woken.
  if (n && (__atomic_load_n(fill_.flags, __ATOMIC_ACQUIRE) & XDP_RING_NEED_WAKEUP)) recvfrom(fd_, nullptr, 0, MSG_DONTWAIT, nullptr, nullptr);
}

void XskSocket::Reap() {
  uint32_t prod = __atomic_load_n(comp_.producer, __ATOMIC_ACQUIRE);
  uint32_t cons = *comp_.consumer;
  auto* ring = static_cast<const uint64_t*>(comp_.ring);
  for (uint32_t i = cons; i != prod; i++) tx_free_.push_back(ring[i & comp_.mask]);
  if (prod != cons) __atomic_store_n(comp_.consumer, prod, __ATOMIC_RELEASE);
}

uint8_t* XskSocket::TxChunk() {
  if (tx_free_.empty()) Reap();
  if (tx_free_.empty()) return nullptr;
  tx_next_ = tx_free_.back();
  return umem_ + tx_next_;
}

void XskSocket::TxPush(uint32_t len) {
  tx_free_.pop_back();
  uint32_t prod = *tx_.producer + tx_queued_;
  xdp_desc& d = static_cast<xdp_desc*>(tx_.ring)[prod & tx_.mask];
  d.addr = tx_next_;
  d.len = len;
  d.options = 0;
  tx_queued_++;
}

void XskSocket::TxFlush() {
  if (tx_queued_ == 0) return;
  uint32_t prod = *tx_.producer + tx_queued_;
  tx_queued_ = 0;
  __atomic_store_n(tx_.producer, prod, __ATOMIC_RELEASE);
  // Copy mode sends in the kick, a batch at a time: kick until the ring is
  // drained, or the device stays full.
  for (int i = 0; i < kKicks; i++) {
    if (__atomic_load_n(tx_.consumer, __ATOMIC_ACQUIRE) == prod) break;
    if (!(__atomic_load_n(tx_.flags, __ATOMIC_ACQUIRE) & XDP_RING_NEED_WAKEUP)) break;  // the driver sends on its own
    if (sendto(fd_, nullptr, 0, MSG_DONTWAIT, nullptr, 0) < 0 && errno != EAGAIN && errno != EBUSY && errno != ENOBUFS &&
        errno != EINTR) {
      break;
    }
  }
  Reap();
}

}  // namespace weft
