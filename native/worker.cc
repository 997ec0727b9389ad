#include "worker.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

namespace weft {

namespace {

constexpr uint32_t kWakeId = UINT32_MAX;
// A learn event not answered within this long is sent again.
constexpr double kReportAgainMs = 1000;
// The last-seen time of a MAC is refreshed at most this often per MAC, so a
// running flow does not write the shared cache line on every frame.
constexpr double kTouchEveryMs = 100;
// Rounds of kBatch frames taken from one port before the others get a turn.
constexpr int kRoundsPerPort = 4;

double NowMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

// virtio_net_hdr sanity: a header the kernel would reject on the way out must
// not reach an output port.
bool ValidVnetHdr(const VnetHdr& h, uint32_t frame_len) {
  uint8_t gso = h.gso_type & 0x7f;  // 0x80 is the ECN bit
  if (gso != 0 && gso != 1 && gso != 3 && gso != 4 && gso != 5) return false;
  if (gso != 0 && h.gso_size == 0) return false;
  if ((h.flags & 1) && static_cast<uint32_t>(h.csum_start) + h.csum_offset + 2 > frame_len) return false;
  return true;
}

}  // namespace

Worker::Worker(size_t index, FastPath& fp, EventQueue& events, uint64_t* counters,
               std::atomic<double>* hits)
    : index_(index),
      fp_(fp),
      events_(events),
      counters_(counters),
      hits_(hits),
      bufs_(static_cast<size_t>(kBatch) * kFrameBufLen),
      tx_(kMaxPorts) {
  for (int i = 0; i < kBatch; i++) frames_[i].buf = bufs_.data() + static_cast<size_t>(i) * kFrameBufLen;
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  wakefd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epfd_ < 0 || wakefd_ < 0) throw std::runtime_error("worker: epoll/eventfd failed");
  struct epoll_event ev;
  ev.events = EPOLLIN;
  ev.data.u32 = kWakeId;
  epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev);
}

Worker::~Worker() {
  Stop();
  close(epfd_);
  close(wakefd_);
}

void Worker::Start() { thread_ = std::thread([this] { Run(); }); }

void Worker::Stop() {
  if (!thread_.joinable()) return;
  stop_.store(true);
  uint64_t one = 1;
  (void)!write(wakefd_, &one, sizeof(one));
  thread_.join();
}

void Worker::Watch(uint32_t port_id, int fd) {
  struct epoll_event ev;
  ev.events = EPOLLIN;
  ev.data.u32 = port_id;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) < 0) throw std::runtime_error("epoll_ctl add failed");
}

void Worker::Unwatch(int fd) { epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr); }

void Worker::Inject(uint32_t port_id, std::vector<uint8_t> frame) {
  {
    std::lock_guard<std::mutex> lock(inject_mu_);
    injected_.emplace_back(port_id, std::move(frame));
  }
  uint64_t one = 1;
  (void)!write(wakefd_, &one, sizeof(one));
}

void Worker::Run() {
  struct epoll_event evs[64];
  while (!stop_.load()) {
    fp_.epochs().Offline(index_);
    int n = epoll_wait(epfd_, evs, 64, -1);
    fp_.epochs().Online(index_);
    if (n < 0) continue;  // EINTR
    const Tables* t = fp_.Current();
    double now = NowMs();
    for (int i = 0; i < n; i++) {
      uint32_t id = evs[i].data.u32;
      if (id == kWakeId) {
        uint64_t v;
        (void)!read(wakefd_, &v, sizeof(v));
        RunInjected(*t, now);
        continue;
      }
      Port* port = t->port(id);
      if (port == nullptr) continue;  // removed since epoll reported it
      for (int round = 0; round < kRoundsPerPort; round++) {
        int got = port->RxBatch(frames_, kBatch);
        if (got == 0) break;
        Switch(*t, *port, frames_, got, now);
        Flush(*t);
        if (got < kBatch) break;
      }
    }
    PushEvents();
  }
  fp_.epochs().Offline(index_);
}

void Worker::RunInjected(const Tables& t, double now) {
  std::vector<std::pair<uint32_t, std::vector<uint8_t>>> work;
  {
    std::lock_guard<std::mutex> lock(inject_mu_);
    work.swap(injected_);
  }
  for (auto& [port_id, bytes] : work) {
    counters_.Global(injected);
    Port* port = t.port(port_id);
    if (port == nullptr) {
      counters_.Drop(no_port);
      continue;
    }
    Frame& f = frames_[0];
    size_t len = bytes.size() > kFrameBufLen - kVnetHdrLen ? kFrameBufLen - kVnetHdrLen : bytes.size();
    std::memset(f.buf, 0, kVnetHdrLen);
    std::memcpy(f.buf + kVnetHdrLen, bytes.data(), len);
    f.len = static_cast<uint32_t>(kVnetHdrLen + len);
    f.truncated = len < bytes.size();
    Switch(t, *port, frames_, 1, now);
    Flush(t);
  }
}

