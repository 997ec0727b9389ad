// Conntrack (conntrack.h) for unit tests, as `testing.ctTuple` and
// `testing.conntrack(maxEntries)`: frames in, plain objects out, explicit
// `now` (milliseconds) so expiry is tested without waiting. `track` does
// what the policy stage does per frame: the tuple, one With, Restart of an
// expired entry, Insert on a miss, Track.
#include <arpa/inet.h>
#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "conntrack.h"

namespace weft {

namespace {

std::string AddrText(const uint8_t* a, uint8_t ipver) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(ipver == 4 ? AF_INET : AF_INET6, a, buf, sizeof(buf));
  return buf;
}

Napi::Object KeyObject(Napi::Env env, const CtKey& k) {
  auto o = Napi::Object::New(env);
  o.Set("network", static_cast<double>(k.network));
  o.Set("proto", static_cast<double>(k.proto));
  o.Set("ipver", static_cast<double>(k.ipver));
  o.Set("a", AddrText(k.a, k.ipver));
  o.Set("aPort", static_cast<double>(k.a_port));
  o.Set("b", AddrText(k.b, k.ipver));
  o.Set("bPort", static_cast<double>(k.b_port));
  return o;
}

Napi::Array Pair(Napi::Env env, const uint64_t* v) {
  auto a = Napi::Array::New(env, 2);
  a.Set(0u, static_cast<double>(v[0]));
  a.Set(1u, static_cast<double>(v[1]));
  return a;
}

Napi::Object EntryObject(Napi::Env env, const CtEntry& e) {
  auto o = Napi::Object::New(env);
  o.Set("key", KeyObject(env, e.key));
  o.Set("origAToB", e.orig_a_to_b);
  o.Set("state", CtStateName(e.state));
  o.Set("lastSeen", e.last_seen);
  o.Set("expires", e.expires);
  o.Set("packets", Pair(env, e.packets));
  o.Set("bytes", Pair(env, e.bytes));
  return o;
}

std::vector<uint8_t> FrameArg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || !info[i].IsBuffer()) throw Napi::TypeError::New(info.Env(), "frame must be a Buffer");
  auto b = info[i].As<Napi::Buffer<uint8_t>>();
  return std::vector<uint8_t>(b.Data(), b.Data() + b.Length());  // exactly len bytes: a read past it is a heap overflow
}

double NumberArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

// The tuple of a frame: false, or the tuple and whether it is a related error.
bool TupleOf(const std::vector<uint8_t>& f, uint32_t network, CtTuple* t, bool* related) {
  uint32_t len = static_cast<uint32_t>(f.size());
  return CtTupleOf(f.data(), len, ParseL3L4(f.data(), len), network, t, related);
}

Napi::Object TupleObject(Napi::Env env, const CtTuple& t, bool related) {
  auto o = Napi::Object::New(env);
  o.Set("key", KeyObject(env, t.key));
  o.Set("aToB", t.a_to_b);
  o.Set("related", related);
  o.Set("tcpFlags", static_cast<double>(t.tcp_flags));
  o.Set("l4", static_cast<double>(t.l4));
  return o;
}

// ctTuple(frame, network) -> { key, aToB, related, tcpFlags, l4 } | null
Napi::Value CtTupleJs(const Napi::CallbackInfo& info) {
  auto f = FrameArg(info, 0);
  auto network = static_cast<uint32_t>(NumberArg(info, 1, "network"));
  CtTuple t;
  bool related = false;
  if (!TupleOf(f, network, &t, &related)) return info.Env().Null();
  return TupleObject(info.Env(), t, related);
}

