// The N-API surface: one Datapath object owning the workers, the ports, the
// fast-path tables, the counters and the event channel toward JavaScript.
// JavaScript programs tables through small batched calls and reads counters
// and last-seen times straight from shared memory.
#include <arpa/inet.h>
#include <napi.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

#include "common.h"
#include "events.h"
#include "fastpath.h"
#include "port_memory.h"
#include "port_packet.h"
#include "port_service.h"
#include "port_tap.h"
#include "tunnel.h"
#include "udp_batch.h"
#include "worker.h"

namespace weft {

namespace {

uint32_t ArgU32(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a number");
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (v < 0 || v > UINT32_MAX || v != static_cast<uint32_t>(v)) throw Napi::RangeError::New(info.Env(), std::string(what) + " out of range");
  return static_cast<uint32_t>(v);
}

std::string ArgString(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsString()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

// A Float64Array argument of records `stride` numbers long.
Napi::Float64Array RecordsArg(const Napi::CallbackInfo& info, const char* fn) {
  if (info.Length() < 1 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    throw Napi::TypeError::New(info.Env(), std::string(fn) + " takes a Float64Array");
  }
  return info[0].As<Napi::Float64Array>();
}

Napi::Array Names(Napi::Env env, std::initializer_list<const char*> names) {
  auto a = Napi::Array::New(env, names.size());
  uint32_t i = 0;
  for (const char* n : names) a.Set(i++, Napi::String::New(env, n));
  return a;
}

}  // namespace

class Datapath : public Napi::ObjectWrap<Datapath> {
 public:
  static Napi::Object Init(Napi::Env env, Napi::Object exports) {
    Napi::Function cls = DefineClass(env, "Datapath", {
        InstanceMethod<&Datapath::AddTapPort>("addTapPort"),
        InstanceMethod<&Datapath::AddPacketPort>("addPacketPort"),
        InstanceMethod<&Datapath::AddServicePort>("addServicePort"),
        InstanceMethod<&Datapath::AddMemoryPort>("addMemoryPort"),
        InstanceMethod<&Datapath::InjectRx>("injectRx"),
        InstanceMethod<&Datapath::DrainTx>("drainTx"),
        InstanceMethod<&Datapath::RemovePort>("removePort"),
        InstanceMethod<&Datapath::SetUnderlay>("setUnderlay"),
        InstanceMethod<&Datapath::SetNetworkEncap>("setNetworkEncap"),
        InstanceMethod<&Datapath::ClearNetworkEncap>("clearNetworkEncap"),
        InstanceMethod<&Datapath::AddTunnelPort>("addTunnelPort"),
        InstanceMethod<&Datapath::ArpApply>("arpApply"),
        InstanceMethod<&Datapath::FibApply>("fibApply"),
        InstanceMethod<&Datapath::FibSize>("fibSize"),
        InstanceMethod<&Datapath::Inject>("inject"),
        InstanceMethod<&Datapath::Maintain>("maintain"),
        InstanceMethod<&Datapath::Now>("now"),
        InstanceMethod<&Datapath::Count>("count"),
        InstanceMethod<&Datapath::Close>("close"),
        InstanceAccessor<&Datapath::GetCounters>("counters"),
        InstanceAccessor<&Datapath::GetHits>("hits"),
        InstanceAccessor<&Datapath::GetPortSecurity>("portSecurity"),
    });
    exports.Set("Datapath", cls);
    exports.Set("layout", Layout(env));
    return exports;
  }

