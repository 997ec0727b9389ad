// The Datapath's table records: fib and proxy-ARP changes arrive as
// Float64Array records (wire.h) and are applied as one snapshot per call.
#include "addon.h"
#include "wire.h"

namespace weft {

// arpApply(Float64Array of WEFT_ARP_FIELDS records): the addresses weft
// answers ARP for on local ports. One snapshot for the whole batch.
Napi::Value Datapath::ArpApply(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  auto ops = RecordsArg(info, "arpApply");
  size_t n = ops.ElementLength() / kArpStride;
  const double* d = ops.Data();
  fp_->Update([&](Tables& t) {
    for (size_t i = 0; i < n; i++) t.ApplyArp(d + i * kArpStride);
  });
  return env.Undefined();
}

// fibApply(Float64Array of WEFT_FIB_FIELDS records): learned entries added
// or moved, endpoints' MACs pinned (static), either removed. One snapshot
// for the whole batch.
Napi::Value Datapath::FibApply(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  auto ops = RecordsArg(info, "fibApply");
  size_t n = ops.ElementLength() / kFibStride;
  if (n == 0) return env.Undefined();
  const double* d = ops.Data();
  double now = NowMs();
  fp_->Update([&](Tables& t) {
    for (size_t i = 0; i < n; i++) t.ApplyFib(d + i * kFibStride, hit_mem_, now);
  });
  return env.Undefined();
}

Napi::Value Datapath::FibSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(fp_->Current()->fib.size()));
}

}  // namespace weft
