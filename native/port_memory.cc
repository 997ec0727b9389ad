#include "port_memory.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "gso.h"
#include "sys.h"

namespace weft {

namespace {

// The worker waits on a port's fd with epoll; a memory port's fd is an
// eventfd kept readable while frames wait to be read.
int NewEventFd() {
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) throw SysError("memory port eventfd");
  return fd;
}

}  // namespace

MemoryPort::MemoryPort(uint32_t id, uint32_t network, uint32_t mtu, const Options& opts)
    : Port(id, network, mtu, NewEventFd()), opts_(opts) {}

int MemoryPort::RxBatch(Frame* frames, int max) {
  std::lock_guard<std::mutex> lock(mu_);
  // Without a vnet header on the wire, the worker still wants one: an empty
  // one (no offload), as a TAP without IFF_VNET_HDR would imply.
  const size_t at = opts_.vnet_hdr ? 0 : kVnetHdrLen;
  int n = 0;
  for (; n < max && !rx_.empty(); n++) {
    const std::vector<uint8_t>& bytes = rx_.front();
    Frame& f = frames[n];
    std::memset(f.buf, 0, at);
    size_t len = bytes.size() < kFrameBufLen - at ? bytes.size() : kFrameBufLen - at;
    if (len) std::memcpy(f.buf + at, bytes.data(), len);  // an empty frame has no data() to copy from
    f.len = static_cast<uint32_t>(at + len);
    f.truncated = len < bytes.size();
    f.gbp = 0;
    rx_.pop_front();
  }
  Rearm();
  return n;
}

void MemoryPort::Rearm() {
  if (!rx_.empty()) return;
  uint64_t v;
  (void)!read(fd(), &v, sizeof(v));
}

DropReason MemoryPort::Render(const Frame& f, std::vector<std::vector<uint8_t>>& out) const {
  VnetHdr vh;
  std::memcpy(&vh, f.buf, kVnetHdrLen);
  const uint8_t* eth = f.buf + kVnetHdrLen;
  const uint32_t len = f.len - kVnetHdrLen;
  const size_t at = opts_.vnet_hdr ? kVnetHdrLen : 0;
  const uint8_t gso = vh.gso_type & ~kGsoEcn;
  const bool offload_csum = opts_.vnet_hdr && opts_.csum;
  const bool takes_gso = offload_csum && opts_.tso && (gso == kGsoTcpV4 || gso == kGsoTcpV6);
  // The ECN bit with no GSO type: a TAP's kernel refuses the write
  // (virtio_net_hdr_to_skb: EINVAL), so this device does too.
  if (opts_.vnet_hdr && vh.gso_type != 0 && gso == 0) return tx_error;
  if (gso != 0 && !takes_gso) {
    // Cut as the kernel cuts for a device without TSO: every segment a
    // finished packet, with an empty vnet header.
    thread_local std::vector<Segment> segs;
    segs.clear();
    if (SegmentGso(vh, eth, len, ParseL3L4(eth, len), segs) != GsoResult::kOk) return gso_unsupported;
    for (const Segment& s : segs) {
      std::vector<uint8_t>& o = out.emplace_back(at + s.hdr_len + s.payload_len, 0);
      std::memcpy(o.data() + at, s.hdr, s.hdr_len);
      if (s.payload_len) std::memcpy(o.data() + at + s.hdr_len, s.payload, s.payload_len);
    }
    return kDropReasonCount;
  }
  // A copy: the same frame may be flooded to other ports too.
  std::vector<uint8_t>& o = out.emplace_back(at + len);
  std::memcpy(o.data() + at, eth, len);
  if ((vh.flags & kVnetNeedsCsum) && !offload_csum && !CompleteChecksum(&vh, o.data() + at, len)) {
    out.pop_back();
    return tx_error;
  }
  if (at) std::memcpy(o.data(), &vh, kVnetHdrLen);
  return kDropReasonCount;
}

int MemoryPort::TxBatch(Frame* const* frames, int n, Counters& c) {
  thread_local std::vector<std::vector<uint8_t>> rendered;
  std::lock_guard<std::mutex> lock(mu_);
  int sent = 0;
  for (int i = 0; i < n; i++) {
    rendered.clear();
    DropReason why = Render(*frames[i], rendered);
    // All of a frame's segments or none, as a device queue takes an skb.
    if (why == kDropReasonCount && tx_.size() + rendered.size() > opts_.capacity) why = queue_full;
    if (why != kDropReasonCount) {
      c.Drop(why);
      continue;
    }
    for (auto& r : rendered) tx_.push_back(std::move(r));
    sent++;
  }
  return sent;
}

size_t MemoryPort::Inject(std::vector<std::vector<uint8_t>> frames) {
  std::lock_guard<std::mutex> lock(mu_);
  const bool was_empty = rx_.empty();
  size_t taken = 0;
  for (auto& f : frames) {
    if (rx_.size() >= opts_.capacity) break;
    rx_.push_back(std::move(f));
    taken++;
  }
  if (was_empty && !rx_.empty()) {
    uint64_t one = 1;
    (void)!write(fd(), &one, sizeof(one));
  }
  return taken;
}

std::vector<std::vector<uint8_t>> MemoryPort::Drain() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::vector<uint8_t>> out(std::make_move_iterator(tx_.begin()), std::make_move_iterator(tx_.end()));
  tx_.clear();
  return out;
}

}  // namespace weft