  // new Datapath({ workers, busyPollUs, portSecurity, onEvents(buffer), onFrames?(buffer) })
  explicit Datapath(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Datapath>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "options object required");
    auto opts = info[0].As<Napi::Object>();
    uint32_t nworkers = opts.Has("workers") ? opts.Get("workers").As<Napi::Number>().Uint32Value() : 1;
    if (nworkers < 1 || nworkers > 16) throw Napi::RangeError::New(env, "workers must be 1..16");
    double busy_poll_us = opts.Has("busyPollUs") ? opts.Get("busyPollUs").As<Napi::Number>().DoubleValue() : 0;
    if (!(busy_poll_us >= 0 && busy_poll_us <= 1e6)) throw Napi::RangeError::New(env, "busyPollUs must be 0..1000000");
    // Off only to measure what it costs: guarded ports then learn like any other.
    port_security_ = !opts.Has("portSecurity") || opts.Get("portSecurity").ToBoolean().Value();
    if (!opts.Get("onEvents").IsFunction()) throw Napi::TypeError::New(env, "onEvents must be a function");
    Napi::Value on_frames = opts.Get("onFrames");
    if (!on_frames.IsUndefined() && !on_frames.IsFunction()) throw Napi::TypeError::New(env, "onFrames must be a function");

    // Shared memory JavaScript reads without a call: owned by ArrayBuffers we
    // keep referenced until close(), freed by V8 after that.
    size_t words = (nworkers + 1) * kBlockLen;
    counter_mem_ = new uint64_t[words]();
    auto cbuf = Napi::ArrayBuffer::New(env, counter_mem_, words * sizeof(uint64_t),
                                       [](Napi::Env, void* p) { delete[] static_cast<uint64_t*>(p); });
    counters_ref_ = Napi::Persistent(cbuf);
    hit_mem_ = new std::atomic<double>[kHitSlots];
    for (uint32_t i = 0; i < kHitSlots; i++) hit_mem_[i].store(0);
    auto hbuf = Napi::ArrayBuffer::New(env, hit_mem_, kHitSlots * sizeof(double),
                                       [](Napi::Env, void* p) { delete[] static_cast<std::atomic<double>*>(p); });
    hits_ref_ = Napi::Persistent(hbuf);
    js_counters_ = std::make_unique<Counters>(counter_mem_ + nworkers * kBlockLen);

    tsfn_ = Napi::ThreadSafeFunction::New(env, opts.Get("onEvents").As<Napi::Function>(), "weft-events", 0, 1);
    tsfn_.Unref(env);
    events_ = std::make_unique<EventQueue>([this] { tsfn_.NonBlockingCall(this, &Datapath::DeliverEvents); });
    if (on_frames.IsFunction()) {
      // Only with a taker for them can there be service ports.
      frames_tsfn_ = Napi::ThreadSafeFunction::New(env, on_frames.As<Napi::Function>(), "weft-frames", 0, 1);
      frames_tsfn_.Unref(env);
      frames_ = std::make_shared<FrameQueue>([this] { frames_tsfn_.NonBlockingCall(this, &Datapath::DeliverFrames); });
    }
    fp_ = std::make_unique<FastPath>(nworkers);
    for (uint32_t i = 0; i < nworkers; i++) {
      workers_.push_back(std::make_unique<Worker>(i, *fp_, *events_, counter_mem_ + i * kBlockLen, hit_mem_, busy_poll_us, port_security_));
    }
    for (auto& w : workers_) w->Start();
  }

  ~Datapath() override { Shutdown(); }

 private:
  static Napi::Object Layout(Napi::Env env) {
    auto o = Napi::Object::New(env);
#define WEFT_NAME(name) #name,
    o.Set("global", Names(env, {WEFT_GLOBAL_COUNTERS(WEFT_NAME)}));
    o.Set("drops", Names(env, {WEFT_DROP_REASONS(WEFT_NAME)}));
    o.Set("port", Names(env, {WEFT_PORT_COUNTERS(WEFT_NAME)}));
#undef WEFT_NAME
    o.Set("globalBase", static_cast<double>(kGlobalBase));
    o.Set("dropBase", static_cast<double>(kDropBase));
    o.Set("portBase", static_cast<double>(kPortBase));
    o.Set("portStride", static_cast<double>(kPortStride));
    o.Set("blockLen", static_cast<double>(kBlockLen));
    o.Set("maxPorts", static_cast<double>(kMaxPorts));
    o.Set("maxNetworks", static_cast<double>(kMaxNetworks));
    o.Set("hitSlots", static_cast<double>(kHitSlots));
    o.Set("frameRecordHdrLen", static_cast<double>(kFrameRecordHdrLen));
    return o;
  }

