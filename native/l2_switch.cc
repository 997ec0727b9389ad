// L2 switching: what a worker does with each frame a port gave it. It
// checks the frame (size, vnet header, source MAC, port security, an
// uplink's claim to a local endpoint's address), learns
// its source (a learn event toward JavaScript, once per MAC until answered),
// asks group policy on enforced networks (policy_stage.cc), lets proxy ARP
// answer it (proxy_arp.cc), and queues it for the output port the fast path
// names, or floods it (with a miss event on a network with tunnels). The
// worker loop (worker.cc) sends the queues.
#include "worker.h"

#include "headers.h"
#include "port_guard.h"

namespace weft {

namespace {

// A learn event not answered within this long is sent again.
constexpr double kReportAgainMs = 1000;
// The last-seen time of a MAC is refreshed at most this often per MAC, so a
// running flow does not write the shared cache line on every frame.
constexpr double kTouchEveryMs = 100;

// virtio_net_hdr sanity: a header the kernel would reject on the way out must
// not reach an output port.
bool ValidVnetHdr(const VnetHdr& h, uint32_t frame_len) {
  uint8_t gso = h.gso_type & ~kGsoEcn;
  // The ECN bit alone (no GSO type) is refused by the kernel's virtio_net_hdr_to_skb too.
  if (h.gso_type != 0 && gso == 0) return false;
  if (gso != 0 && gso != kGsoTcpV4 && gso != kGsoUdp && gso != kGsoTcpV6 && gso != kGsoUdpL4) return false;
  if (gso != 0 && h.gso_size == 0) return false;
  if ((h.flags & kVnetNeedsCsum) && static_cast<uint32_t>(h.csum_start) + h.csum_offset + 2 > frame_len) return false;
  return true;
}

// From an uplink, an IPv4 source that is one of this host's endpoints'
// addresses is a lie (a machine on the VLAN taking a container's address):
// that endpoint sits behind a port of this host.
bool ClaimsLocalIp(const Tables& t, uint32_t net, const uint8_t* eth, uint32_t elen) {
  if (t.local_ip.empty() || elen < kEthHdrLen + 20 || Get16(eth + 12) != kEthIPv4) return false;
  uint32_t src;
  std::memcpy(&src, eth + kEthHdrLen + 12, 4);
  return t.local_ip.count(static_cast<uint64_t>(net) << 32 | src) != 0;
}

}  // namespace

void Worker::Switch(const Tables& t, const Port& in, Frame* frames, int n, double now) {
  const uint32_t in_id = in.id();
  const uint32_t net = in.network();
  // An endpoint port's MAC is pinned from the store: it is checked instead
  // of learned (no table lookup for the source).
  const PortGuard* guard = port_security_ ? in.guard() : nullptr;
  const uint32_t max_frame = guard != nullptr ? in.max_rx_frame() : in.max_frame();
  const bool from_uplink = in.is_uplink();
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
      else if (from_uplink && ClaimsLocalIp(t, net, eth, elen)) why = uplink_spoof;
    }
    if (why != kDropReasonCount) {
      counters_.Drop(why);
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
    if (in.is_uplink() && out->is_uplink()) {
      counters_.Drop(uplink_loop);  // never from one uplink into another: no STP, no loops
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
  bool from_tunnel = in.is_tunnel(), from_uplink = in.is_uplink();
  for (uint32_t p : it->second) {
    if (p == in.id()) continue;
    const Port* out = t.port(p);
    if (out == nullptr) continue;
    // Split horizon: a frame from a tunnel goes to local ports only, so a
    // full mesh of VTEPs has no loops and no storms.
    if (out->is_tunnel() && (from_tunnel || !out->floods())) continue;
    // Nor from an uplink into another: the physical networks have their own
    // paths between them, and weft runs no STP.
    if (from_uplink && out->is_uplink()) {
      counters_.Drop(uplink_loop);
      continue;
    }
    Enqueue(p, f);
  }
}

}  // namespace weft
