// L2 switching: what a worker does with each frame a port gave it. It
// checks the frame (size, vnet header, source MAC, port security, an
// uplink's claim to a local endpoint's address), learns
// its source (a learn event toward JavaScript, once per MAC until answered),
// asks group policy on enforced networks (policy_stage.cc), lets proxy ARP
// answer it (proxy_arp.cc), and queues it for the output port the fast path
// names, or floods it (with a miss event on a network with tunnels). The
// worker loop (worker.cc) sends the queues.
#include "worker.h"

#include "frame_checks.h"
#include "headers.h"

namespace weft {

namespace {

// A learn event not answered within this long is sent again.
constexpr double kReportAgainMs = 1000;
// The last-seen time of a MAC is refreshed at most this often per MAC, so a
// running flow does not write the shared cache line on every frame.
constexpr double kTouchEveryMs = 100;

}  // namespace

void Worker::Switch(const Tables& t, const Port& in, Frame* frames, int n, double now) {
  const uint32_t in_id = in.id();
  const uint32_t net = in.network();
  // An endpoint port's MAC is pinned from the store: it is checked instead
  // of learned (no table lookup for the source).
  const PortGuard* guard = port_security_ ? in.guard() : nullptr;
  // Group policy: decided once per batch (one network per port), so a
  // network without it costs nothing per frame.
  const PolicyTables* policy = t.policy.get();
  if (policy != nullptr && !policy->Enforced(net)) policy = nullptr;
  // Capture sees every frame the port gave, before any check (a tunnel port's decapsulated ones).
  if (capture_ != nullptr && capture_->active()) capture_->CopyRx(index_, in_id, net, frames, n, counters_);
  for (int i = 0; i < n; i++) {
    Frame& f = frames[i];
    uint32_t elen = f.len > kVnetHdrLen ? f.len - kVnetHdrLen : 0;
    counters_.Port(in_id, rx_packets);
    counters_.Port(in_id, rx_bytes, elen);
    const uint8_t* eth = f.buf + kVnetHdrLen;
    const uint8_t* dst = eth;
    const uint8_t* src = eth + 6;
    DropReason why = IngressCheck(t, in, guard, f);
    if (why != kDropReasonCount) {
      DropFrame(why, in_id, net, f);
      counters_.Port(in_id, rx_dropped);
      continue;
    }
    if (guard == nullptr) Learn(t, net, src, in_id, now);
    // After port security (so the source address is the sender's own),
    // before anything is answered or forwarded (policy_stage.cc).
    if (policy != nullptr && !PolicyStep(t, *policy, in, f, now)) {
      counters_.Port(in_id, rx_dropped);
      continue;
    }
    // Broadcast or unicast (a re-probe), an ARP request the overlay fdb can
    // answer never leaves this host.
    if (reinterpret_cast<const EthHdr*>(eth)->type.get() == kEthArp && ProxyArp(t, in, f)) continue;
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
    CountHit(fib_hits_, e->counter);
    why = ForwardCheck(t, in, *e);
    if (why != kDropReasonCount) {
      DropFrame(why, in_id, net, f);
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

void Worker::Flood(const Tables& t, const Port& in, Frame* f) {
  auto it = t.flood.find(in.network());
  if (it == t.flood.end()) return;
  for (uint32_t p : it->second) {
    const Port* out = t.port(p);
    bool loop = false;
    if (out != nullptr && FloodsTo(in, *out, &loop)) Enqueue(p, f);
    else if (loop) counters_.Drop(uplink_loop);
  }
}

}  // namespace weft
