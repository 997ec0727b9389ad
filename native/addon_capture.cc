// The Datapath's capture methods (capture.h): N-API argument handling only.
#include <cstdlib>
#include <string>

#include "addon.h"

namespace weft {

namespace {

uint32_t U32Opt(Napi::Env env, Napi::Object o, const char* key, double lo, double hi, uint32_t dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
  if (!(d >= lo && d <= hi) || d != static_cast<double>(static_cast<uint64_t>(d)))
    throw Napi::RangeError::New(env, std::string(key) + " must be an integer " + std::to_string(static_cast<uint64_t>(lo)) + ".." +
                                         std::to_string(static_cast<uint64_t>(hi)));
  return static_cast<uint32_t>(d);
}

}  // namespace

// captureStart({ ports?: number[] | 'underlay', networks?: number[], dir?, snaplen?, filter?, count?, ringBytes?,
//                sink: { pipe: true, names?: {[port]: name} } | { tap: ifname } }) -> { id, fd | null }
Napi::Value Datapath::CaptureStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "captureStart: options object required");
  auto o = info[0].As<Napi::Object>();
  CaptureOptions opts;
  auto ids = [&](const char* key, uint32_t max, std::vector<uint32_t>& out) {
    auto a = o.Get(key).As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Value v = a.Get(i);
      double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
      if (!(d >= 1 && d <= max) || d != static_cast<uint32_t>(d)) throw Napi::RangeError::New(env, std::string("bad id in ") + key);
      out.push_back(static_cast<uint32_t>(d));
    }
  };
  Napi::Value ports = o.Get("ports");
  if (ports.IsString() && ports.As<Napi::String>().Utf8Value() == "underlay") opts.underlay = true;
  else if (ports.IsArray()) ids("ports", kMaxPorts - 1, opts.ports);
  else if (!ports.IsUndefined()) throw Napi::TypeError::New(env, "ports must be an array of port ids or 'underlay'");
  if (o.Get("networks").IsArray()) ids("networks", kMaxNetworks, opts.networks);
  else if (!o.Get("networks").IsUndefined()) throw Napi::TypeError::New(env, "networks must be an array of network ids");
  if (!opts.underlay && opts.ports.empty() && opts.networks.empty()) throw Napi::RangeError::New(env, "nothing to capture: no port or network");
  Napi::Value dir = o.Get("dir");
  std::string d = dir.IsString() ? dir.As<Napi::String>().Utf8Value() : "both";
  if (d == "in") opts.dirs = kCapIn;
  else if (d == "out") opts.dirs = kCapOut;
  else if (d == "both") opts.dirs = kCapIn | kCapOut;
  else throw Napi::RangeError::New(env, "dir must be in, out or both");
  opts.snaplen = U32Opt(env, o, "snaplen", 1, 262144, 262144);
  opts.count = U32Opt(env, o, "count", 0, 4294967295.0, 0);
  opts.ring_bytes = U32Opt(env, o, "ringBytes", 65536, 8u << 20, 8u << 20);
  Napi::Value filter = o.Get("filter");
  if (filter.IsString()) opts.filter = filter.As<Napi::String>().Utf8Value();
  else if (!filter.IsUndefined() && !filter.IsNull()) throw Napi::TypeError::New(env, "filter must be a string");

  if (!o.Get("sink").IsObject()) throw Napi::TypeError::New(env, "sink must be { pipe: true } or { tap: ifname }");
  auto sink = o.Get("sink").As<Napi::Object>();
  if (sink.Get("tap").IsString()) {
    opts.tap = sink.Get("tap").As<Napi::String>().Utf8Value();
    if (opts.tap.empty()) throw Napi::TypeError::New(env, "sink.tap must name an interface");
  } else if (sink.Get("pipe").ToBoolean().Value()) {
    Napi::Value names = sink.Get("names");
    if (names.IsObject()) {
      auto n = names.As<Napi::Object>();
      auto keys = n.GetPropertyNames();
      for (uint32_t i = 0; i < keys.Length(); i++) {
        std::string k = keys.Get(i).ToString().Utf8Value();
        Napi::Value v = n.Get(k);
        char* end = nullptr;
        unsigned long id = std::strtoul(k.c_str(), &end, 10);
        if (end != k.c_str() && *end == 0 && id < kMaxPorts && v.IsString()) opts.names[static_cast<uint32_t>(id)] = v.As<Napi::String>().Utf8Value();
      }
    }
  } else {
    throw Napi::TypeError::New(env, "sink must be { pipe: true } or { tap: ifname }");
  }
  int fd = -1;
  uint32_t id;
  try {
    id = capture_->Start(opts, &fd);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  auto r = Napi::Object::New(env);
  r.Set("id", id);
  r.Set("fd", fd >= 0 ? Napi::Value(Napi::Number::New(env, fd)) : env.Null());
  return r;
}

// captureStop(id) -> whether it was running
Napi::Value Datapath::CaptureStop(const Napi::CallbackInfo& info) {
  uint32_t id = ArgU32(info, 0, "id");
  return Napi::Boolean::New(info.Env(), !closed_ && capture_->Stop(id));
}

// captureStats(id) -> { copies, dropped, bytes, done }
Napi::Value Datapath::CaptureStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t id = ArgU32(info, 0, "id");
  uint64_t copies, dropped, bytes;
  bool done;
  if (closed_ || !capture_->Stats(id, &copies, &dropped, &bytes, &done)) throw Napi::Error::New(env, "no capture session " + std::to_string(id));
  auto r = Napi::Object::New(env);
  r.Set("copies", static_cast<double>(copies));
  r.Set("dropped", static_cast<double>(dropped));
  r.Set("bytes", static_cast<double>(bytes));
  r.Set("done", done);
  return r;
}

// captureFilterCheck(expr) -> libpcap's error text, or null
Napi::Value Datapath::CaptureFilterCheck(const Napi::CallbackInfo& info) {
  std::string err = Capture::CheckFilter(ArgString(info, 0, "expr"));
  return err.empty() ? info.Env().Null() : Napi::Value(Napi::String::New(info.Env(), err));
}

}  // namespace weft