  // Runs on the JavaScript thread: drain everything queued so far and hand
  // it over as one buffer of fixed-size records.
  static void DeliverEvents(Napi::Env env, Napi::Function fn, Datapath* self) {
    if (env == nullptr || self->closed_) return;
    std::vector<Event> batch = self->events_->Drain();
    if (batch.empty()) return;
    auto buf = Napi::Buffer<uint8_t>::New(env, batch.size() * kEventRecordLen);
    uint8_t* p = buf.Data();
    for (const auto& e : batch) {
      std::memset(p, 0, kEventRecordLen);
      p[0] = e.type;
      std::memcpy(p + 1, e.mac, 6);
      std::memcpy(p + 8, &e.network, 4);
      std::memcpy(p + 12, &e.port, 4);
      p += kEventRecordLen;
    }
    self->js_counters_->Global(events_sent, batch.size());
    fn.Call({buf});
  }

  // Runs on the JavaScript thread: everything service ports queued so far,
  // as one buffer of frame records (events.h), in one call.
  static void DeliverFrames(Napi::Env env, Napi::Function fn, Datapath* self) {
    if (env == nullptr || self->closed_) return;
    auto& records = self->frames_scratch_;
    if (self->frames_->Drain(records) == 0) return;
    fn.Call({Napi::Buffer<uint8_t>::Copy(env, records.data(), records.size())});
  }

  void CheckOpen(Napi::Env env) {
    if (closed_) throw Napi::Error::New(env, "datapath is closed");
  }

  void CheckPortArgs(Napi::Env env, uint32_t id, uint32_t network, uint32_t mtu) {
    if (id == 0 || id >= kMaxPorts) throw Napi::RangeError::New(env, "port id must be 1.." + std::to_string(kMaxPorts - 1));
    if (network == 0 || network > kMaxNetworks) throw Napi::RangeError::New(env, "network id out of range");
    if (mtu < 68 || mtu > 65535 - kEthHdrLen) throw Napi::RangeError::New(env, "mtu out of range");
    if (fp_->Current()->port(id) != nullptr) throw Napi::Error::New(env, "port id " + std::to_string(id) + " in use");
  }

  void AddPort(Napi::Env env, std::unique_ptr<Port> port) {
    std::shared_ptr<Port> shared(std::move(port));
    Worker& w = *workers_[shared->id() % workers_.size()];
    fp_->Update([&](Tables& t) {
      t.ports[shared->id()] = shared;
      t.flood[shared->network()].push_back(shared->id());
    });
    try {
      w.Watch(shared->id(), shared->fd());
    } catch (const std::exception& e) {
      DropPort(shared->id());
      throw Napi::Error::New(env, e.what());
    }
  }

  // { mac: number (48 bits), ip: number (IPv4, host order; 0: none), router: boolean }
  static PortGuard GuardArg(Napi::Env env, Napi::Value v) {
    if (!v.IsObject()) throw Napi::TypeError::New(env, "guard must be an object");
    auto o = v.As<Napi::Object>();
    Napi::Value mac = o.Get("mac"), ip = o.Get("ip");
    if (!mac.IsNumber()) throw Napi::TypeError::New(env, "guard.mac must be a number");
    double m = mac.As<Napi::Number>().DoubleValue();
    if (!(m > 0 && m < 281474976710656.0) || m != static_cast<double>(static_cast<uint64_t>(m))) throw Napi::RangeError::New(env, "guard.mac out of range");
    uint64_t mv = static_cast<uint64_t>(m);
    if ((mv >> 40) & 1) throw Napi::RangeError::New(env, "guard.mac must be unicast");
    double ipv = ip.IsUndefined() ? 0 : ip.ToNumber().DoubleValue();
    if (!(ipv >= 0 && ipv <= UINT32_MAX) || ipv != static_cast<double>(static_cast<uint32_t>(ipv))) throw Napi::RangeError::New(env, "guard.ip out of range");
    PortGuard g{};
    for (int i = 0; i < 6; i++) g.mac[i] = (mv >> (8 * (5 - i))) & 0xff;
    g.ip = htonl(static_cast<uint32_t>(ipv));
    g.router = o.Get("router").ToBoolean().Value();
    return g;
  }

