// The Datapath's memory ports (port_memory.h), for tests without root:
// made with addMemoryPort, fed with injectRx, read with drainTx.
#include <stdexcept>
#include <string>
#include <vector>

#include "addon.h"
#include "port_memory.h"

namespace weft {

namespace {

bool Flag(Napi::Object o, const char* key, bool dflt) {
  Napi::Value v = o.Get(key);
  return v.IsUndefined() ? dflt : v.ToBoolean().Value();
}

// { mtu?, vnetHdr?, csum?, tso?, capacity?, guard? }
MemoryPort::Options OptionsArg(Napi::Env env, Napi::Object o, uint32_t* mtu) {
  MemoryPort::Options opts;
  opts.vnet_hdr = Flag(o, "vnetHdr", true);
  opts.csum = Flag(o, "csum", true);
  opts.tso = Flag(o, "tso", true);
  auto number = [&](const char* key, uint32_t dflt) {
    Napi::Value v = o.Get(key);
    if (v.IsUndefined()) return dflt;
    double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    if (!(d >= 0 && d <= UINT32_MAX) || d != static_cast<uint32_t>(d)) throw Napi::RangeError::New(env, std::string(key) + " out of range");
    return static_cast<uint32_t>(d);
  };
  *mtu = number("mtu", 1500);
  opts.capacity = number("capacity", static_cast<uint32_t>(opts.capacity));
  if (opts.capacity < 1 || opts.capacity > 1u << 20) throw Napi::RangeError::New(env, "capacity must be 1..1048576");
  return opts;
}

MemoryPort* MemoryPortArg(const Napi::CallbackInfo& info, const Tables& t) {
  uint32_t id = ArgU32(info, 0, "port");
  Port* p = t.port(id);
  MemoryPort* m = p != nullptr ? p->as_memory() : nullptr;
  if (m == nullptr) throw Napi::Error::New(info.Env(), "no memory port " + std::to_string(id));
  return m;
}

}  // namespace

// addMemoryPort(id, network, options?)
Napi::Value Datapath::AddMemoryPort(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  uint32_t id = ArgU32(info, 0, "id"), network = ArgU32(info, 1, "network");
  Napi::Value ov = info.Length() > 2 ? info[2] : env.Undefined();
  if (!ov.IsUndefined() && !ov.IsObject()) throw Napi::TypeError::New(env, "options must be an object");
  Napi::Object o = ov.IsObject() ? ov.As<Napi::Object>() : Napi::Object::New(env);
  uint32_t mtu;
  MemoryPort::Options opts = OptionsArg(env, o, &mtu);
  bool guarded = !o.Get("guard").IsUndefined();
  PortGuard guard = guarded ? GuardArg(env, o.Get("guard")) : PortGuard{};
  CheckPortArgs(env, id, network, mtu);
  try {
    auto port = std::make_unique<MemoryPort>(id, network, mtu, opts);
    if (guarded) port->set_guard(guard);  // before the workers can see the port
    AddPort(env, std::move(port));
  } catch (const std::runtime_error& e) {
    throw Napi::Error::New(env, e.what());
  }
  return env.Undefined();
}

// injectRx(id, frame[]) -> how many frames the port's receive queue took
Napi::Value Datapath::InjectRx(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  MemoryPort* port = MemoryPortArg(info, *fp_->Current());
  if (info.Length() < 2 || !info[1].IsArray()) throw Napi::TypeError::New(env, "frames must be an array of Buffers");
  auto arr = info[1].As<Napi::Array>();
  std::vector<std::vector<uint8_t>> frames;
  frames.reserve(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value v = arr.Get(i);
    if (!v.IsBuffer()) throw Napi::TypeError::New(env, "frame must be a Buffer");
    auto b = v.As<Napi::Buffer<uint8_t>>();
    frames.emplace_back(b.Data(), b.Data() + b.Length());
  }
  return Napi::Number::New(env, static_cast<double>(port->Inject(std::move(frames))));
}

// drainTx(id) -> Buffer[]: what the port was sent since the last drain
Napi::Value Datapath::DrainTx(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  std::vector<std::vector<uint8_t>> frames = MemoryPortArg(info, *fp_->Current())->Drain();
  auto arr = Napi::Array::New(env, frames.size());
  for (uint32_t i = 0; i < frames.size(); i++) arr.Set(i, Napi::Buffer<uint8_t>::Copy(env, frames[i].data(), frames[i].size()));
  return arr;
}

}  // namespace weft
