// The policy step of a worker (POLICY-SPEC §1): for each frame of an
// enforced network, after port security and before forwarding, whether it
// may go on. Evaluated once per connection: the conntrack entry caches the
// verdict under the snapshot's epoch, replies and ICMP errors about a live
// allowed entry pass without a rule lookup, and an original-direction packet
// of an entry made under an older snapshot is checked again (a connection
// the new rules deny is then dropped both ways).
//
// Who a frame is from and to (Ends): for IPv4 the snapshot's address table;
// from a tunnel, the VXLAN-GBP group when the frame carries one (checked
// against the table: a known address in another group is dropped,
// gbp_mismatch). Egress rules are checked when the source is an endpoint of
// this host, ingress rules when the destination is.
//
// Choices the spec leaves open, made here:
// - ARP and IPv6 neighbour discovery and MLD (ICMPv6 130-136, 143) pass.
// - Other non-IP ethertypes (port security already refuses them from
//   endpoint ports, so they come from tunnels and uplinks) are dropped
//   (policy_default_deny) when the source's group is isolated for egress,
//   the unicast destination's for ingress, or, for a multicast
//   destination, when any local endpoint of the network is isolated for
//   ingress: a flood cannot be checked per receiver.
// - IP to a multicast/broadcast MAC is refused the same way on a network
//   with a local isolated-in endpoint; elsewhere it is a connection to
//   WORLD.
// - IPv6 endpoints have no address of their own in the snapshot (it is
//   IPv4): a local endpoint's IPv6 frames take the group of its port's
//   IPv4 address, a destination's that of the port its MAC is pinned to.
// - A non-first IPv4 fragment passes when its packet's first fragment
//   passed within the last second (a small per-worker table); else it is
//   evaluated as its flow with port 0 (allowed only by a rule without
//   ports, or no isolation) and dropped as frag_no_head when denied. Later
//   IPv6 fragments have no such table: they are evaluated with port 0. A frame
//   without a trackable tuple (cut-short L4 header) is evaluated the same
//   way, without an entry.
// - A denied new connection gets no entry: each of its packets is evaluated
//   again and counted, so a flood of denied SYNs cannot fill the table.
// - From an uplink's VLAN port the source's group comes from its address,
//   as from a tunnel without GBP; a frame claiming a local endpoint's IPv4
//   address never gets here (l2_switch.cc drops it, uplink_spoof, policy
//   or not).
// - Traffic from or to a service port (weft's in-band DNS) is allowed
//   without a rule (exempt by the spec), and tracked.
// - Counting: sessions once per new connection on the slots that decided
//   (a denied one: the deciding slot, on every packet, since it has no
//   entry); packets and bytes on every packet, a GSO frame as its segments
//   and their bytes (headers repeated) as they will be on the wire.
#include <arpa/inet.h>

#include <cstring>

#include "trace.h"
#include "worker.h"