// track(frame, network, now, packets = 1) -> null (no tuple) |
//   { tuple, orig, created, restarted, full, state, entry }
// A related ICMP error only looks its connection up (state null: none).
Napi::Value Track(Conntrack& ct, const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto f = FrameArg(info, 0);
  auto network = static_cast<uint32_t>(NumberArg(info, 1, "network"));
  double now = NumberArg(info, 2, "now");
  uint32_t packets = info.Length() > 3 && info[3].IsNumber() ? info[3].As<Napi::Number>().Uint32Value() : 1;
  CtTuple t;
  bool related = false;
  if (!TupleOf(f, network, &t, &related)) return env.Null();
  bool created = false, restarted = false, full = false, orig = false;
  CtEntry copy;
  bool have = ct.With(t.key, [&](CtEntry* e) {
    if (related) {
      if (!e || e->Expired(now)) return false;
      orig = e->Orig(t.a_to_b);
      copy = *e;
      return true;
    }
    if (e && e->Expired(now)) {
      Conntrack::Restart(*e, t.a_to_b, now);
      restarted = true;
    }
    if (!e) {
      e = ct.Insert(t.key, t.a_to_b, now);
      if (!e) {
        full = true;
        return false;
      }
      created = true;
    }
    orig = e->Orig(t.a_to_b);
    Conntrack::Track(*e, orig, t.tcp_flags, static_cast<uint32_t>(f.size()), now, packets);
    copy = *e;
    return true;
  });
  auto o = Napi::Object::New(env);
  o.Set("tuple", TupleObject(env, t, related));
  o.Set("orig", orig);
  o.Set("created", created);
  o.Set("restarted", restarted);
  o.Set("full", full);
  o.Set("state", have ? Napi::Value(Napi::String::New(env, CtStateName(copy.state))) : env.Null());
  o.Set("entry", have ? Napi::Value(EntryObject(env, copy)) : env.Null());
  return o;
}

// conntrack(maxEntries = 262144) -> { track, lookup, sweep, flush, size, max, expired, dump }
Napi::Value ConntrackJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t max = info.Length() > 0 && info[0].IsNumber() ? static_cast<size_t>(info[0].As<Napi::Number>().DoubleValue()) : 262144;
  auto ct = std::make_shared<Conntrack>(max);
  auto o = Napi::Object::New(env);
  o.Set("track", Napi::Function::New(env, [ct](const Napi::CallbackInfo& i) { return Track(*ct, i); }, "track"));
  // lookup(frame, network) -> the entry (expired or not) | null
  o.Set("lookup", Napi::Function::New(env, [ct](const Napi::CallbackInfo& i) -> Napi::Value {
          auto f = FrameArg(i, 0);
          CtTuple t;
          bool related = false;
          if (!TupleOf(f, static_cast<uint32_t>(NumberArg(i, 1, "network")), &t, &related)) return i.Env().Null();
          return ct->With(t.key, [&](CtEntry* e) -> Napi::Value { return e ? Napi::Value(EntryObject(i.Env(), *e)) : i.Env().Null(); });
        }, "lookup"));
  o.Set("sweep", Napi::Function::New(env, [ct](const Napi::CallbackInfo& i) {
          double now = NumberArg(i, 0, "now");
          auto budget = static_cast<size_t>(NumberArg(i, 1, "budget"));
          return Napi::Number::New(i.Env(), static_cast<double>(ct->Sweep(now, budget)));
        }, "sweep"));
  o.Set("flush", Napi::Function::New(env, [ct](const Napi::CallbackInfo& i) { ct->Flush(); }, "flush"));
  o.Set("size", Napi::Function::New(env, [ct](const Napi::CallbackInfo& i) { return Napi::Number::New(i.Env(), static_cast<double>(ct->size())); }, "size"));
  o.Set("max", Napi::Function::New(env, [ct](const Napi::CallbackInfo& i) { return Napi::Number::New(i.Env(), static_cast<double>(ct->max())); }, "max"));
  o.Set("expired", Napi::Function::New(env, [ct](const Napi::CallbackInfo& i) { return Napi::Number::New(i.Env(), static_cast<double>(ct->expired())); }, "expired"));
  o.Set("dump", Napi::Function::New(env, [ct](const Napi::CallbackInfo& i) {
          auto max = static_cast<size_t>(NumberArg(i, 0, "max"));
          std::vector<CtEntry> got;
          ct->Dump(max, [&](const CtEntry& e) { got.push_back(e); });
          auto arr = Napi::Array::New(i.Env(), got.size());
          for (uint32_t k = 0; k < got.size(); k++) arr.Set(k, EntryObject(i.Env(), got[k]));
          return arr;
        }, "dump"));
  return o;
}

}  // namespace

void InitTestingCt(Napi::Env env, Napi::Object testing) {
  testing.Set("ctTuple", Napi::Function::New(env, CtTupleJs, "ctTuple"));
  testing.Set("conntrack", Napi::Function::New(env, ConntrackJs, "conntrack"));
}

}  // namespace weft
