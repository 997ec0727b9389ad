// weft trace: the pipeline's verdict for one frame, step by step, without
// sending it. The same checks the worker runs (frame_checks.h, the policy
// decision of policy_stage.cc, proxy ARP's lookup, the fast path and the
// flood list), against the current snapshot, read-only: no counter, table,
// conntrack entry or event changes. Called on the JavaScript thread, which
// is the snapshots' only writer.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tables.h"

namespace weft {

class Conntrack;

// One field of a step: a number, a string, a flag or a list of port ids.
struct TraceValue {
  enum Kind { kNum, kStr, kBool, kList } kind = kNum;
  double num = 0;
  std::string str;
  bool flag = false;
  std::vector<uint32_t> list;
  static TraceValue Num(double v) { TraceValue t; t.num = v; return t; }
  static TraceValue Str(std::string v) { TraceValue t; t.kind = kStr; t.str = std::move(v); return t; }
  static TraceValue Bool(bool v) { TraceValue t; t.kind = kBool; t.flag = v; return t; }
  static TraceValue List(std::vector<uint32_t> v) { TraceValue t; t.kind = kList; t.list = std::move(v); return t; }
};

struct TraceStep {
  std::string step;
  std::vector<std::pair<std::string, TraceValue>> fields;
  TraceStep& Add(const char* k, TraceValue v) {
    fields.emplace_back(k, std::move(v));
    return *this;
  }
};

// What the policy stage would decide for a new connection of this frame
// (policy_stage.cc), without touching conntrack or counters.
struct PolicyTrace {
  bool allow = true;
  const char* reason = nullptr;  // the drop reason's name when denied
  const char* note = nullptr;    // why no rule was asked (ARP, ND, weft's own service)
  uint32_t slot_out, slot_in;    // kPolNoSlot when none decided
  uint32_t src_group = 0, dst_group = 0;
  // A live conntrack entry decided it (its cached verdict), or would be
  // re-checked under new rules; false: a new connection's verdict.
  bool established = false;
};
// `ct`: asked (under its shard's lock), never changed; null: not consulted.
PolicyTrace TracePolicy(const Tables& t, const PolicyTables& pt, const Port& in, Frame& f, Conntrack* ct = nullptr);

// The steps for `frame` (an Ethernet frame) arriving on port `in`.
std::vector<TraceStep> TraceFrame(const Tables& t, const Port& in, bool port_security, const uint8_t* frame, uint32_t len,
                                  Conntrack* ct = nullptr);

}  // namespace weft