namespace weft {

namespace {

constexpr size_t kSweepBudget = 64;  // conntrack entries looked at per wakeup
constexpr double kFragKeepMs = 1000;
constexpr size_t kFragMax = 4096;

void SlotAdd(uint64_t* slots, uint32_t slot, uint32_t which, uint64_t n) {
  if (slots == nullptr || slot >= kPolicySlots) return;
  uint64_t* w = slots + static_cast<size_t>(slot) * kPolCountStride + which;
  __atomic_store_n(w, __atomic_load_n(w, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

// IPv6 neighbour discovery and multicast listener messages, right after
// the fixed header or after one hop-by-hop header (MLD's router alert).
bool NeighbourDiscovery(const uint8_t* eth, uint32_t len, const ParsedFrame& p) {
  uint8_t next = p.proto;
  uint32_t off = p.l4;
  if (next == 0) {
    if (off + 2 > len) return false;
    next = eth[off];
    off += (eth[off + 1] + 1u) * 8;
  }
  if (next != kIpProtoIcmpV6 || off + 1 > len) return false;
  uint8_t type = eth[off];
  return (type >= 130 && type <= 136) || type == 143;
}

// What the frame's ends are to policy.
struct Ends {
  uint32_t gs = 0, gd = 0;  // group keys; 0: WORLD
  bool src_local = false, dst_local = false;
  uint32_t sip = 0, dip = 0;  // IPv4, host order
  bool v4 = false;
  bool mismatch = false;  // a GBP group that contradicts the address table
};

// The endpoint behind an endpoint (guarded) port: its IPv4 address's entry.
const PolEndpoint* PortEndpoint(const PolicyTables& pt, const Port* port) {
  const PortGuard* g = port != nullptr ? port->guard() : nullptr;
  if (g == nullptr || g->ip == 0) return nullptr;
  return pt.Endpoint(port->network(), ntohl(g->ip));
}

// The group a frame from `in` comes from without looking at addresses:
// its endpoint's, or for a tunnel the GBP group it carries.
uint32_t PortGroup(const PolicyTables& pt, const Port& in, const Frame& f) {
  if (in.is_tunnel()) return f.gbp != 0 ? pt.TenantIndex(in.network()) << 16 | f.gbp : 0;
  const PolEndpoint* e = PortEndpoint(pt, &in);
  return e != nullptr ? e->group_key : 0;
}

// The endpoint a unicast destination MAC is pinned to on this host.
const PolEndpoint* DstEndpoint(const Tables& t, const PolicyTables& pt, uint32_t net, const uint8_t* eth) {
  const FibEntry* fe = t.Lookup(MacKey(net, eth));
  return fe != nullptr ? PortEndpoint(pt, t.port(fe->port)) : nullptr;
}

Ends Resolve(const Tables& t, const PolicyTables& pt, const Port& in, const Frame& f, const uint8_t* eth,
             const ParsedFrame& p) {
  Ends e;
  const uint32_t net = in.network();
  if (p.v4) {
    e.v4 = true;
    e.sip = Get32(p.saddr);
    e.dip = Get32(p.daddr);
    const PolEndpoint* s = pt.Endpoint(net, e.sip);
    if (in.is_tunnel() && f.gbp != 0) {
      e.mismatch = s != nullptr && (s->group_key & 0xffff) != f.gbp;
      e.gs = s != nullptr ? s->group_key : pt.TenantIndex(net) << 16 | f.gbp;
    } else {
      e.gs = s != nullptr ? s->group_key : 0;
      // Egress rules are for what this host's endpoints send: not for a
      // tunnel frame that claims one of their addresses.
      e.src_local = s != nullptr && s->local && !in.is_tunnel();
    }
    const PolEndpoint* d = pt.Endpoint(net, e.dip);
    e.gd = d != nullptr ? d->group_key : 0;
    e.dst_local = d != nullptr && d->local;
    return e;
  }
  e.gs = PortGroup(pt, in, f);
  if (!in.is_tunnel()) {
    const PolEndpoint* s = PortEndpoint(pt, &in);
    e.src_local = s != nullptr && s->local;
  }
  if (!IsMulticast(eth)) {
    const PolEndpoint* d = DstEndpoint(t, pt, net, eth);
    e.gd = d != nullptr ? d->group_key : 0;
    e.dst_local = d != nullptr && d->local;
  }
  return e;
}

struct Decision {
  bool allow = true;
  DropReason why = kDropReasonCount;
  uint8_t dir = 0;                  // the check that denied
  uint32_t slot_out = kPolNoSlot, slot_in = kPolNoSlot;
  uint32_t log_slot = kPolNoSlot;   // the denying rule's slot; none for a default
};

Decision Decide(const PolicyTables& pt, const Ends& e, uint8_t proto, uint16_t dport) {
  Decision d;
  auto deny = [&](const PolVerdict& v, uint8_t dir) {
    d.allow = false;
    d.why = v.by_default ? policy_default_deny : policy_deny;
    d.dir = dir;
    d.log_slot = v.by_default ? kPolNoSlot : v.slot;
    return d;
  };
  if (e.src_local) {
    PolVerdict v = pt.Evaluate(e.gs, PolDir::kOut, e.gd, e.dip, e.v4, proto, dport);
    d.slot_out = v.slot;
    if (!v.allow) return deny(v, kPolDirOut);
  }
  if (e.dst_local) {
    PolVerdict v = pt.Evaluate(e.gd, PolDir::kIn, e.gs, e.sip, e.v4, proto, dport);
    d.slot_in = v.slot;
    if (!v.allow) return deny(v, kPolDirIn);
  }
  return d;
}

// Weft's own services (in-band DNS) are exempt from rules.
bool ToOrFromService(const Tables& t, const Port& in, uint32_t net, const uint8_t* eth) {
  if (in.is_service()) return true;
  if (IsMulticast(eth)) return false;
  const FibEntry* fe = t.Lookup(MacKey(net, eth));
  const Port* out = fe != nullptr ? t.port(fe->port) : nullptr;
  return out != nullptr && out->is_service();
}

// The segments a (GSO) frame stands for, and their bytes on the wire.
uint32_t Segments(const Frame& f, const ParsedFrame& p, uint32_t elen, uint64_t* bytes) {
  const auto* vh = reinterpret_cast<const VnetHdr*>(f.buf);
  *bytes = elen;
  if ((vh->gso_type & ~kGsoEcn) == 0 || vh->gso_size == 0) return 1;
  uint32_t hdrs = p.proto == kIpProtoTcp ? p.l4 + p.thl : p.l4 + static_cast<uint32_t>(sizeof(UdpHdr));
  if (hdrs >= elen) return 1;
  uint32_t segs = (elen - hdrs + vh->gso_size - 1) / vh->gso_size;
  *bytes = elen + static_cast<uint64_t>(segs - 1) * hdrs;
  return segs;
}

PolicyLogRecord DenyRecord(double now, uint32_t net, const ParsedFrame& p, uint8_t proto, uint16_t sport,
                           uint16_t dport, const Ends& e, const Decision& d, uint32_t len) {
  PolicyLogRecord r;
  std::memset(r.b, 0, sizeof(r.b));
  std::memcpy(r.b + kPlogAtTs, &now, sizeof(double));  // little-endian hosts only, like the counters
  PutLE32(r.b + kPlogAtNetwork, net);
  r.b[kPlogAtProto] = proto;
  r.b[kPlogAtDir] = d.dir;
  r.b[kPlogAtAction] = kPolDeny;
  r.b[kPlogAtIpver] = p.v4 ? 4 : 6;
  std::memcpy(r.b + kPlogAtSrc, p.saddr, p.v4 ? 4 : 16);
  std::memcpy(r.b + kPlogAtDst, p.daddr, p.v4 ? 4 : 16);
  PutLE16(r.b + kPlogAtSport, sport);
  PutLE16(r.b + kPlogAtDport, dport);
  PutLE32(r.b + kPlogAtSrcGroup, e.gs);
  PutLE32(r.b + kPlogAtDstGroup, e.gd);
  PutLE32(r.b + kPlogAtSlot, d.log_slot);
  PutLE32(r.b + kPlogAtLen, len);
  return r;
}

bool Ported(uint8_t proto) { return proto == kIpProtoTcp || proto == kIpProtoUdp || proto == 132 || proto == 136; }

using FragMap = std::unordered_map<FragKey, double, FragKeyHash>;

// One frame through the policy step: where it is, what it counts as, and
// what was decided about it (PolicyStep applies, counts and logs that).
struct Step {
  Step(const Tables& t, const PolicyTables& pt, const Port& in, Frame& f, double now, Counters& counters, uint64_t* slots)
      : t(t), pt(pt), in(in), f(f), eth(f.buf + kVnetHdrLen), elen(f.len - kVnetHdrLen), net(in.network()),
        p(ParseL3L4(eth, elen)), now(now), counters(counters), slots(slots) {}

  const Tables& t;
  const PolicyTables& pt;
  const Port& in;
  Frame& f;
  uint8_t* eth;
  uint32_t elen;
  uint32_t net;
  ParsedFrame p;
  double now;
  Counters& counters;
  uint64_t* slots;
  uint32_t segs = 1;   // what a GSO frame stands for on the wire
  uint64_t bytes = 0;
  // What was decided.
  DropReason why = kDropReasonCount;
  bool log = false;
  Ends ends;
  Decision dec;

  void Count(uint32_t slot_out, uint32_t slot_in, bool session) const {
    for (uint32_t s : {slot_out, slot_in}) {
      if (s == kPolNoSlot) continue;
      if (session) SlotAdd(slots, s, kPolCountSessions, 1);
      SlotAdd(slots, s, kPolCountPackets, segs);
      SlotAdd(slots, s, kPolCountBytes, bytes);
    }
  }
  // A denial counts on the slot of the check that denied only.
  void CountDenied(bool session) const {
    Count(dec.dir == kPolDirOut ? dec.slot_out : kPolNoSlot, dec.dir == kPolDirIn ? dec.slot_in : kPolNoSlot, session);
  }
  // Who the ends are and what the rules say of them (dec); false, with why
  // set, when a GBP group contradicts the source address.
  bool Evaluate(uint8_t proto, uint16_t dport) {
    ends = Resolve(t, pt, in, f, eth, p);
    if (ends.mismatch) {
      why = gbp_mismatch;
      return false;
    }
    counters.Global(policy_checks);
    dec = ToOrFromService(t, in, net, eth) ? Decision{} : Decide(pt, ends, proto, dport);
    return true;
  }
  FragKey Fragment() const {
    return FragKey{net, Get32(p.saddr), Get32(p.daddr), reinterpret_cast<const Ipv4Hdr*>(eth + p.l3)->id.get(), p.proto};
  }
};

// ARP passes; other ethertypes only where no isolation is in the way.
DropReason NonIp(Step& s) {
  uint32_t gs = PortGroup(s.pt, s.in, s.f);
  s.f.gbp = gs & 0xffff;
  if (s.p.ethertype == kEthArp) return kDropReasonCount;
  if (gs != 0 && s.pt.Isolated(gs, PolDir::kOut)) return policy_default_deny;
  if (IsMulticast(s.eth)) return s.pt.HasIsolatedIn(s.net) ? policy_default_deny : kDropReasonCount;
  const PolEndpoint* d = DstEndpoint(s.t, s.pt, s.net, s.eth);
  return d != nullptr && s.pt.Isolated(d->group_key, PolDir::kIn) ? policy_default_deny : kDropReasonCount;
}

// A frame without a tuple (a later fragment, an L4 header cut short):
// decided alone, with port 0, and never tracked.
DropReason Untracked(Step& s, const FragMap& frag_ok, bool later_frag) {
  if (later_frag) {
    auto it = frag_ok.find(s.Fragment());
    if (it != frag_ok.end() && it->second > s.now) {
      s.f.gbp = PortGroup(s.pt, s.in, s.f) & 0xffff;
      return kDropReasonCount;
    }
  }
  if (!s.Evaluate(s.p.proto, 0)) return s.why;
  if (!s.dec.allow) {
    s.CountDenied(false);
    return later_frag ? frag_no_head : s.dec.why;
  }
  s.Count(s.dec.slot_out, s.dec.slot_in, false);
  s.f.gbp = s.ends.gs & 0xffff;
  return kDropReasonCount;
}

// A packet of a tracked connection: replies and related errors on the
// cached verdict; the original direction decided again under a new epoch.
void Live(Step& s, CtEntry& e, const CtTuple& tup, bool related, uint16_t dport) {
  const bool orig = e.Orig(tup.a_to_b);
  if (!related && orig && e.epoch != s.pt.epoch()) {
    if (!s.Evaluate(tup.key.proto, dport)) return;
    s.log = !s.dec.allow && !e.denied;
    e.epoch = s.pt.epoch();
    e.denied = !s.dec.allow;
    e.deny_reason = static_cast<uint8_t>(s.dec.why);
    e.gs = s.ends.gs;
    e.gd = s.ends.gd;
    e.slot_out = s.dec.slot_out;
    e.slot_in = s.dec.slot_in;
    // A denied entry counts on the slot that denied it only.
    if (!s.dec.allow) (s.dec.dir == kPolDirOut ? e.slot_in : e.slot_out) = kPolNoSlot;
  }
  if (e.denied) {
    s.why = static_cast<DropReason>(e.deny_reason);
    s.Count(e.slot_out, e.slot_in, false);
    return;
  }
  if (!related) Conntrack::Track(e, orig, tup.tcp_flags, static_cast<uint32_t>(s.bytes), s.now, s.segs);
  s.Count(e.slot_out, e.slot_in, false);
  s.f.gbp = (orig ? e.gs : e.gd) & 0xffff;
}

// A packet of no live connection: decided; tracked when allowed (in
// `stale`, an expired entry of the same key, when there is one).
void Fresh(Step& s, Conntrack& ct, CtEntry* stale, const CtTuple& tup, bool related, uint16_t dport) {
  if (related) {
    // An ICMP error about no connection we know: a packet of its own
    // (outer addresses, ICMP), decided but not tracked.
    if (!s.Evaluate(s.p.proto, 0)) return;
    if (!s.dec.allow) s.why = s.dec.why;
    else s.f.gbp = s.ends.gs & 0xffff;
    return;
  }
  if (!s.Evaluate(tup.key.proto, dport)) return;
  if (!s.dec.allow) {
    s.why = s.dec.why;
    s.log = true;
    // No entry: counted on the slot that denied, as a session each time.
    s.CountDenied(true);
    return;
  }
  CtEntry* e = stale;
  if (e != nullptr) Conntrack::Restart(*e, tup.a_to_b, s.now);
  else e = ct.Insert(tup.key, tup.a_to_b, s.now);
  if (e == nullptr) {
    s.why = ct_full;
    return;
  }
  s.counters.Global(ct_created);
  e->epoch = s.pt.epoch();
  e->gs = s.ends.gs;
  e->gd = s.ends.gd;
  e->slot_out = s.dec.slot_out;
  e->slot_in = s.dec.slot_in;
  Conntrack::Track(*e, true, tup.tcp_flags, static_cast<uint32_t>(s.bytes), s.now, s.segs);
  s.Count(s.dec.slot_out, s.dec.slot_in, true);
  s.f.gbp = s.ends.gs & 0xffff;
}

// A first fragment that passed lets its packet's later fragments pass for
// a second; the table stays bounded.
void RememberFragment(FragMap& frag_ok, const Step& s) {
  if (frag_ok.size() >= kFragMax) {
    for (auto it = frag_ok.begin(); it != frag_ok.end();) it = it->second <= s.now ? frag_ok.erase(it) : std::next(it);
    if (frag_ok.size() >= kFragMax) frag_ok.clear();
  }
  frag_ok[s.Fragment()] = s.now + kFragKeepMs;
}

}  // namespace

bool Worker::PolicyStep(const Tables& t, const PolicyTables& pt, const Port& in, Frame& f, double now) {
  Step s(t, pt, in, f, now, counters_, policy_.slots);
  auto verdict = [&](DropReason why) {
    if (why == kDropReasonCount) return true;
    DropFrame(why, in.id(), in.network(), f);
    return false;
  };
  if (!s.p.ip()) return verdict(NonIp(s));
  if (s.p.v6 && NeighbourDiscovery(s.eth, s.elen, s.p)) {
    f.gbp = PortGroup(pt, in, f) & 0xffff;
    return true;
  }
  if (IsMulticast(s.eth) && pt.HasIsolatedIn(s.net)) return verdict(policy_default_deny);
  s.segs = Segments(f, s.p, s.elen, &s.bytes);

  CtTuple tup;
  bool related = false;
  Conntrack* ct = policy_.ct;
  const bool fragment = s.p.v4 && s.p.fragment;
  const bool first_frag = fragment && (reinterpret_cast<const Ipv4Hdr*>(s.eth + s.p.l3)->frag.get() & 0x1fff) == 0;
  if (ct == nullptr || !CtTupleOf(s.eth, s.elen, s.p, s.net, &tup, &related)) {
    return verdict(Untracked(s, frag_ok_, fragment && !first_frag));
  }
  const uint8_t proto = tup.key.proto;
  const bool ported = Ported(proto);
  const uint16_t sport = ported ? (tup.a_to_b ? tup.key.a_port : tup.key.b_port) : 0;
  const uint16_t dport = ported ? (tup.a_to_b ? tup.key.b_port : tup.key.a_port) : 0;
  // Decided under the shard's lock; logged after it.
  ct->With(tup.key, [&](CtEntry* e) {
    if (e != nullptr && !e->Expired(now)) Live(s, *e, tup, related, dport);
    else Fresh(s, *ct, e, tup, related, dport);
  });
  if (s.log && policy_.log != nullptr) {
    if (pending_log_.size() < PolicyLog::kPendingMax) {
      pending_log_.push_back(DenyRecord(now, s.net, s.p, proto, sport, dport, s.ends, s.dec, s.elen));
    } else {
      counters_.Global(policy_log_suppressed);
    }
  }
  if (s.why != kDropReasonCount) return verdict(s.why);
  if (first_frag) RememberFragment(frag_ok_, s);
  return true;
}

void Worker::PolicyWakeup(double now) {
  Conntrack* ct = policy_.ct;
  if (ct != nullptr && ct->size() != 0) {
    size_t freed = ct->Sweep(now, kSweepBudget);
    if (freed > 0) counters_.Global(ct_expired, freed);
  }
  if (!pending_log_.empty()) {
    size_t refused = policy_.log->Push(pending_log_, now);
    if (refused > 0) counters_.Global(policy_log_suppressed, refused);
    pending_log_.clear();
  }
}

// weft trace (trace.h): the decision for a new connection of this frame,
// with scratch counters, no conntrack and no slot counts.
PolicyTrace TracePolicy(const Tables& t, const PolicyTables& pt, const Port& in, Frame& f, Conntrack* ct) {
  std::vector<uint64_t> scratch(kPortBase, 0);
  Counters c(scratch.data());
  Step s(t, pt, in, f, NowMs(), c, nullptr);
  PolicyTrace r;
  r.slot_out = r.slot_in = kPolNoSlot;
  auto decided = [&](DropReason why, const char* note) {
    r.allow = why == kDropReasonCount;
    r.reason = r.allow ? nullptr : DropReasonName(why);
    r.note = note;
    return r;
  };
  if (!s.p.ip()) return decided(NonIp(s), s.p.ethertype == kEthArp ? "ARP passes" : "not IP: refused only by isolation");
  if (s.p.v6 && NeighbourDiscovery(s.eth, s.elen, s.p)) return decided(kDropReasonCount, "IPv6 neighbour discovery passes");
  if (IsMulticast(s.eth) && pt.HasIsolatedIn(s.net)) return decided(policy_default_deny, "multicast into a network with an ingress-isolated endpoint");
  CtTuple tup;
  bool related = false;
  uint8_t proto = s.p.proto;
  uint16_t dport = 0;
  if (CtTupleOf(s.eth, s.elen, s.p, s.net, &tup, &related)) {
    proto = tup.key.proto;
    if (Ported(proto)) dport = tup.a_to_b ? tup.key.b_port : tup.key.a_port;
    // A live connection's packet takes its entry's verdict (Live), unless
    // it is the opener's direction under newer rules: then it is decided
    // again, as below. Only looked at.
    bool cached = false;
    if (ct != nullptr) {
      ct->With(tup.key, [&](CtEntry* e) {
        if (e == nullptr || e->Expired(s.now)) return;
        r.established = true;
        if (!related && e->Orig(tup.a_to_b) && e->epoch != pt.epoch()) return;
        cached = true;
        r.src_group = e->gs;
        r.dst_group = e->gd;
        r.slot_out = e->slot_out;
        r.slot_in = e->slot_in;
        r.allow = !e->denied;
        r.reason = e->denied ? DropReasonName(static_cast<DropReason>(e->deny_reason)) : nullptr;
      });
    }
    if (cached) return r;
  }
  if (!s.Evaluate(proto, dport)) return decided(s.why, "a VXLAN-GBP group that contradicts the source address");
  r.src_group = s.ends.gs;
  r.dst_group = s.ends.gd;
  r.slot_out = s.dec.slot_out;
  r.slot_in = s.dec.slot_in;
  const bool service = ToOrFromService(t, in, s.net, s.eth);
  return decided(s.dec.allow ? kDropReasonCount : s.dec.why, service ? "weft's own service: exempt from rules" : nullptr);
}

}  // namespace weft
