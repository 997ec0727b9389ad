// weft trace (trace.h): the worker's pipeline for one frame, as steps.
// Order as in Worker::Switch (l2_switch.cc): checks, learning, policy,
// proxy ARP, then the fast path or the flood list, then where it leaves.
#include "trace.h"

#include <arpa/inet.h>

#include <cstring>

#include "frame_checks.h"
#include "headers.h"
#include "tunnel.h"

namespace weft {

namespace {

const char* KindOf(Port& p) {
  if (p.is_tunnel()) return "tunnel";
  if (p.is_service()) return "service";
  if (p.as_trunk() != nullptr) return "trunk";
  if (p.is_uplink()) return "vlan";
  if (p.as_memory() != nullptr) return "memory";
  return "port";
}

std::string Ipv4String(uint32_t net_order) {
  char b[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &net_order, b, sizeof(b));
  return b;
}

std::string MacString(const uint8_t* m) {
  char b[18];
  snprintf(b, sizeof(b), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  return b;
}

// Where a frame leaves: each output port, with its tunnel's VTEP and VNI,
// and whether the frame fits its MTU.
void Leave(const Tables& t, std::vector<uint32_t> outs, uint32_t elen, std::vector<TraceStep>& steps) {
  for (uint32_t id : outs) {
    Port* out = t.port(id);
    if (out == nullptr) continue;
    if (const TunnelPort* tp = out->as_tunnel()) {
      steps.push_back(TraceStep{"tunnel", {}}
                          .Add("port", TraceValue::Num(id))
                          .Add("remote", TraceValue::Str(Ipv4String(tp->remote_ip())))
                          .Add("encap", TraceValue::Str(tp->encap() == Encap::kVxlan ? "vxlan" : "gre"))
                          .Add("vni", TraceValue::Num(tp->vni()))
                          .Add("gbp", TraceValue::Bool(tp->gbp())));
    }
    // A traced frame is one packet (no GSO): it must fit.
    uint32_t l3 = elen > kEthHdrLen ? elen - kEthHdrLen : 0;
    steps.push_back(TraceStep{"mtu", {}}
                        .Add("port", TraceValue::Num(id))
                        .Add("mtu", TraceValue::Num(out->mtu()))
                        .Add("frameLen", TraceValue::Num(l3))
                        .Add("fits", TraceValue::Bool(l3 <= out->mtu())));
  }
  steps.push_back(TraceStep{"output", {}}.Add("ports", TraceValue::List(std::move(outs))));
}

TraceStep Dropped(DropReason why) { return TraceStep{"drop", {}}.Add("reason", TraceValue::Str(DropReasonName(why))); }

}  // namespace

std::vector<TraceStep> TraceFrame(const Tables& t, const Port& cin, bool port_security, const uint8_t* frame, uint32_t len,
                                  Conntrack* ct) {
  Port& in = const_cast<Port&>(cin);  // only its const accessors are used (KindOf asks the virtual casts)
  std::vector<TraceStep> steps;
  const uint32_t net = in.network();
  steps.push_back(TraceStep{"port", {}}
                      .Add("port", TraceValue::Num(in.id()))
                      .Add("network", TraceValue::Num(net))
                      .Add("kind", TraceValue::Str(KindOf(in))));
  // The frame as a port would hand it over: a plain vnet header in front.
  std::vector<uint8_t> buf(kVnetHdrLen + len);
  std::memcpy(buf.data() + kVnetHdrLen, frame, len);
  Frame f{buf.data(), static_cast<uint32_t>(buf.size()), false};
  const uint8_t* eth = buf.data() + kVnetHdrLen;
  const PortGuard* guard = port_security ? in.guard() : nullptr;
  DropReason why = IngressCheck(t, in, guard, f);
  steps.push_back(TraceStep{"checks", {}}
                      .Add("result", TraceValue::Str(why == kDropReasonCount ? "ok" : DropReasonName(why)))
                      .Add("portSecurity", TraceValue::Bool(guard != nullptr)));
  if (why != kDropReasonCount) {
    steps.push_back(Dropped(why));
    return steps;
  }
  if (guard == nullptr) {
    const FibEntry* src = t.Lookup(MacKey(net, eth + 6));
    const char* learn = src == nullptr ? "new" : src->port == in.id() ? "known" : src->pinned ? "refused" : "moved";
    steps.push_back(TraceStep{"learn", {}}.Add("mac", TraceValue::Str(MacString(eth + 6))).Add("result", TraceValue::Str(learn)));
  }
  const PolicyTables* policy = t.policy.get();
  if (policy != nullptr && policy->Enforced(net)) {
    PolicyTrace pt = TracePolicy(t, *policy, in, f, ct);
    TraceStep s{"policy", {}};
    s.Add("verdict", TraceValue::Str(pt.allow ? "allow" : "deny"));
    if (pt.reason != nullptr) s.Add("reason", TraceValue::Str(pt.reason));
    if (pt.note != nullptr) s.Add("note", TraceValue::Str(pt.note));
    if (pt.slot_out != kPolNoSlot) s.Add("slotOut", TraceValue::Num(pt.slot_out));
    if (pt.slot_in != kPolNoSlot) s.Add("slotIn", TraceValue::Num(pt.slot_in));
    s.Add("srcGroup", TraceValue::Num(pt.src_group)).Add("dstGroup", TraceValue::Num(pt.dst_group));
    s.Add("ct", TraceValue::Str(pt.established ? "established" : "new"));
    steps.push_back(std::move(s));
    if (!pt.allow) {
      steps.push_back(TraceStep{"drop", {}}.Add("reason", TraceValue::Str(pt.reason)));
      return steps;
    }
  }
  const uint32_t elen = static_cast<uint32_t>(len);
  uint8_t mac[6];
  if (Get16(eth + 12) == kEthArp && ProxyArpAnswer(t, in, eth, elen, mac)) {
    steps.push_back(TraceStep{"proxy_arp", {}}.Add("answer", TraceValue::Str(MacString(mac))));
    steps.push_back(TraceStep{"output", {}}.Add("ports", TraceValue::List({in.id()})));
    return steps;
  }
  auto flood = [&](const char* why_flood) {
    std::vector<uint32_t> outs;
    auto it = t.flood.find(net);
    if (it != t.flood.end()) {
      for (uint32_t p : it->second) {
        const Port* out = t.port(p);
        bool loop = false;
        if (out != nullptr && FloodsTo(in, *out, &loop)) outs.push_back(p);
      }
    }
    steps.push_back(TraceStep{"flood", {}}.Add("why", TraceValue::Str(why_flood)).Add("ports", TraceValue::List(outs)));
    Leave(t, std::move(outs), elen, steps);
  };
  if (IsMulticast(eth)) {
    flood("broadcast or multicast");
    return steps;
  }
  const FibEntry* e = t.Lookup(MacKey(net, eth));
  if (e == nullptr) {
    bool miss_event = !in.is_tunnel() && t.tunnels.count(net) != 0;
    steps.push_back(TraceStep{"fib", {}}
                        .Add("mac", TraceValue::Str(MacString(eth)))
                        .Add("result", TraceValue::Str("miss"))
                        .Add("missEvent", TraceValue::Bool(miss_event)));
    flood("unknown destination (L2 miss)");
    return steps;
  }
  steps.push_back(TraceStep{"fib", {}}
                      .Add("mac", TraceValue::Str(MacString(eth)))
                      .Add("result", TraceValue::Str("hit"))
                      .Add("port", TraceValue::Num(e->port))
                      .Add("pinned", TraceValue::Bool(e->pinned)));
  why = ForwardCheck(t, in, *e);
  if (why != kDropReasonCount) {
    steps.push_back(Dropped(why));
    return steps;
  }
  Leave(t, {e->port}, elen, steps);
  return steps;
}

}  // namespace weft
