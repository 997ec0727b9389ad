// The Datapath's group-policy methods (POLICY-SPEC §5): the compiled
// snapshot in (policyLoad), the per-slot counters and the conntrack out
// (policyCounters, ctStats, ctFlush, ctDump), and the deny log's delivery to
// onPolicyLog. Argument handling only: parsing is PolicyTables', deciding
// the worker's (policy_stage.cc).
#include <arpa/inet.h>

#include <cstring>

#include "addon.h"
#include "policy_tables.h"
#include "wire.h"

namespace weft {

std::string Address(const uint8_t* a, uint8_t ipver) {
  char buf[INET6_ADDRSTRLEN] = {0};
  inet_ntop(ipver == 4 ? AF_INET : AF_INET6, a, buf, sizeof(buf));
  return buf;
}

// policyLoad(Uint32Array) -> epoch: validates the whole snapshot, then
// publishes it with the tables in one swap. A malformed one throws a
// one-line Error and the one in force stays.
Napi::Value Datapath::PolicyLoad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  if (info.Length() < 1 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
    throw Napi::TypeError::New(env, "policyLoad takes a Uint32Array");
  }
  auto words = info[0].As<Napi::Uint32Array>();
  std::shared_ptr<const PolicyTables> next;
  try {
    next = PolicyTables::Parse(words.Data(), words.ElementLength(), policy_epoch_ + 1);
  } catch (const PolicyError& e) {
    throw Napi::Error::New(env, e.what());
  }
  policy_epoch_++;
  fp_->Update([&](Tables& t) { t.policy = std::move(next); });
  return Napi::Number::New(env, policy_epoch_);
}

// policyCounters() -> Float64Array of kPolicySlots * 3: sessions, packets,
// bytes per slot, summed over the workers' blocks.
Napi::Value Datapath::PolicyCounters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const size_t words = static_cast<size_t>(kPolicySlots) * kPolCountStride;
  auto out = Napi::Float64Array::New(env, words);
  double* d = out.Data();
  for (size_t b = 0; b + words <= policy_slots_.size(); b += words) {
    for (size_t i = 0; i < words; i++) d[i] += static_cast<double>(__atomic_load_n(&policy_slots_[b + i], __ATOMIC_RELAXED));
  }
  return out;
}

uint64_t Datapath::SumGlobal(GlobalCounter c) const {
  uint64_t total = 0;
  for (size_t b = 0; b <= workers_.size(); b++) total += __atomic_load_n(&counter_mem_[b * kBlockLen + kGlobalBase + c], __ATOMIC_RELAXED);
  return total;
}

// ctStats() -> { entries, max, created, expired }
Napi::Value Datapath::CtStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto o = Napi::Object::New(env);
  o.Set("entries", static_cast<double>(ct_->size()));
  o.Set("max", static_cast<double>(ct_->max()));
  o.Set("created", static_cast<double>(closed_ ? 0 : SumGlobal(ct_created)));
  o.Set("expired", static_cast<double>(closed_ ? 0 : SumGlobal(ct_expired)));
  return o;
}

Napi::Value Datapath::CtFlush(const Napi::CallbackInfo& info) {
  ct_->Flush();
  return info.Env().Undefined();
}

// ctDump(max) -> [{ network, proto, src, sport, dst, dport, state, verdict,
// slotOut, slotIn, packets, bytes }]: src is the side that opened it.
Napi::Value Datapath::CtDump(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t max = ArgU32(info, 0, "max");
  std::vector<CtEntry> entries;
  // Copied under the shards' locks, turned into objects after.
  ct_->Dump(max, [&](const CtEntry& e) { entries.push_back(e); });
  auto out = Napi::Array::New(env, entries.size());
  uint32_t i = 0;
  for (const CtEntry& e : entries) {
    const CtKey& k = e.key;
    const uint8_t* src = e.orig_a_to_b ? k.a : k.b;
    const uint8_t* dst = e.orig_a_to_b ? k.b : k.a;
    auto o = Napi::Object::New(env);
    o.Set("network", static_cast<double>(k.network));
    o.Set("proto", static_cast<double>(k.proto));
    o.Set("src", Address(src, k.ipver));
    o.Set("sport", static_cast<double>(e.orig_a_to_b ? k.a_port : k.b_port));
    o.Set("dst", Address(dst, k.ipver));
    o.Set("dport", static_cast<double>(e.orig_a_to_b ? k.b_port : k.a_port));
    o.Set("state", CtStateName(e.state));
    o.Set("verdict", e.denied ? "deny" : "allow");
    o.Set("slotOut", static_cast<double>(e.slot_out));
    o.Set("slotIn", static_cast<double>(e.slot_in));
    o.Set("packets", static_cast<double>(e.packets[0] + e.packets[1]));
    o.Set("bytes", static_cast<double>(e.bytes[0] + e.bytes[1]));
    out.Set(i++, o);
  }
  return out;
}

// Runs on the JavaScript thread: every deny record queued so far, as one
// buffer of WEFT_POLICY_LOG_FIELDS records, in one call.
void Datapath::DeliverPolicyLog(Napi::Env env, Napi::Function fn, Datapath* self) {
  if (env == nullptr || self->closed_) return;
  std::vector<PolicyLogRecord> batch = self->policy_log_->Drain();
  if (batch.empty()) return;
  auto buf = Napi::Buffer<uint8_t>::Copy(env, batch.data()->b, batch.size() * kPolicyLogRecordLen);
  self->js_counters_->Global(policy_log_sent, batch.size());
  fn.Call({buf});
}

}  // namespace weft
