// The observe calls (weft trace, dp dump, stats drops): a frame walked
// through the pipeline without being sent (trace.cc), the workers' last
// drops (drop_ring.h), and the fast path's tables with their hit counts
// (fib_hits.h). All read-only; none changes a counter.
#include <arpa/inet.h>

#include <cstdio>
#include <vector>

#include "addon.h"
#include "trace.h"
#include "tunnel.h"

namespace weft {

namespace {

std::string Mac(const uint8_t* m) {
  char b[18];
  snprintf(b, sizeof(b), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  return b;
}

std::string MacOf(uint64_t v) {
  uint8_t m[6];
  for (int i = 0; i < 6; i++) m[i] = (v >> (8 * (5 - i))) & 0xff;
  return Mac(m);
}

std::string Ipv4(uint32_t net_order) { return Address(reinterpret_cast<const uint8_t*>(&net_order), 4); }

Napi::Value ValueOf(Napi::Env env, const TraceValue& v) {
  switch (v.kind) {
    case TraceValue::kStr: return Napi::String::New(env, v.str);
    case TraceValue::kBool: return Napi::Boolean::New(env, v.flag);
    case TraceValue::kList: {
      auto a = Napi::Array::New(env, v.list.size());
      for (uint32_t i = 0; i < v.list.size(); i++) a.Set(i, static_cast<double>(v.list[i]));
      return a;
    }
    default: return Napi::Number::New(env, v.num);
  }
}

}  // namespace

// trace(port, frame: Buffer): the steps, as objects with `step` first.
Napi::Value Datapath::Trace(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  uint32_t id = ArgU32(info, 0, "port");
  if (info.Length() < 2 || !info[1].IsBuffer()) throw Napi::TypeError::New(env, "trace: frame must be a Buffer");
  auto frame = info[1].As<Napi::Buffer<uint8_t>>();
  if (frame.Length() > 65535) throw Napi::RangeError::New(env, "trace: frame longer than 65535 bytes");
  const Tables* t = fp_->Current();  // this thread is the snapshots' only writer
  Port* in = t->port(id);
  if (in == nullptr || in->as_trunk() != nullptr) throw Napi::Error::New(env, "trace: no port " + std::to_string(id));
  std::vector<TraceStep> steps = TraceFrame(*t, *in, port_security_, frame.Data(), static_cast<uint32_t>(frame.Length()), ct_.get());
  auto out = Napi::Array::New(env, steps.size());
  for (uint32_t i = 0; i < steps.size(); i++) {
    auto o = Napi::Object::New(env);
    o.Set("step", steps[i].step);
    for (auto& [k, v] : steps[i].fields) o.Set(k, ValueOf(env, v));
    out.Set(i, o);
  }
  return out;
}

// dropsRecent(): every worker's last drops, newest first.
Napi::Value Datapath::DropsRecent(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  std::vector<DropNote> all;
  for (auto& w : workers_) {
    auto some = w->drops().Snapshot();
    all.insert(all.end(), some.begin(), some.end());
  }
  std::sort(all.begin(), all.end(), [](const DropNote& a, const DropNote& b) { return a.at > b.at; });
  auto out = Napi::Array::New(env, all.size());
  for (uint32_t i = 0; i < all.size(); i++) {
    const DropNote& n = all[i];
    auto o = Napi::Object::New(env);
    o.Set("at", n.at);
    o.Set("reason", n.tx ? "tx_dropped" : DropReasonName(static_cast<DropReason>(n.reason)));
    o.Set("dir", n.tx ? "tx" : "rx");
    if (n.vtep != 0) o.Set("vtep", Ipv4(n.vtep));
    o.Set("port", static_cast<double>(n.port));
    o.Set("network", static_cast<double>(n.network));
    o.Set("len", static_cast<double>(n.len));
    o.Set("srcMac", Mac(n.src_mac));
    o.Set("dstMac", Mac(n.dst_mac));
    o.Set("ethertype", static_cast<double>(n.ethertype));
    if (n.ipver != 0) {
      o.Set("src", Address(n.src, n.ipver));
      o.Set("dst", Address(n.dst, n.ipver));
      o.Set("proto", static_cast<double>(n.proto));
      if (n.sport != 0 || n.dport != 0) {
        o.Set("sport", static_cast<double>(n.sport));
        o.Set("dport", static_cast<double>(n.dport));
      }
    }
    out.Set(i, o);
  }
  return out;
}

// fibDump(): the fast path's (network, MAC) -> port entries with their hits
// and last-seen times (0: an entry without a last-seen slot).
Napi::Value Datapath::FibDump(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  const Tables* t = fp_->Current();
  auto out = Napi::Array::New(env, t->fib.size());
  uint32_t i = 0;
  for (const auto& [key, e] : t->fib) {
    auto o = Napi::Object::New(env);
    o.Set("network", static_cast<double>(key >> 48));
    o.Set("mac", MacOf(key & 0xffffffffffffULL));
    o.Set("port", static_cast<double>(e.port));
    o.Set("pinned", e.pinned);
    o.Set("slot", static_cast<double>(e.slot));
    o.Set("hits", static_cast<double>(fib_hits_->Sum(e.counter)));
    o.Set("lastSeen", e.slot < kHitSlots ? hit_mem_[e.slot].load(std::memory_order_relaxed) : 0.0);
    out.Set(i++, o);
  }
  return out;
}

// tablesDump(): the VTEPs each network accepts, the VNIs, the proxy-ARP
// answers and the flood lists.
Napi::Value Datapath::TablesDump(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  const Tables* t = fp_->Current();
  auto vteps = Napi::Array::New(env);
  for (const auto& [key, port] : t->vtep_port) {
    auto o = Napi::Object::New(env);
    o.Set("network", static_cast<double>(key >> 32));
    o.Set("remote", Ipv4(static_cast<uint32_t>(key)));
    o.Set("port", static_cast<double>(port));
    vteps.Set(vteps.Length(), o);
  }
  auto vni = Napi::Array::New(env);
  for (const auto& [key, net] : t->vni_net) {
    auto o = Napi::Object::New(env);
    o.Set("encap", static_cast<Encap>(key >> 32) == Encap::kVxlan ? "vxlan" : "gre");
    o.Set("vni", static_cast<double>(static_cast<uint32_t>(key)));
    o.Set("network", static_cast<double>(net));
    vni.Set(vni.Length(), o);
  }
  auto arp = Napi::Array::New(env);
  for (const auto& [key, mac] : t->arp) {
    auto o = Napi::Object::New(env);
    o.Set("network", static_cast<double>(key >> 32));
    o.Set("ip", Ipv4(static_cast<uint32_t>(key)));
    o.Set("mac", MacOf(mac));
    arp.Set(arp.Length(), o);
  }
  auto flood = Napi::Array::New(env);
  for (const auto& [net, ports] : t->flood) {
    auto o = Napi::Object::New(env);
    o.Set("network", static_cast<double>(net));
    auto list = Napi::Array::New(env, ports.size());
    for (uint32_t i = 0; i < ports.size(); i++) list.Set(i, static_cast<double>(ports[i]));
    o.Set("ports", list);
    flood.Set(flood.Length(), o);
  }
  auto out = Napi::Object::New(env);
  out.Set("vteps", vteps);
  out.Set("vni", vni);
  out.Set("arp", arp);
  out.Set("flood", flood);
  return out;
}

}  // namespace weft
