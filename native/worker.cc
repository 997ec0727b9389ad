// The worker loop: epoll over the ports and the underlay's sockets, reads
// in batches (kRoundsPerPort rounds per port before the others get a turn),
// hands each batch to the switch (l2_switch.cc) and sends the per-port
// queues it fills (Flush); frames injected from JavaScript come in through
// the wake fd; learn and miss events leave for JavaScript once per wakeup.
// Tunnel receive is in tunnel_rx.cc.
#include "worker.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

#include "port_uplink.h"

namespace weft {

Worker::Worker(size_t index, FastPath& fp, EventQueue& events, uint64_t* counters,
               std::atomic<double>* hits, double busy_poll_us, bool port_security, PolicyContext policy)
    : index_(index),
      fp_(fp),
      events_(events),
      counters_(counters),
      hits_(hits),
      busy_poll_ms_(busy_poll_us / 1000.0),
      port_security_(port_security),
      bufs_(static_cast<size_t>(kBatch) * kFrameBufLen),
      tx_(kMaxPorts),
      policy_(policy) {
  for (int i = 0; i < kBatch; i++) frames_[i].buf = bufs_.data() + static_cast<size_t>(i) * kFrameBufLen;
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  wakefd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epfd_ < 0 || wakefd_ < 0) throw std::runtime_error("worker: epoll/eventfd failed");
  struct epoll_event ev;
  ev.events = EPOLLIN;
  ev.data.u32 = kWake;
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

void Worker::WatchUnderlay(std::shared_ptr<Underlay> ul) {
  underlay_ = std::move(ul);  // set before the fds are watched: the worker reads it only after
  Watch(kVxlan, underlay_->vxlan_fd());
  Watch(kGre, underlay_->gre_fd());
}

void Worker::WatchXsk(std::shared_ptr<Underlay> ul, uint32_t queue) {
  if (queue >= kXskMax) throw std::runtime_error("AF_XDP queue out of range");
  if (!underlay_) underlay_ = ul;  // as in WatchUnderlay: before its fd is watched
  Watch(kXsk + queue, ul->xdp()->socket(queue).fd());
}

void Worker::InjectMany(uint32_t port_id, std::vector<std::vector<uint8_t>> frames) {
  if (frames.empty()) return;
  {
    std::lock_guard<std::mutex> lock(inject_mu_);
    for (auto& f : frames) injected_.emplace_back(port_id, std::move(f));
  }
  uint64_t one = 1;
  (void)!write(wakefd_, &one, sizeof(one));
}

void Worker::Run() {
  capture_thread = {capture_, index_, &counters_};  // for capture points without the worker at hand
  struct epoll_event evs[64];
  double busy_until = 0;
  while (!stop_.load()) {
    // After work, poll a little before sleeping: the next frame of a flow
    // (the reply to a ping, the next burst of a TCP window) often comes
    // within microseconds, and going to sleep and being woken cost more.
    int n = 0;
    if (busy_until > 0) {
      while ((n = epoll_wait(epfd_, evs, 64, 0)) == 0 && NowMs() < busy_until) {
      }
    }
    if (n <= 0) {
      fp_.epochs().Offline(index_);
      n = epoll_wait(epfd_, evs, 64, -1);
      fp_.epochs().Online(index_);
    }
    if (n < 0) continue;  // EINTR
    busy_until = busy_poll_ms_ > 0 ? NowMs() + busy_poll_ms_ : 0;
    const Tables* t = fp_.Current();
    double now = NowMs();
    for (int i = 0; i < n; i++) {
      uint32_t id = evs[i].data.u32;
      if (id == kWake) {
        uint64_t v;
        (void)!read(wakefd_, &v, sizeof(v));
        RunInjected(*t, now);
        continue;
      }
      if (id >= kXsk && id < kXsk + kXskMax) {
        RxXsk(*t, id - kXsk, now);
        continue;
      }
      if (id == kVxlan || id == kGre) {
        RxTunnel(*t, id == kVxlan ? Encap::kVxlan : Encap::kGre, now);
        continue;
      }
      Port* port = t->port(id);
      if (port == nullptr) continue;  // removed since epoll reported it
      if (UplinkPort* trunk = port->as_trunk()) {
        RxUplink(*t, *trunk, now);
        continue;
      }
      for (int round = 0; round < kRoundsPerPort; round++) {
        int got = port->RxBatch(frames_, kBatch);
        if (got == 0) break;
        Switch(*t, *port, frames_, got, now);
        Flush(*t);
        if (got < kBatch) break;
      }
    }
    PolicyWakeup(now);
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
  // Consecutive frames for one port are switched as one batch, as if read
  // together: answers from a service port (in-band DNS) come this way.
  // The port needs no fd: nothing here reads or writes one.
  size_t i = 0;
  while (i < work.size()) {
    uint32_t port_id = work[i].first;
    Port* port = t.port(port_id);
    int n = 0;
    for (; i < work.size() && work[i].first == port_id && n < kBatch; i++) {
      counters_.Global(injected);
      // A trunk is no network's port: inject into one of its VLAN ports.
      if (port == nullptr || port->as_trunk() != nullptr) counters_.Drop(no_port);
      else LoadInjected(frames_[n++], work[i].second);
    }
    if (n == 0) continue;
    Switch(t, *port, frames_, n, now);
    Flush(t);
  }
}

void Worker::LoadInjected(Frame& f, const std::vector<uint8_t>& bytes) {
  size_t len = bytes.size() > kFrameBufLen - kVnetHdrLen ? kFrameBufLen - kVnetHdrLen : bytes.size();
  std::memset(f.buf, 0, kVnetHdrLen);
  std::memcpy(f.buf + kVnetHdrLen, bytes.data(), len);
  f.len = static_cast<uint32_t>(kVnetHdrLen + len);
  f.truncated = len < bytes.size();
  f.gbp = 0;
}

void Worker::QueueEvent(EventType type, const uint8_t* mac, uint32_t net, uint32_t port) {
  Event ev;
  ev.type = type;
  std::memcpy(ev.mac, mac, 6);
  ev.network = net;
  ev.port = port;
  pending_events_.push_back(ev);
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
      // Capture sees what is handed to the port (a tunnel's inner frames, before encapsulation).
      if (capture_ != nullptr && capture_->active()) capture_->CopyTx(index_, p, out->network(), q.data(), n, counters_);
      // The port counted what it did not send, by reason.
      int sent = out->TxBatch(q.data(), n, counters_);
      uint64_t bytes = 0;
      for (int i = 0; i < sent; i++) bytes += q[i]->len - kVnetHdrLen;
      counters_.Port(p, tx_packets, sent);
      counters_.Port(p, tx_bytes, bytes);
      if (n > sent) {
        counters_.Port(p, tx_dropped, n - sent);
        // The port says how many, not which: a full queue refuses the
        // batch's tail, so the last ones are noted.
        for (int i = sent; i < n; i++) {
          DropNote d = SummarizeDrop(NowMs(), static_cast<DropReason>(kDropTxRefused), p, out->network(),
                                     q[i]->buf + kVnetHdrLen, q[i]->len - kVnetHdrLen);
          d.tx = 1;
          drops_.Push(d);
        }
      }
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