void Worker::Switch(const Tables& t, const Port& in, Frame* frames, int n, double now) {
  const uint32_t in_id = in.id();
  const uint32_t net = in.network();
  for (int i = 0; i < n; i++) {
    Frame& f = frames[i];
    uint32_t elen = f.len > kVnetHdrLen ? f.len - kVnetHdrLen : 0;
    counters_.Port(in_id, rx_packets);
    counters_.Port(in_id, rx_bytes, elen);
    DropReason why = kDropReasonCount;
    const auto* vh = reinterpret_cast<const VnetHdr*>(f.buf);
    if (f.truncated) why = oversized;
    else if (elen < kEthHdrLen) why = runt;
    else if (!ValidVnetHdr(*vh, elen)) why = bad_vnet_hdr;
    else if ((vh->gso_type & 0x7f) == 0 && elen > in.max_frame()) why = oversized;
    const uint8_t* eth = f.buf + kVnetHdrLen;
    const uint8_t* dst = eth;
    const uint8_t* src = eth + 6;
    if (why == kDropReasonCount && (IsMulticast(src) || IsZero(src))) why = bad_src_mac;
    if (why != kDropReasonCount) {
      counters_.Drop(why);
      counters_.Port(in_id, rx_dropped);
      continue;
    }
    Learn(t, net, src, in_id, now);
    if (IsMulticast(dst)) {
      counters_.Global(flooded);
      Flood(t, net, in_id, &f);
      continue;
    }
    const FibEntry* e = t.Lookup(MacKey(net, dst));
    if (e == nullptr) {
      counters_.Global(fastpath_misses);
      Flood(t, net, in_id, &f);
      continue;
    }
    counters_.Global(fastpath_hits);
    if (e->port == in_id) {
      counters_.Drop(same_port);  // the destination sits behind the port it came from
      continue;
    }
    const Port* out = t.port(e->port);
    if (out == nullptr || out->network() != net) {
      counters_.Drop(no_port);
      continue;
    }
    Enqueue(e->port, &f);
  }
}

void Worker::Learn(const Tables& t, uint32_t net, const uint8_t* src, uint32_t in, double now) {
  uint64_t key = MacKey(net, src);
  const FibEntry* e = t.Lookup(key);
  if (e != nullptr && e->port == in) {
    if (e->slot < kHitSlots) {
      auto& hit = hits_[e->slot];
      if (hit.load(std::memory_order_relaxed) + kTouchEveryMs < now) hit.store(now, std::memory_order_relaxed);
    }
    return;
  }
  auto it = reported_.find(key);
  if (it != reported_.end() && it->second.port == in && now - it->second.at < kReportAgainMs) return;
  if (reported_.size() >= kEventQueueMax) {
    // Forget answered and stale reports; at worst a MAC is reported twice.
    for (auto r = reported_.begin(); r != reported_.end();) {
      if (now - r->second.at >= kReportAgainMs || t.Lookup(r->first) != nullptr) r = reported_.erase(r);
      else ++r;
    }
    if (reported_.size() >= kEventQueueMax) reported_.clear();
  }
  reported_[key] = Seen{in, now};
  Event ev;
  ev.type = kEventLearn;
  std::memcpy(ev.mac, src, 6);
  ev.network = net;
  ev.port = in;
  pending_events_.push_back(ev);
  counters_.Global(learn_events_queued);
}

void Worker::Flood(const Tables& t, uint32_t net, uint32_t in, Frame* f) {
  auto it = t.flood.find(net);
  if (it == t.flood.end()) return;
  for (uint32_t p : it->second) {
    if (p != in) Enqueue(p, f);
  }
}

void Worker::Enqueue(uint32_t port, Frame* f) {
  auto& q = tx_[port];
  if (q.empty()) dirty_.push_back(port);
  q.push_back(f);
}

void Worker::Flush(const Tables& t) {
  for (uint32_t p : dirty_) {
    auto& q = tx_[p];
    Port* out = t.port(p);
    int n = static_cast<int>(q.size());
    if (out == nullptr) {
      counters_.Drop(no_port, n);
    } else {
      int errors = 0;
      int sent = out->TxBatch(q.data(), n, &errors);
      uint64_t bytes = 0;
      for (int i = 0; i < sent; i++) bytes += q[i]->len - kVnetHdrLen;
      counters_.Port(p, tx_packets, sent);
      counters_.Port(p, tx_bytes, bytes);
      int full = n - sent - errors;
      if (full > 0) counters_.Drop(queue_full, full);
      if (errors > 0) counters_.Drop(tx_error, errors);
      if (n > sent) counters_.Port(p, tx_dropped, n - sent);
    }
    q.clear();
  }
  dirty_.clear();
}

void Worker::PushEvents() {
  if (pending_events_.empty()) return;
  size_t dropped = events_.Push(pending_events_);
  if (dropped > 0) counters_.Global(events_dropped, dropped);
  pending_events_.clear();
}

}  // namespace weft
