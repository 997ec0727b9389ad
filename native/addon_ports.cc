// The Datapath's ports: TAP, AF_PACKET and service ports made, removed,
// and frames injected into the switch as if a port had received them.
#include <arpa/inet.h>

#include <stdexcept>

#include "addon.h"
#include "port_packet.h"
#include "port_service.h"
#include "port_tap.h"

namespace weft {

void Datapath::CheckPortArgs(Napi::Env env, uint32_t id, uint32_t network, uint32_t mtu) {
  if (id == 0 || id >= kMaxPorts) throw Napi::RangeError::New(env, "port id must be 1.." + std::to_string(kMaxPorts - 1));
  if (network == 0 || network > kMaxNetworks) throw Napi::RangeError::New(env, "network id out of range");
  if (mtu < 68 || mtu > 65535 - kEthHdrLen) throw Napi::RangeError::New(env, "mtu out of range");
  if (fp_->Current()->port(id) != nullptr) throw Napi::Error::New(env, "port id " + std::to_string(id) + " in use");
}

void Datapath::AddPort(Napi::Env env, std::unique_ptr<Port> port, bool floods) {
  std::shared_ptr<Port> shared(std::move(port));
  Worker& w = *workers_[shared->id() % workers_.size()];
  fp_->Update([&](Tables& t) { t.AddPort(shared, floods); });
  try {
    w.Watch(shared->id(), shared->fd());
  } catch (const std::exception& e) {
    DropPort(shared->id());
    throw Napi::Error::New(env, e.what());
  }
}

// { mac: number (48 bits), ip: number (IPv4, host order; 0: none), router: boolean }
PortGuard GuardArg(Napi::Env env, Napi::Value v) {
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
Napi::Value Datapath::AddTapPort(const Napi::CallbackInfo& info) {
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
Napi::Value Datapath::AddPacketPort(const Napi::CallbackInfo& info) {
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
Napi::Value Datapath::AddServicePort(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  uint32_t id = ArgU32(info, 0, "id"), network = ArgU32(info, 1, "network"), mtu = ArgU32(info, 2, "mtu");
  CheckPortArgs(env, id, network, mtu);
  if (!frames_) throw Napi::Error::New(env, "a service port needs onFrames in the Datapath options");
  auto port = std::make_shared<ServicePort>(id, network, mtu, frames_);
  fp_->Update([&](Tables& t) { t.AddPort(port, false); });
  return env.Undefined();
}

void Datapath::DropPort(uint32_t id) {
  Port* p = fp_->Current()->port(id);
  if (p == nullptr) return;
  if (p->fd() >= 0) workers_[id % workers_.size()]->Unwatch(p->fd());
  // The fd closes when the last snapshot holding the port is reclaimed.
  fp_->Update([&](Tables& t) { t.RemovePort(id); });
}

// removePort(id) -> whether a port was removed. An uplink trunk goes only
// after its VLAN ports.
Napi::Value Datapath::RemovePort(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  uint32_t id = ArgU32(info, 0, "id");
  const Tables& t = *fp_->Current();
  Port* p = id < kMaxPorts ? t.port(id) : nullptr;
  if (p != nullptr && p->as_trunk() != nullptr) {
    for (const auto& [key, vlan_port] : t.vlan_port) {
      if (key >> 32 == id) {
        throw Napi::Error::New(env, "uplink port " + std::to_string(id) + " still has VLAN port " +
                                        std::to_string(vlan_port) + " (VLAN " + std::to_string(key & 0xffff) + ")");
      }
    }
  }
  bool had = p != nullptr;
  // Removed for good (not the daemon stopping): a persistent device goes too.
  if (p != nullptr) p->Unpersist();
  DropPort(id);
  return Napi::Boolean::New(env, had);
}

// inject(portId, frame | frame[]): switched as if the port received them.
// An array (a service port's answers to one batch of queries) costs one
// lock and one worker wake, not one per frame.
Napi::Value Datapath::Inject(const Napi::CallbackInfo& info) {
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

}  // namespace weft