  // addTapPort(id, network, ifname, mtu[, netns[, guard]]): with netns (a
  // path), the device is made or re-attached in that namespace and outlives
  // the daemon; with guard, it is an endpoint's port (port security).
  Napi::Value AddTapPort(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    uint32_t id = ArgU32(info, 0, "id"), network = ArgU32(info, 1, "network");
    std::string ifname = ArgString(info, 2, "ifname");
    uint32_t mtu = ArgU32(info, 3, "mtu");
    std::string netns = info.Length() > 4 && !info[4].IsUndefined() ? ArgString(info, 4, "netns") : "";
    bool guarded = info.Length() > 5 && !info[5].IsUndefined();
    PortGuard guard = guarded ? GuardArg(env, info[5]) : PortGuard{};
    CheckPortArgs(env, id, network, mtu);
    try {
      auto port = TapPort::Create(id, network, mtu, ifname, netns);
      if (guarded) port->set_guard(guard);  // before the workers can see the port
      AddPort(env, std::move(port));
    } catch (const std::runtime_error& e) {
      throw Napi::Error::New(env, e.what());
    }
    return env.Undefined();
  }

  // addPacketPort(id, network, ifname, mtu)
  Napi::Value AddPacketPort(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    uint32_t id = ArgU32(info, 0, "id"), network = ArgU32(info, 1, "network");
    std::string ifname = ArgString(info, 2, "ifname");
    uint32_t mtu = ArgU32(info, 3, "mtu");
    CheckPortArgs(env, id, network, mtu);
    try {
      AddPort(env, PacketPort::Create(id, network, mtu, ifname));
    } catch (const std::runtime_error& e) {
      throw Napi::Error::New(env, e.what());
    }
    return env.Undefined();
  }

  // addServicePort(id, network, mtu): a port with no fd whose frames go to
  // onFrames: in-band DNS, the one packet path into JavaScript. Kept out of
  // the flood list, so only unicast to a MAC the fib pins to it gets there;
  // its answers come back through inject(id, frame).
  Napi::Value AddServicePort(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    uint32_t id = ArgU32(info, 0, "id"), network = ArgU32(info, 1, "network"), mtu = ArgU32(info, 2, "mtu");
    CheckPortArgs(env, id, network, mtu);
    if (!frames_) throw Napi::Error::New(env, "a service port needs onFrames in the Datapath options");
    auto port = std::make_shared<ServicePort>(id, network, mtu, frames_);
    fp_->Update([&](Tables& t) { t.ports[id] = port; });
    return env.Undefined();
  }

  // Memory ports (port_memory.h): frames in and out through JavaScript, so
  // tests switch a whole data path without root.
  Napi::Value AddMemoryPort(const Napi::CallbackInfo& info) {
    CheckOpen(info.Env());
    auto port = MemoryPortFromArgs(info, GuardArg);
    CheckPortArgs(info.Env(), port->id(), port->network(), port->mtu());
    AddPort(info.Env(), std::move(port));
    return info.Env().Undefined();
  }
  Napi::Value InjectRx(const Napi::CallbackInfo& info) { CheckOpen(info.Env()); return MemoryPortInjectRx(info, *fp_->Current()); }
  Napi::Value DrainTx(const Napi::CallbackInfo& info) { CheckOpen(info.Env()); return MemoryPortDrainTx(info, *fp_->Current()); }

