#include "worker.h"

#include "gso.h"
#include "coalesce.h"
#include "port_guard.h"
#include "port_service.h"
#include "udp_gro.h"

#include <arpa/inet.h>
#include <netinet/udp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

namespace weft {

namespace {

constexpr uint32_t kWakeId = UINT32_MAX;
constexpr uint32_t kVxlanId = UINT32_MAX - 1;
constexpr uint32_t kGreId = UINT32_MAX - 2;
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
  uint8_t gso = h.gso_type & ~kGsoEcn;
  if (gso != 0 && gso != 1 && gso != 3 && gso != 4 && gso != 5) return false;
  if (gso != 0 && h.gso_size == 0) return false;
  if ((h.flags & 1) && static_cast<uint32_t>(h.csum_start) + h.csum_offset + 2 > frame_len) return false;
  return true;
}

}  // namespace

Worker::Worker(size_t index, FastPath& fp, EventQueue& events, uint64_t* counters,
               std::atomic<double>* hits, double busy_poll_us, bool port_security)
    : index_(index),
      fp_(fp),
      events_(events),
      counters_(counters),
      hits_(hits),
      busy_poll_ms_(busy_poll_us / 1000.0),
      port_security_(port_security),
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

void Worker::WatchUnderlay(std::shared_ptr<Underlay> ul) {
  underlay_ = std::move(ul);  // set before the fds are watched: the worker reads it only after
  Watch(kVxlanId, underlay_->vxlan_fd());
  Watch(kGreId, underlay_->gre_fd());
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
      if (id == kWakeId) {
        uint64_t v;
        (void)!read(wakefd_, &v, sizeof(v));
        RunInjected(*t, now);
        continue;
      }
      if (id == kVxlanId || id == kGreId) {
        RxTunnel(*t, id == kVxlanId ? Encap::kVxlan : Encap::kGre, now);
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
      if (port == nullptr) counters_.Drop(no_port);
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
}

void Worker::Switch(const Tables& t, const Port& in, Frame* frames, int n, double now) {
  const uint32_t in_id = in.id();
  const uint32_t net = in.network();
  // An endpoint port's MAC is pinned from the store: it is checked instead
  // of learned (no table lookup for the source).
  const PortGuard* guard = port_security_ ? in.guard() : nullptr;
  const uint32_t max_frame = guard != nullptr ? in.max_rx_frame() : in.max_frame();
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
    else if ((vh->gso_type & ~kGsoEcn) == 0 && elen > max_frame) why = oversized;
    const uint8_t* eth = f.buf + kVnetHdrLen;
    const uint8_t* dst = eth;
    const uint8_t* src = eth + 6;
    if (why == kDropReasonCount) {
      if (IsMulticast(src) || IsZero(src)) why = bad_src_mac;
      else if (IsMulticast(dst) && IsLinkLocal(dst)) why = link_local;  // from any port, a bridge never forwards these
      else if (guard != nullptr) why = CheckGuard(*guard, eth, elen);
    }
    if (why != kDropReasonCount) {
      counters_.Drop(why);
      counters_.Port(in_id, rx_dropped);
      continue;
    }
    if (guard == nullptr) Learn(t, net, src, in_id, now);
    // Broadcast or unicast (a re-probe), an ARP request the overlay fdb can
    // answer never leaves this host.
    if (eth[12] == 0x08 && eth[13] == 0x06 && ProxyArp(t, in, f)) continue;
    if (IsMulticast(dst)) {
      counters_.Global(flooded);
      Flood(t, in, &f);
      continue;
    }
    const FibEntry* e = t.Lookup(MacKey(net, dst));
    if (e == nullptr) {
      counters_.Global(fastpath_misses);
      // On a network with tunnels the overlay fdb may know where it lives;
      // meanwhile the frame floods (head-end replication).
      if (!in.is_tunnel() && t.tunnels.count(net) && FirstReport(missed_, t, MacKey(net, dst), in_id, now)) {
        QueueEvent(kEventMiss, dst, net, in_id);
        counters_.Global(miss_events_queued);
      }
      Flood(t, in, &f);
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
    if (in.is_tunnel() && out->is_tunnel()) {
      counters_.Drop(split_horizon);  // never from one tunnel into another
      continue;
    }
    Enqueue(e->port, &f);
  }
}

bool Worker::FirstReport(std::unordered_map<uint64_t, Seen>& sent, const Tables& t, uint64_t key, uint32_t port,
                         double now) {
  auto it = sent.find(key);
  if (it != sent.end() && it->second.port == port && now - it->second.at < kReportAgainMs) return false;
  if (sent.size() >= kEventQueueMax) {
    // Forget answered and stale reports; at worst a MAC is reported twice.
    for (auto r = sent.begin(); r != sent.end();) {
      if (now - r->second.at >= kReportAgainMs || t.Lookup(r->first) != nullptr) r = sent.erase(r);
      else ++r;
    }
    if (sent.size() >= kEventQueueMax) sent.clear();
  }
  sent[key] = Seen{port, now};
  return true;
}

// Answers an ARP request for an address the overlay fdb knows, on the port
// it came from, so it never crosses the underlay. Rewrites the frame in place.
bool Worker::ProxyArp(const Tables& t, const Port& in, Frame& f) {
  if (in.is_tunnel() || t.arp.empty()) return false;
  uint8_t* e = f.buf + kVnetHdrLen;
  uint32_t elen = f.len - kVnetHdrLen;
  if (elen < 42 || Get16(e + 12) != 0x0806) return false;
  uint8_t* arp = e + 14;
  if (Get16(arp) != 1 || Get16(arp + 2) != 0x0800 || arp[4] != 6 || arp[5] != 4 || Get16(arp + 6) != 1) return false;
  uint8_t* spa = arp + 14;
  uint8_t* tpa = arp + 24;
  if (std::memcmp(spa, tpa, 4) == 0) return false;  // gratuitous: let it flood
  uint32_t tip;
  std::memcpy(&tip, tpa, 4);
  auto it = t.arp.find(static_cast<uint64_t>(in.network()) << 32 | tip);
  if (it == t.arp.end()) return false;
  uint8_t mac[6];
  for (int i = 0; i < 6; i++) mac[i] = (it->second >> (8 * (5 - i))) & 0xff;
  std::memcpy(e, e + 6, 6);         // to the asker
  std::memcpy(e + 6, mac, 6);       // from the answer
  arp[7] = 2;                       // reply
  std::memcpy(arp + 18, arp + 8, 10);  // target = the asker's MAC and IP
  std::memcpy(arp + 8, mac, 6);
  std::memcpy(arp + 14, &tip, 4);
  std::memset(f.buf, 0, kVnetHdrLen);
  counters_.Global(proxy_arp);
  Enqueue(in.id(), &f);
  return true;
}

void Worker::RxTunnel(const Tables& t, Encap encap, double now) {
  Underlay* ul = underlay_.get();
  if (ul == nullptr) return;
  int fd = encap == Encap::kVxlan ? ul->vxlan_fd() : ul->gre_fd();
  // VXLAN payloads land 2 bytes in, so the 8-byte header ends exactly where
  // a vnet header before the inner frame ends; GRE arrives with its IP
  // header, and the inner frame starts further in.
  const size_t at = encap == Encap::kVxlan ? kVnetHdrLen - 8 : 0;
  for (int round = 0; round < kRoundsPerPort; round++) {
    mmsghdr msgs[kBatch];
    iovec iov[kBatch];
    sockaddr_in from[kBatch];
    // With UDP_GRO on the VXLAN socket, one message may be a train of
    // datagrams of `gso_size` bytes each (the last one shorter).
    alignas(cmsghdr) char ctrl[kBatch][kUdpGroCtrlLen];
    for (int i = 0; i < kBatch; i++) {
      iov[i] = {frames_[i].buf + at, kFrameBufLen - at};
      std::memset(&msgs[i].msg_hdr, 0, sizeof(msghdr));
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &from[i];
      msgs[i].msg_hdr.msg_namelen = sizeof(from[i]);
      msgs[i].msg_hdr.msg_control = ctrl[i];
      msgs[i].msg_hdr.msg_controllen = sizeof(ctrl[i]);
    }
    int n = recvmmsg(fd, msgs, kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) break;
    decapped_.clear();
    for (int i = 0; i < n; i++) {
      uint32_t total = msgs[i].msg_len;
      uint32_t gso = GetGsoSize(msgs[i].msg_hdr);
      if (total == 0) {
        counters_.Drop(bad_tunnel_hdr);
        continue;
      }
      if (gso == 0 || encap != Encap::kVxlan) gso = total;
      // Cut short by the buffer (it holds the largest datagram, so this
      // does not happen): only the last datagram of a train lost its end.
      bool truncated = (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
      for (uint32_t off = 0; off < total; off += gso) {
        uint32_t len = total - off < gso ? total - off : gso;
        Decap(t, encap, frames_[i].buf + at + off, len, from[i].sin_addr.s_addr, off == 0,
              truncated && off + len == total);
      }
    }
    Coalescer::Joined joined = coalescer_.Run(decapped_, outgoing_);
    counters_.Global(coalesced_frames, joined.frames);
    counters_.Global(coalesced_segments, joined.segments);
    for (Outgoing& o : outgoing_) Switch(t, *o.port, &o.frame, 1, now);
    Flush(t);
    outgoing_.clear();
    if (n < kBatch) break;
  }
}

void Worker::Decap(const Tables& t, Encap encap, uint8_t* base, uint32_t len, uint32_t from, bool room_before,
                   bool truncated) {
  Popped pop;
  if (!(encap == Encap::kVxlan ? PopVxlan(base, len, &pop) : PopGre(base, len, &pop))) {
    counters_.Drop(bad_tunnel_hdr);
    return;
  }
  len = pop.inner_len;
  const uint32_t vni = pop.vni, off = pop.inner_off;
  uint8_t* inner = base + off;
  auto net = t.vni_net.find(static_cast<uint64_t>(encap) << 32 | vni);
  if (net == t.vni_net.end()) {
    counters_.Drop(unknown_vni);
    return;
  }
  // Only VTEPs the control plane knows for this network may inject into it.
  auto vp = t.vtep_port.find(static_cast<uint64_t>(net->second) << 32 | from);
  const Port* tp = vp == t.vtep_port.end() ? nullptr : t.port(vp->second);
  if (tp == nullptr) {
    counters_.Drop(unknown_vtep);
    return;
  }
  // Who may send is settled first; then what they sent.
  if (len < kEthHdrLen) {
    counters_.Drop(runt);
    return;
  }
  counters_.Global(tunnel_rx);
  Decapped d{tp, inner, len, {}, room_before, truncated, ParseL3L4(inner, len)};
  // Verified (or completed, when a kernel sender left it partial): the
  // receiving stack need not check it again. A kernel VTEP's whole TCP
  // super-frame is described as GSO for the output port's kernel to cut.
  if (len > tp->max_frame()) DescribeInnerGso(&d.vh, inner, len, d.parsed, tp->mtu());
  else if (FinishReceivedChecksum(inner, len, d.parsed)) d.vh.flags = kVnetDataValid;
  decapped_.push_back(d);
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
  if (e != nullptr && e->pinned) {
    // An endpoint's MAC heard from elsewhere: the frame still goes where
    // it is sent, but the MAC stays with its endpoint.
    counters_.Global(learn_refused);
    return;
  }
  if (!FirstReport(reported_, t, key, in, now)) return;
  QueueEvent(kEventLearn, src, net, in);
  counters_.Global(learn_events_queued);
}

void Worker::QueueEvent(EventType type, const uint8_t* mac, uint32_t net, uint32_t port) {
  Event ev;
  ev.type = type;
  std::memcpy(ev.mac, mac, 6);
  ev.network = net;
  ev.port = port;
  pending_events_.push_back(ev);
}

void Worker::Flood(const Tables& t, const Port& in, Frame* f) {
  auto it = t.flood.find(in.network());
  if (it == t.flood.end()) return;
  bool from_tunnel = in.is_tunnel();
  for (uint32_t p : it->second) {
    if (p == in.id()) continue;
    const Port* out = t.port(p);
    if (out == nullptr) continue;
    // Split horizon: a frame from a tunnel goes to local ports only, so a
    // full mesh of VTEPs has no loops and no storms.
    if (out->is_tunnel() && (from_tunnel || !out->floods())) continue;
    Enqueue(p, f);
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
      // The port counted what it did not send, by reason.
      int sent = out->TxBatch(q.data(), n, counters_);
      uint64_t bytes = 0;
      for (int i = 0; i < sent; i++) bytes += q[i]->len - kVnetHdrLen;
      counters_.Port(p, tx_packets, sent);
      counters_.Port(p, tx_bytes, bytes);
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
