// The data path's pure packet functions, exported as `addon.testing` so
// unit tests can call them with Buffers and check every byte without root,
// devices or worker threads: segmentation, checksum completion, describing
// a kernel VTEP's super-frame as GSO, coalescing, tunnel header pop, an
// uplink's in-band VLAN tag pop and the flow hash. Each takes copies and returns copies: nothing a test
// passes is written in place, and no result depends on an earlier call.
//
// Compiled into the add-on rather than into a second weft_test.node: the
// functions are linked in anyway (no second copy of the objects, no second
// source list to keep in step with binding.gyp's), and the cost is one
// property nobody on the forwarding path calls.
#include <napi.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "coalesce.h"
#include "gso.h"
#include "headers.h"
#include "port.h"
#include "port_uplink.h"
#include "tunnel.h"

namespace weft {

namespace {

Napi::Buffer<uint8_t> BufferArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsBuffer()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a Buffer");
  return info[i].As<Napi::Buffer<uint8_t>>();
}

std::vector<uint8_t> Copy(const Napi::Buffer<uint8_t>& b) { return std::vector<uint8_t>(b.Data(), b.Data() + b.Length()); }

// A vnet header from a 10-byte Buffer (missing: all zero).
VnetHdr VnetArg(const Napi::CallbackInfo& info, size_t i) {
  VnetHdr vh{};
  if (info.Length() <= i || info[i].IsUndefined()) return vh;
  auto b = BufferArg(info, i, "vnet header");
  if (b.Length() != kVnetHdrLen) throw Napi::RangeError::New(info.Env(), "a vnet header is 10 bytes");
  std::memcpy(&vh, b.Data(), kVnetHdrLen);
  return vh;
}

Napi::Buffer<uint8_t> VnetBuffer(Napi::Env env, const VnetHdr& vh) {
  return Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<const uint8_t*>(&vh), kVnetHdrLen);
}

Napi::Buffer<uint8_t> Out(Napi::Env env, const std::vector<uint8_t>& v) { return Napi::Buffer<uint8_t>::Copy(env, v.data(), v.size()); }

// popVlanTag(vnetHdr, frame) -> { vid, vnetHdr, frame }: an uplink's
// in-band tag popped (port_uplink.h; vid 0: none, -1: cut short).
Napi::Value PopVlanTagJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  VnetHdr vh = VnetArg(info, 0);
  auto frame = BufferArg(info, 1, "frame");
  std::vector<uint8_t> buf(reinterpret_cast<const uint8_t*>(&vh), reinterpret_cast<const uint8_t*>(&vh) + kVnetHdrLen);
  buf.insert(buf.end(), frame.Data(), frame.Data() + frame.Length());
  Frame f{buf.data(), static_cast<uint32_t>(buf.size()), false};
  int32_t vid = f.len >= kVnetHdrLen + kEthHdrLen ? PopVlanTag(f) : UplinkPort::kBadTag;
  std::memcpy(&vh, buf.data(), kVnetHdrLen);
  auto out = Napi::Object::New(env);
  out.Set("vid", static_cast<double>(vid));
  out.Set("vnetHdr", VnetBuffer(env, vh));
  out.Set("frame", Napi::Buffer<uint8_t>::Copy(env, buf.data() + kVnetHdrLen, f.len - kVnetHdrLen));
  return out;
}

// segmentGso(vnetHdr, frame) -> { result: 'ok' | 'unsupported' | 'malformed', segments: Buffer[] }
Napi::Value SegmentGsoJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  VnetHdr vh = VnetArg(info, 0);
  auto frame = Copy(BufferArg(info, 1, "frame"));
  uint32_t len = static_cast<uint32_t>(frame.size());
  std::vector<Segment> segs;
  GsoResult r = SegmentGso(vh, frame.data(), len, ParseL3L4(frame.data(), len), segs);
  auto out = Napi::Object::New(env);
  out.Set("result", r == GsoResult::kOk ? "ok" : r == GsoResult::kUnsupported ? "unsupported" : "malformed");
  auto arr = Napi::Array::New(env, segs.size());
  for (uint32_t i = 0; i < segs.size(); i++) {
    std::vector<uint8_t> s(segs[i].hdr, segs[i].hdr + segs[i].hdr_len);
    s.insert(s.end(), segs[i].payload, segs[i].payload + segs[i].payload_len);
    arr.Set(i, Out(env, s));
  }
  out.Set("segments", arr);
  return out;
}