  void DropPort(uint32_t id) {
    Port* p = fp_->Current()->port(id);
    if (p == nullptr) return;
    if (p->fd() >= 0) workers_[id % workers_.size()]->Unwatch(p->fd());
    // The fd closes when the last snapshot holding the port is reclaimed.
    fp_->Update([&](Tables& t) {
      uint32_t net = t.ports[id]->network();
      if (t.ports[id]->is_tunnel()) {
        auto* tp = static_cast<TunnelPort*>(t.ports[id].get());
        t.vtep_port.erase(static_cast<uint64_t>(net) << 32 | tp->remote_ip());
        if (--t.tunnels[net] == 0) t.tunnels.erase(net);
      }
      auto members = t.flood.find(net);  // a service port or non-flooding tunnel is in none
      if (members != t.flood.end()) {
        auto& m = members->second;
        m.erase(std::remove(m.begin(), m.end(), id), m.end());
        if (m.empty()) t.flood.erase(members);
      }
      t.ports[id].reset();
      for (auto it = t.fib.begin(); it != t.fib.end();) {
        if (it->second.port == id) it = t.fib.erase(it);
        else ++it;
      }
    });
  }

  // removePort(id) -> whether a port was removed
  Napi::Value RemovePort(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    uint32_t id = ArgU32(info, 0, "id");
    Port* p = id < kMaxPorts ? fp_->Current()->port(id) : nullptr;
    bool had = p != nullptr;
    // Removed for good (not the daemon stopping): a persistent device goes too.
    if (p != nullptr) p->Unpersist();
    DropPort(id);
    return Napi::Boolean::New(env, had);
  }

  static uint32_t ParseIPv4(Napi::Env env, const std::string& text) {
    in_addr a;
    if (inet_pton(AF_INET, text.c_str(), &a) != 1) throw Napi::Error::New(env, "malformed IPv4 address '" + text + "'");
    return a.s_addr;
  }

  // setUnderlay(localIp, vxlanPort): binds the tunnel sockets to the VTEP address.
  Napi::Value SetUnderlay(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    if (underlay_) throw Napi::Error::New(env, "underlay already set");
    uint32_t ip = ParseIPv4(env, ArgString(info, 0, "localIp"));
    uint32_t port = ArgU32(info, 1, "vxlanPort");
    if (port == 0 || port > 65535) throw Napi::RangeError::New(env, "vxlanPort out of range");
    std::string egress = info.Length() > 2 && info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";
    try {
      underlay_ = Underlay::Create(ip, static_cast<uint16_t>(port), egress);
    } catch (const std::runtime_error& e) {
      throw Napi::Error::New(env, e.what());
    }
    workers_[0]->WatchUnderlay(underlay_);
    return env.Undefined();
  }

  // setNetworkEncap(network, encap (1 vxlan, 2 gre), vni): which tunnel
  // packets belong to the network. Before any tunnel port of the network.
  Napi::Value SetNetworkEncap(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    uint32_t network = ArgU32(info, 0, "network"), encap = ArgU32(info, 1, "encap"), vni = ArgU32(info, 2, "vni");
    if (encap != 1 && encap != 2) throw Napi::RangeError::New(env, "encap must be 1 (vxlan) or 2 (gre)");
    if (encap == 1 && vni > 0xffffff) throw Napi::RangeError::New(env, "a VXLAN VNI has 24 bits");
    uint64_t key = static_cast<uint64_t>(encap) << 32 | vni;
    auto used = fp_->Current()->vni_net.find(key);
    if (used != fp_->Current()->vni_net.end() && used->second != network) throw Napi::Error::New(env, "VNI in use by another network");
    fp_->Update([&](Tables& t) {
      for (auto it = t.vni_net.begin(); it != t.vni_net.end();) {
        if (it->second == network) it = t.vni_net.erase(it);
        else ++it;
      }
      t.vni_net[key] = network;
    });
    net_encap_[network] = {static_cast<Encap>(encap), vni};
    return env.Undefined();
  }

  // clearNetworkEncap(network): the network is gone; its VNI is free again.
  Napi::Value ClearNetworkEncap(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    uint32_t network = ArgU32(info, 0, "network");
    fp_->Update([&](Tables& t) {
      for (auto it = t.vni_net.begin(); it != t.vni_net.end();) {
        if (it->second == network) it = t.vni_net.erase(it);
        else ++it;
      }
    });
    net_encap_.erase(network);
    return env.Undefined();
  }

