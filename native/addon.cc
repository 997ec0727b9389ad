// The Datapath object's lifecycle (construction, close), its hand-off of
// events and service-port frames to JavaScript, and its counters. See
// addon.h for how the rest of its methods are spread.
#include "addon.h"

#include <cstring>

#include "udp_batch.h"
#include "wire.h"

namespace weft {

Napi::Object Datapath::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = DefineClass(env, "Datapath", {
      InstanceMethod<&Datapath::AddTapPort>("addTapPort"),
      InstanceMethod<&Datapath::Trace>("trace"),
      InstanceMethod<&Datapath::DropsRecent>("dropsRecent"),
      InstanceMethod<&Datapath::FibDump>("fibDump"),
      InstanceMethod<&Datapath::TablesDump>("tablesDump"),
      InstanceMethod<&Datapath::AddPacketPort>("addPacketPort"),
      InstanceMethod<&Datapath::AddServicePort>("addServicePort"),
      InstanceMethod<&Datapath::AddUplinkPort>("addUplinkPort"),
      InstanceMethod<&Datapath::AddVlanPort>("addVlanPort"),
      InstanceMethod<&Datapath::AddMemoryPort>("addMemoryPort"),
      InstanceMethod<&Datapath::InjectRx>("injectRx"),
      InstanceMethod<&Datapath::DrainTx>("drainTx"),
      InstanceMethod<&Datapath::RemovePort>("removePort"),
      InstanceMethod<&Datapath::SetUnderlay>("setUnderlay"),
      InstanceMethod<&Datapath::AttachXdp>("attachXdp"),
      InstanceMethod<&Datapath::SetNetworkEncap>("setNetworkEncap"),
      InstanceMethod<&Datapath::ClearNetworkEncap>("clearNetworkEncap"),
      InstanceMethod<&Datapath::AddTunnelPort>("addTunnelPort"),
      InstanceMethod<&Datapath::ArpApply>("arpApply"),
      InstanceMethod<&Datapath::FibApply>("fibApply"),
      InstanceMethod<&Datapath::FibSize>("fibSize"),
      InstanceMethod<&Datapath::PolicyLoad>("policyLoad"),
      InstanceMethod<&Datapath::PolicyCounters>("policyCounters"),
      InstanceMethod<&Datapath::CtStats>("ctStats"),
      InstanceMethod<&Datapath::CtFlush>("ctFlush"),
      InstanceMethod<&Datapath::CtDump>("ctDump"),
      InstanceMethod<&Datapath::Inject>("inject"),
      InstanceMethod<&Datapath::CaptureStart>("captureStart"),
      InstanceMethod<&Datapath::CaptureStop>("captureStop"),
      InstanceMethod<&Datapath::CaptureStats>("captureStats"),
      InstanceMethod<&Datapath::CaptureFilterCheck>("captureFilterCheck"),
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

Datapath::Datapath(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Datapath>(info) {
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
  Napi::Value on_policy_log = opts.Get("onPolicyLog");
  if (!on_policy_log.IsUndefined() && !on_policy_log.IsFunction()) throw Napi::TypeError::New(env, "onPolicyLog must be a function");

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
  // Connections tracked at most (default 262144): a full table refuses new ones (ct_full).
  double ct_max = opts.Has("ctMax") && !opts.Get("ctMax").IsUndefined() ? opts.Get("ctMax").ToNumber().DoubleValue() : 262144;
  if (!(ct_max >= 1 && ct_max <= (1 << 24)) || ct_max != static_cast<size_t>(ct_max)) throw Napi::RangeError::New(env, "ctMax must be 1..16777216");
  ct_ = std::make_unique<Conntrack>(static_cast<size_t>(ct_max));
  if (on_policy_log.IsFunction()) {
    // Without a taker, denied connections are still dropped and counted, not logged.
    policy_log_tsfn_ = Napi::ThreadSafeFunction::New(env, on_policy_log.As<Napi::Function>(), "weft-policy-log", 0, 1);
    policy_log_tsfn_.Unref(env);
    policy_log_ = std::make_unique<PolicyLog>([this] { policy_log_tsfn_.NonBlockingCall(this, &Datapath::DeliverPolicyLog); });
  }
  const size_t slot_words = static_cast<size_t>(kPolicySlots) * kPolCountStride;
  policy_slots_.assign(nworkers * slot_words, 0);
  fib_hits_ = std::make_unique<FibHits>(nworkers, kHitSlots);
  fp_ = std::make_unique<FastPath>(nworkers);
  fp_->Update([&](Tables& t) { t.fib_hits = fib_hits_.get(); });
  capture_ = std::make_unique<Capture>(nworkers, fp_->epochs());
  for (uint32_t i = 0; i < nworkers; i++) {
    PolicyContext pc{ct_.get(), policy_log_.get(), policy_slots_.data() + i * slot_words};
    workers_.push_back(std::make_unique<Worker>(i, *fp_, *events_, counter_mem_ + i * kBlockLen, hit_mem_, busy_poll_us, port_security_, pc));
    workers_.back()->SetFibHits(fib_hits_->row(i));
  }
  for (auto& w : workers_) {
    w->SetCapture(capture_.get());
    w->Start();
  }
}

// Runs on the JavaScript thread: drain everything queued so far and hand
// it over as one buffer of fixed-size records (WEFT_EVENT_FIELDS).
void Datapath::DeliverEvents(Napi::Env env, Napi::Function fn, Datapath* self) {
  if (env == nullptr || self->closed_) return;
  std::vector<Event> batch = self->events_->Drain();
  if (batch.empty()) return;
  auto buf = Napi::Buffer<uint8_t>::New(env, batch.size() * kEventRecordLen);
  uint8_t* p = buf.Data();
  for (const auto& e : batch) {
    std::memset(p, 0, kEventRecordLen);
    p[kEventAtType] = e.type;
    std::memcpy(p + kEventAtMac, e.mac, 6);
    PutLE32(p + kEventAtNetwork, e.network);
    PutLE32(p + kEventAtPort, e.port);
    p += kEventRecordLen;
  }
  self->js_counters_->Global(events_sent, batch.size());
  fn.Call({buf});
}

// Runs on the JavaScript thread: everything service ports queued so far,
// as one buffer of frame records (events.h), in one call.
void Datapath::DeliverFrames(Napi::Env env, Napi::Function fn, Datapath* self) {
  if (env == nullptr || self->closed_) return;
  auto& records = self->frames_scratch_;
  if (self->frames_->Drain(records) == 0) return;
  fn.Call({Napi::Buffer<uint8_t>::Copy(env, records.data(), records.size())});
}

void Datapath::CheckOpen(Napi::Env env) {
  if (closed_) throw Napi::Error::New(env, "datapath is closed");
}

// Frees snapshots no worker can hold any more; returns how many still wait.
Napi::Value Datapath::Maintain(const Napi::CallbackInfo& info) {
  if (closed_) return Napi::Number::New(info.Env(), 0);
  fp_->epochs().Reclaim();
  return Napi::Number::New(info.Env(), static_cast<double>(fp_->epochs().pending()));
}

Napi::Value Datapath::Now(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), NowMs()); }

// count(globalIndex, n): what the JavaScript side refuses for the data
// path (a MAC over its port's limit) counts next to the workers' counters.
Napi::Value Datapath::Count(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t idx = ArgU32(info, 0, "counter"), n = ArgU32(info, 1, "n");
  if (idx >= kGlobalCounterCount) throw Napi::RangeError::New(env, "no such counter");
  if (!closed_) js_counters_->Global(static_cast<GlobalCounter>(idx), n);
  return env.Undefined();
}

Napi::Value Datapath::GetPortSecurity(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), port_security_); }