// completeChecksum(vnetHdr, frame) -> { ok, vnetHdr, frame }
Napi::Value CompleteChecksumJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  VnetHdr vh = VnetArg(info, 0);
  auto frame = Copy(BufferArg(info, 1, "frame"));
  bool ok = CompleteChecksum(&vh, frame.data(), static_cast<uint32_t>(frame.size()));
  auto out = Napi::Object::New(env);
  out.Set("ok", ok);
  out.Set("vnetHdr", VnetBuffer(env, vh));
  out.Set("frame", Out(env, frame));
  return out;
}

// finishReceivedChecksum(frame) -> { valid, frame }
Napi::Value FinishReceivedChecksumJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto frame = Copy(BufferArg(info, 0, "frame"));
  uint32_t len = static_cast<uint32_t>(frame.size());
  bool valid = FinishReceivedChecksum(frame.data(), len, ParseL3L4(frame.data(), len));
  auto out = Napi::Object::New(env);
  out.Set("valid", valid);
  out.Set("frame", Out(env, frame));
  return out;
}

// describeInnerGso(frame, mtu) -> { ok, vnetHdr, frame }
Napi::Value DescribeInnerGsoJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto frame = Copy(BufferArg(info, 0, "frame"));
  if (info.Length() < 2 || !info[1].IsNumber()) throw Napi::TypeError::New(env, "mtu must be a number");
  uint32_t mtu = info[1].As<Napi::Number>().Uint32Value();
  uint32_t len = static_cast<uint32_t>(frame.size());
  VnetHdr vh{};
  bool ok = DescribeInnerGso(&vh, frame.data(), len, ParseL3L4(frame.data(), len), mtu);
  auto out = Napi::Object::New(env);
  out.Set("ok", ok);
  out.Set("vnetHdr", VnetBuffer(env, vh));
  out.Set("frame", Out(env, frame));
  return out;
}

// popVxlan(udpPayload) -> { vni, innerOff, innerLen, gbp } | null
// popGre(ipv4Packet) -> { vni, innerOff, innerLen } | null
template <bool (*Pop)(const uint8_t*, uint32_t, Popped*), bool kGbp>
Napi::Value PopJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto p = Copy(BufferArg(info, 0, "packet"));
  Popped pop{};
  if (!Pop(p.data(), static_cast<uint32_t>(p.size()), &pop)) return env.Null();
  auto out = Napi::Object::New(env);
  out.Set("vni", static_cast<double>(pop.vni));
  out.Set("innerOff", static_cast<double>(pop.inner_off));
  out.Set("innerLen", static_cast<double>(pop.inner_len));
  if (kGbp) out.Set("gbp", static_cast<double>(pop.gbp));
  return out;
}

// flowHash(frame) -> u32
Napi::Value FlowHashJs(const Napi::CallbackInfo& info) {
  auto frame = Copy(BufferArg(info, 0, "frame"));
  uint32_t len = static_cast<uint32_t>(frame.size());
  return Napi::Number::New(info.Env(), FlowHash(frame.data(), len, ParseL3L4(frame.data(), len)));
}

// The tunnel ports decapsulated frames came from: the coalescer joins only
// frames of one port. They carry nothing and send nowhere.
class NoPort : public Port {
 public:
  explicit NoPort(uint32_t id) : Port(id, 1, 1500, -1) {}
  int RxBatch(Frame*, int) override { return 0; }
  int TxBatch(Frame* const*, int, Counters&) override { return 0; }
};