  // addTunnelPort(id, network, remoteIp, flood, mtu): a remote VTEP of the network.
  Napi::Value AddTunnelPort(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    uint32_t id = ArgU32(info, 0, "id"), network = ArgU32(info, 1, "network");
    uint32_t remote = ParseIPv4(env, ArgString(info, 2, "remoteIp"));
    if (info.Length() < 4 || !info[3].IsBoolean()) throw Napi::TypeError::New(env, "flood must be a boolean");
    bool flood = info[3].As<Napi::Boolean>().Value();
    uint32_t mtu = ArgU32(info, 4, "mtu");
    if (!underlay_) throw Napi::Error::New(env, "no underlay: start the daemon with --underlay IP");
    auto enc = net_encap_.find(network);
    if (enc == net_encap_.end()) throw Napi::Error::New(env, "network has no encapsulation set");
    uint64_t vkey = static_cast<uint64_t>(network) << 32 | remote;
    auto& cur = *fp_->Current();
    if (cur.vtep_port.count(vkey)) throw Napi::Error::New(env, "VTEP already on this network");
    if (remote == underlay_->local_ip()) throw Napi::Error::New(env, "a VTEP cannot be this host's own underlay address");
    CheckPortArgs(env, id, network, mtu);
    auto port = std::make_shared<TunnelPort>(id, network, mtu, underlay_, enc->second.first, enc->second.second, remote, flood);
    fp_->Update([&](Tables& t) {
      t.ports[id] = port;
      if (flood) t.flood[network].push_back(id);
      t.vtep_port[vkey] = id;
      t.tunnels[network]++;
    });
    return env.Undefined();
  }

  // arpApply(Float64Array of [op, network, ipv4 (host order), mac]); op 1
  // add, 2 remove: the addresses weft answers ARP for on local ports.
  Napi::Value ArpApply(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    auto ops = RecordsArg(info, "arpApply");
    size_t n = ops.ElementLength() / 4;
    const double* d = ops.Data();
    fp_->Update([&](Tables& t) {
      for (size_t i = 0; i < n; i++) {
        const double* r = d + i * 4;
        uint64_t key = static_cast<uint64_t>(r[1]) << 32 | htonl(static_cast<uint32_t>(r[2]));
        if (r[0] == 1) t.arp[key] = static_cast<uint64_t>(r[3]) & 0xffffffffffffULL;
        else t.arp.erase(key);
      }
    });
    return env.Undefined();
  }

  // fibApply(Float64Array of records [op, network, mac, port, slot]);
  // op 1 = add or move, 2 = remove, 3 = add static (an endpoint's MAC,
  // never moved by learning). One snapshot for the whole batch.
  Napi::Value FibApply(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    auto ops = RecordsArg(info, "fibApply");
    size_t n = ops.ElementLength() / 5;
    if (n == 0) return env.Undefined();
    const double* d = ops.Data();
    double now = NowMs();
    fp_->Update([&](Tables& t) {
      for (size_t i = 0; i < n; i++) {
        const double* r = d + i * 5;
        uint64_t network = static_cast<uint64_t>(r[1]);
        uint64_t mac = static_cast<uint64_t>(r[2]) & 0xffffffffffffULL;
        uint64_t key = (network << 48) | mac;
        if (r[0] == 1 || r[0] == 3) {
          uint32_t slot = static_cast<uint32_t>(r[4]);
          t.fib[key] = FibEntry{static_cast<uint32_t>(r[3]), slot, r[0] == 3};
          if (slot < kHitSlots) hit_mem_[slot].store(now, std::memory_order_relaxed);
        } else if (r[0] == 2) {
          t.fib.erase(key);
        }
      }
    });
    return env.Undefined();
  }

  Napi::Value FibSize(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(fp_->Current()->fib.size()));
  }

