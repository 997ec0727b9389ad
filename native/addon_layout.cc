// What the add-on tells TypeScript about its memory and records, by name:
// the counters' names and places in the shared blocks (common.h), the
// limits, and every wire record (wire.h) as `layout.wire`. TypeScript reads
// strides, offsets and codes from here, never from literals of its own.
// Also the N-API argument helpers the Datapath's methods share.
#include "addon.h"
#include "wire.h"

namespace weft {

namespace {

Napi::Array Names(Napi::Env env, std::initializer_list<const char*> names) {
  auto a = Napi::Array::New(env, names.size());
  uint32_t i = 0;
  for (const char* n : names) a.Set(i++, Napi::String::New(env, n));
  return a;
}

// { name: value, ... } from an X-macro list of (name, C++ name, value).
#define WEFT_WIRE_SET(js, cpp, value) o.Set(#js, static_cast<double>(value));
#define WEFT_WIRE_OBJECT(LIST)            \
  [&] {                                   \
    auto o = Napi::Object::New(env);      \
    LIST(WEFT_WIRE_SET)                   \
    return o;                             \
  }()

Napi::Object Record(Napi::Env env, const char* len_name, size_t len, Napi::Object fields) {
  auto o = Napi::Object::New(env);
  o.Set(len_name, static_cast<double>(len));
  o.Set("fields", fields);
  return o;
}

// The policy snapshot (POLICY-SPEC §4): header word places, section strides,
// each section's fields, the codes in them, and the counter slots.
Napi::Object PolicyWire(Napi::Env env) {
  auto p = Napi::Object::New(env);
  p.Set("header", WEFT_WIRE_OBJECT(WEFT_POLICY_HEADER));
  p.Set("headerLen", static_cast<double>(kPolHeaderLen));
  p.Set("version", static_cast<double>(kPolVersion));
  p.Set("stride", WEFT_WIRE_OBJECT(WEFT_POLICY_STRIDES));
  auto fields = Napi::Object::New(env);
  fields.Set("nets", WEFT_WIRE_OBJECT(WEFT_POLICY_NET_FIELDS));
  fields.Set("ips", WEFT_WIRE_OBJECT(WEFT_POLICY_IP_FIELDS));
  fields.Set("groups", WEFT_WIRE_OBJECT(WEFT_POLICY_GROUP_FIELDS));
  fields.Set("keys", WEFT_WIRE_OBJECT(WEFT_POLICY_KEY_FIELDS));
  fields.Set("cidrs", WEFT_WIRE_OBJECT(WEFT_POLICY_CIDR_FIELDS));
  fields.Set("ranges", WEFT_WIRE_OBJECT(WEFT_POLICY_RANGE_FIELDS));
  p.Set("fields", fields);
  p.Set("slots", static_cast<double>(kPolicySlots));
  p.Set("any", static_cast<double>(kPolAny));
  p.Set("noSlot", static_cast<double>(kPolNoSlot));
  p.Set("maxPriority", static_cast<double>(kPolMaxPriority));
  p.Set("flags", WEFT_WIRE_OBJECT(WEFT_POLICY_FLAGS));
  p.Set("dirs", WEFT_WIRE_OBJECT(WEFT_POLICY_DIRS));
  p.Set("actions", WEFT_WIRE_OBJECT(WEFT_POLICY_ACTIONS));
  p.Set("counters", WEFT_WIRE_OBJECT(WEFT_POLICY_COUNTERS));
  p.Set("counterStride", static_cast<double>(kPolCountStride));
  return p;
}

Napi::Object Wire(Napi::Env env) {
  auto fib = Record(env, "stride", kFibStride, WEFT_WIRE_OBJECT(WEFT_FIB_FIELDS));
  fib.Set("ops", WEFT_WIRE_OBJECT(WEFT_FIB_OPS));
  fib.Set("noSlot", static_cast<double>(kNoSlot));
  auto arp = Record(env, "stride", kArpStride, WEFT_WIRE_OBJECT(WEFT_ARP_FIELDS));
  arp.Set("ops", WEFT_WIRE_OBJECT(WEFT_ARP_OPS));
  auto events = Record(env, "len", kEventRecordLen, WEFT_WIRE_OBJECT(WEFT_EVENT_FIELDS));
  events.Set("types", WEFT_WIRE_OBJECT(WEFT_EVENT_TYPES));
  auto w = Napi::Object::New(env);
  w.Set("fib", fib);
  w.Set("arp", arp);
  w.Set("events", events);
  w.Set("frames", Record(env, "hdrLen", kFrameRecordHdrLen, WEFT_WIRE_OBJECT(WEFT_FRAME_FIELDS)));
  w.Set("encap", WEFT_WIRE_OBJECT(WEFT_ENCAPS));
  w.Set("maxVxlanVni", static_cast<double>(kMaxVxlanVni));
  w.Set("policy", PolicyWire(env));
  w.Set("policyLog", Record(env, "len", kPolicyLogRecordLen, WEFT_WIRE_OBJECT(WEFT_POLICY_LOG_FIELDS)));
  return w;
}

#undef WEFT_WIRE_OBJECT
#undef WEFT_WIRE_SET

}  // namespace

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

Napi::Float64Array RecordsArg(const Napi::CallbackInfo& info, const char* fn) {
  if (info.Length() < 1 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    throw Napi::TypeError::New(info.Env(), std::string(fn) + " takes a Float64Array");
  }
  return info[0].As<Napi::Float64Array>();
}

Napi::Object Layout(Napi::Env env) {
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
  o.Set("wire", Wire(env));
  return o;
}

}  // namespace weft