// coalesce([{ frame, vnetHdr?, port?, truncated?, roomBefore?, gbp? }]) ->
//   { frames: [{ port, frame (vnet header first), gbp }], joined: { frames, segments } }
// vnetHdr defaults to DATA_VALID, as a verified decapsulated frame has.
Napi::Value CoalesceJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) throw Napi::TypeError::New(env, "coalesce takes an array");
  auto arr = info[0].As<Napi::Array>();
  std::vector<std::unique_ptr<NoPort>> ports;
  std::vector<std::vector<uint8_t>> bufs(arr.Length());
  std::vector<Decapped> in;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    if (!arr.Get(i).IsObject()) throw Napi::TypeError::New(env, "each frame is an object");
    auto o = arr.Get(i).As<Napi::Object>();
    if (!o.Get("frame").IsBuffer()) throw Napi::TypeError::New(env, "frame must be a Buffer");
    auto f = o.Get("frame").As<Napi::Buffer<uint8_t>>();
    uint32_t port = o.Get("port").IsNumber() ? o.Get("port").As<Napi::Number>().Uint32Value() : 0;
    if (port >= 64) throw Napi::RangeError::New(env, "port must be 0..63");
    while (ports.size() <= port) ports.push_back(std::make_unique<NoPort>(static_cast<uint32_t>(ports.size()) + 1));
    // Room for a vnet header before the frame, as in a receive buffer.
    bufs[i].assign(kVnetHdrLen + f.Length(), 0);
    if (f.Length()) std::memcpy(bufs[i].data() + kVnetHdrLen, f.Data(), f.Length());  // empty: no data() to copy from
    Decapped d{};
    d.port = ports[port].get();
    d.inner = bufs[i].data() + kVnetHdrLen;
    d.len = static_cast<uint32_t>(f.Length());
    d.vh.flags = kVnetDataValid;
    if (o.Get("vnetHdr").IsBuffer()) {
      auto v = o.Get("vnetHdr").As<Napi::Buffer<uint8_t>>();
      if (v.Length() != kVnetHdrLen) throw Napi::RangeError::New(env, "a vnet header is 10 bytes");
      std::memcpy(&d.vh, v.Data(), kVnetHdrLen);
    }
    d.room_before = o.Get("roomBefore").IsUndefined() || o.Get("roomBefore").ToBoolean().Value();
    d.truncated = o.Get("truncated").ToBoolean().Value();
    d.parsed = ParseL3L4(d.inner, d.len);
    d.gbp = o.Get("gbp").IsNumber() ? static_cast<uint16_t>(o.Get("gbp").As<Napi::Number>().Uint32Value()) : 0;
    in.push_back(d);
  }
  // One coalescer for every call: its arena (megabytes, zeroed when made)
  // is scratch that each Run starts over, so only the allocation is saved.
  static Coalescer co;
  std::vector<Outgoing> outgoing;
  Coalescer::Joined joined = co.Run(in, outgoing);
  auto frames = Napi::Array::New(env, outgoing.size());
  for (uint32_t i = 0; i < outgoing.size(); i++) {
    auto f = Napi::Object::New(env);
    f.Set("port", static_cast<double>(outgoing[i].port->id() - 1));
    f.Set("frame", Napi::Buffer<uint8_t>::Copy(env, outgoing[i].frame.buf, outgoing[i].frame.len));
    f.Set("gbp", static_cast<double>(outgoing[i].frame.gbp));
    frames.Set(i, f);
  }
  auto out = Napi::Object::New(env);
  out.Set("frames", frames);
  auto j = Napi::Object::New(env);
  j.Set("frames", static_cast<double>(joined.frames));
  j.Set("segments", static_cast<double>(joined.segments));
  out.Set("joined", j);
  return out;
}

}  // namespace

void InitTestingCt(Napi::Env env, Napi::Object testing);  // test_exports_ct.cc: ctTuple, conntrack

void InitTesting(Napi::Env env, Napi::Object exports) {
  auto t = Napi::Object::New(env);
  t.Set("segmentGso", Napi::Function::New(env, SegmentGsoJs, "segmentGso"));
  t.Set("completeChecksum", Napi::Function::New(env, CompleteChecksumJs, "completeChecksum"));
  t.Set("finishReceivedChecksum", Napi::Function::New(env, FinishReceivedChecksumJs, "finishReceivedChecksum"));
  t.Set("describeInnerGso", Napi::Function::New(env, DescribeInnerGsoJs, "describeInnerGso"));
  t.Set("popVxlan", Napi::Function::New(env, PopJs<PopVxlan, true>, "popVxlan"));
  t.Set("popGre", Napi::Function::New(env, PopJs<PopGre, false>, "popGre"));
  t.Set("flowHash", Napi::Function::New(env, FlowHashJs, "flowHash"));
  t.Set("coalesce", Napi::Function::New(env, CoalesceJs, "coalesce"));
  t.Set("popVlanTag", Napi::Function::New(env, PopVlanTagJs, "popVlanTag"));
  InitTestingCt(env, t);
  exports.Set("testing", t);
}

}  // namespace weft
