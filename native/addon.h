// The N-API surface: one Datapath object owning the workers, the ports, the
// fast-path tables, the counters and the event channel toward JavaScript.
// JavaScript programs tables through small batched calls and reads counters
// and last-seen times straight from shared memory. Its methods are N-API
// argument handling only, spread by job: lifecycle, delivery and counters
// (addon.cc), ports (addon_ports.cc), uplink trunks and VLAN ports
// (addon_uplink.cc), memory ports for tests
// (addon_memory.cc), tunnels (addon_tunnels.cc), table records
// (addon_tables.cc) and the exported layout (addon_layout.cc); what they
// change in the tables is in tables.h.
#pragma once

#include <napi.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common.h"
#include "events.h"
#include "fastpath.h"
#include "conntrack.h"
#include "policy_log.h"
#include "port.h"
#include "underlay.h"
#include "worker.h"

namespace weft {

// Argument helpers shared by the methods.
uint32_t ArgU32(const Napi::CallbackInfo& info, size_t i, const char* what);
std::string ArgString(const Napi::CallbackInfo& info, size_t i, const char* what);
// A Float64Array first argument (records of numbers).
Napi::Float64Array RecordsArg(const Napi::CallbackInfo& info, const char* fn);
// An IPv4 (ipver 4) or IPv6 address as text.
std::string Address(const uint8_t* a, uint8_t ipver);
// An endpoint port's guard: { mac, ip (IPv4, host order; 0: none), router }.
PortGuard GuardArg(Napi::Env env, Napi::Value v);

// layout: the counters' names and places, the limits, and the wire records
// (wire.h), all by name.
Napi::Object Layout(Napi::Env env);

class Datapath : public Napi::ObjectWrap<Datapath> {
 public:
  static Napi::Object Init(Napi::Env env, Napi::Object exports);
  // new Datapath({ workers, busyPollUs, portSecurity, onEvents(buffer), onFrames?(buffer), onPolicyLog?(buffer), ctMax? })
  explicit Datapath(const Napi::CallbackInfo& info);
  ~Datapath() override { Shutdown(); }

 private:
  // addon.cc
  static void DeliverEvents(Napi::Env env, Napi::Function fn, Datapath* self);
  static void DeliverFrames(Napi::Env env, Napi::Function fn, Datapath* self);
  static void DeliverPolicyLog(Napi::Env env, Napi::Function fn, Datapath* self);
  void CheckOpen(Napi::Env env);
  void Shutdown();
  Napi::Value Maintain(const Napi::CallbackInfo& info);
  Napi::Value Now(const Napi::CallbackInfo& info);
  Napi::Value Count(const Napi::CallbackInfo& info);
  Napi::Value GetPortSecurity(const Napi::CallbackInfo& info);
  Napi::Value GetCounters(const Napi::CallbackInfo& info);
  Napi::Value GetHits(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  // addon_ports.cc
  void CheckPortArgs(Napi::Env env, uint32_t id, uint32_t network, uint32_t mtu);
  // Publishes the port (in its network's flood list when `floods`) and has
  // its worker watch its fd.
  void AddPort(Napi::Env env, std::unique_ptr<Port> port, bool floods = true);
  void DropPort(uint32_t id);
  Napi::Value AddTapPort(const Napi::CallbackInfo& info);
  Napi::Value AddPacketPort(const Napi::CallbackInfo& info);
  Napi::Value AddServicePort(const Napi::CallbackInfo& info);
  Napi::Value RemovePort(const Napi::CallbackInfo& info);
  Napi::Value Inject(const Napi::CallbackInfo& info);

  // addon_uplink.cc: uplink trunks and their VLAN ports
  Napi::Value AddUplinkPort(const Napi::CallbackInfo& info);
  Napi::Value AddVlanPort(const Napi::CallbackInfo& info);

  // addon_memory.cc: memory ports, for tests without root
  Napi::Value AddMemoryPort(const Napi::CallbackInfo& info);
  Napi::Value InjectRx(const Napi::CallbackInfo& info);
  Napi::Value DrainTx(const Napi::CallbackInfo& info);

  // addon_tunnels.cc
  Napi::Value SetUnderlay(const Napi::CallbackInfo& info);
  Napi::Value AttachXdp(const Napi::CallbackInfo& info);
  Napi::Value SetNetworkEncap(const Napi::CallbackInfo& info);
  Napi::Value ClearNetworkEncap(const Napi::CallbackInfo& info);
  Napi::Value AddTunnelPort(const Napi::CallbackInfo& info);

  // addon_tables.cc
  Napi::Value ArpApply(const Napi::CallbackInfo& info);
  Napi::Value FibApply(const Napi::CallbackInfo& info);
  Napi::Value FibSize(const Napi::CallbackInfo& info);

  // addon_policy.cc: group policy and conntrack
  Napi::Value PolicyLoad(const Napi::CallbackInfo& info);
  Napi::Value PolicyCounters(const Napi::CallbackInfo& info);
  Napi::Value CtStats(const Napi::CallbackInfo& info);
  Napi::Value CtFlush(const Napi::CallbackInfo& info);
  Napi::Value CtDump(const Napi::CallbackInfo& info);
  uint64_t SumGlobal(GlobalCounter c) const;

  // addon_observe.cc: weft trace, dp dump and stats drops (read-only)
  Napi::Value Trace(const Napi::CallbackInfo& info);
  Napi::Value DropsRecent(const Napi::CallbackInfo& info);
  Napi::Value FibDump(const Napi::CallbackInfo& info);
  Napi::Value TablesDump(const Napi::CallbackInfo& info);
  // addon_capture.cc: packet capture and mirrors (capture.h)
  Napi::Value CaptureStart(const Napi::CallbackInfo& info);
  Napi::Value CaptureStop(const Napi::CallbackInfo& info);
  Napi::Value CaptureStats(const Napi::CallbackInfo& info);
  Napi::Value CaptureFilterCheck(const Napi::CallbackInfo& info);
  std::unique_ptr<Capture> capture_;

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
  // Group policy: one conntrack for all workers, the deny log toward
  // JavaScript (null without onPolicyLog), each worker's slot counters.
  std::unique_ptr<Conntrack> ct_;
  Napi::ThreadSafeFunction policy_log_tsfn_;
  std::unique_ptr<PolicyLog> policy_log_;
  std::vector<uint64_t> policy_slots_;
  uint32_t policy_epoch_ = 0;
  // Hits per fast-path entry (fib_hits.h); outlives the tables and workers.
  std::unique_ptr<FibHits> fib_hits_;
  std::unique_ptr<FastPath> fp_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::shared_ptr<Underlay> underlay_;
  std::unordered_map<uint32_t, std::pair<Encap, uint32_t>> net_encap_;
};

}  // namespace weft