  // inject(portId, frame | frame[]): switched as if the port received them.
  // An array (a service port's answers to one batch of queries) costs one
  // lock and one worker wake, not one per frame.
  Napi::Value Inject(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    uint32_t id = ArgU32(info, 0, "port");
    std::vector<std::vector<uint8_t>> frames;
    auto take = [&](Napi::Value v) {
      if (!v.IsBuffer()) throw Napi::TypeError::New(env, "frame must be a Buffer");
      auto b = v.As<Napi::Buffer<uint8_t>>();
      frames.emplace_back(b.Data(), b.Data() + b.Length());
    };
    if (info.Length() >= 2 && info[1].IsArray()) {
      auto arr = info[1].As<Napi::Array>();
      frames.reserve(arr.Length());
      for (uint32_t i = 0; i < arr.Length(); i++) take(arr.Get(i));
    } else {
      take(info.Length() >= 2 ? info[1] : env.Undefined());
    }
    workers_[id % workers_.size()]->InjectMany(id, std::move(frames));
    return env.Undefined();
  }

  // Frees snapshots no worker can hold any more; returns how many still wait.
  Napi::Value Maintain(const Napi::CallbackInfo& info) {
    if (closed_) return Napi::Number::New(info.Env(), 0);
    fp_->epochs().Reclaim();
    return Napi::Number::New(info.Env(), static_cast<double>(fp_->epochs().pending()));
  }

  Napi::Value Now(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), NowMs()); }

  // count(globalIndex, n): what the JavaScript side refuses for the data
  // path (a MAC over its port's limit) counts next to the workers' counters.
  Napi::Value Count(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t idx = ArgU32(info, 0, "counter"), n = ArgU32(info, 1, "n");
    if (idx >= kGlobalCounterCount) throw Napi::RangeError::New(env, "no such counter");
    if (!closed_) js_counters_->Global(static_cast<GlobalCounter>(idx), n);
    return env.Undefined();
  }

  Napi::Value GetPortSecurity(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), port_security_); }

  Napi::Value GetCounters(const Napi::CallbackInfo& info) {
    auto buf = counters_ref_.Value();
    return Napi::TypedArrayOf<uint64_t>::New(info.Env(), buf.ByteLength() / 8, buf, 0, napi_biguint64_array);
  }

  Napi::Value GetHits(const Napi::CallbackInfo& info) {
    auto buf = hits_ref_.Value();
    return Napi::Float64Array::New(info.Env(), kHitSlots, buf, 0);
  }

  void Shutdown() {
    if (closed_) return;
    closed_ = true;
    for (auto& w : workers_) w->Stop();
    // Workers are gone: every snapshot (and with it every port fd) can go.
    fp_->Update([](Tables& t) { t = Tables(); });
    fp_->epochs().Reclaim();
    workers_.clear();
    underlay_.reset();
    tsfn_.Release();
    if (frames_) frames_tsfn_.Release();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Shutdown();
    counters_ref_.Reset();
    hits_ref_.Reset();
    return info.Env().Undefined();
  }

  bool closed_ = false;
  bool port_security_ = true;
  uint64_t* counter_mem_ = nullptr;
  std::atomic<double>* hit_mem_ = nullptr;
  Napi::Reference<Napi::ArrayBuffer> counters_ref_;
  Napi::Reference<Napi::ArrayBuffer> hits_ref_;
  std::unique_ptr<Counters> js_counters_;
  Napi::ThreadSafeFunction tsfn_;
  std::unique_ptr<EventQueue> events_;
  // Service ports' frames toward JavaScript; null without onFrames.
  Napi::ThreadSafeFunction frames_tsfn_;
  std::shared_ptr<FrameQueue> frames_;
  std::vector<uint8_t> frames_scratch_;  // JavaScript thread only
  std::unique_ptr<FastPath> fp_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::shared_ptr<Underlay> underlay_;
  std::unordered_map<uint32_t, std::pair<Encap, uint32_t>> net_encap_;
};

void InitTesting(Napi::Env env, Napi::Object exports);  // test_exports.cc: `testing`, for unit tests

Napi::Object InitAll(Napi::Env env, Napi::Object exports) {
  InitUdpBatch(env, exports);
  InitTesting(env, exports);
  return Datapath::Init(env, exports);
}

NODE_API_MODULE(weft, InitAll)

}  // namespace weft