Napi::Value Datapath::GetCounters(const Napi::CallbackInfo& info) {
  auto buf = counters_ref_.Value();
  return Napi::TypedArrayOf<uint64_t>::New(info.Env(), buf.ByteLength() / 8, buf, 0, napi_biguint64_array);
}

Napi::Value Datapath::GetHits(const Napi::CallbackInfo& info) {
  auto buf = hits_ref_.Value();
  return Napi::Float64Array::New(info.Env(), kHitSlots, buf, 0);
}

void Datapath::Shutdown() {
  if (closed_) return;
  closed_ = true;
  for (auto& w : workers_) w->Stop();
  capture_->Shutdown();  // no worker copies any more: the writer and the sinks go
  // Workers are gone: every snapshot (and with it every port fd) can go.
  fp_->Update([](Tables& t) { t = Tables(); });
  fp_->epochs().Reclaim();
  workers_.clear();
  underlay_.reset();
  tsfn_.Release();
  if (frames_) frames_tsfn_.Release();
  if (policy_log_) policy_log_tsfn_.Release();
}

Napi::Value Datapath::Close(const Napi::CallbackInfo& info) {
  Shutdown();
  counters_ref_.Reset();
  hits_ref_.Reset();
  return info.Env().Undefined();
}

void InitTesting(Napi::Env env, Napi::Object exports);  // test_exports.cc: `testing`, for unit tests
void InitNetnsSocket(Napi::Env env, Napi::Object exports);  // netns_socket.cc: `socketIn`, for health checks

Napi::Object InitAll(Napi::Env env, Napi::Object exports) {
  InitUdpBatch(env, exports);
  InitTesting(env, exports);
  InitNetnsSocket(env, exports);
  return Datapath::Init(env, exports);
}

NODE_API_MODULE(weft, InitAll)

}  // namespace weft
