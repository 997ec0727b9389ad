// The contract between the add-on and TypeScript: every record that crosses
// the boundary, declared once here and exported by name in the add-on's
// `layout.wire` (addon_layout.cc), the way the counters are (common.h).
// TypeScript (src/datapath/wire.ts) reads strides, offsets and codes from
// that export, never from literals of its own, and a unit test checks that
// every name it uses is here.
//
// Each list is an X-macro of (name in TypeScript, name in C++, value).
#pragma once

#include <cstddef>
#include <cstdint>

#include "common.h"

namespace weft {

// fibApply(Float64Array): records of these numbers, in this order.
#define WEFT_FIB_FIELDS(X) \
  X(op, kFibAtOp, 0)       \
  X(network, kFibAtNetwork, 1) \
  X(mac, kFibAtMac, 2)     \
  X(port, kFibAtPort, 3)   \
  X(slot, kFibAtSlot, 4)
constexpr size_t kFibStride = 5;
// A slot with no last-seen time (every slot below kHitSlots is taken): the
// fast path then never stamps the entry.
constexpr uint32_t kNoSlot = UINT32_MAX;
static_assert(kNoSlot >= kHitSlots, "no slot is out of the slots' range");
// add: learned (or moved); static: an endpoint's MAC, never moved by
// learning; del: either goes.
#define WEFT_FIB_OPS(X) \
  X(add, kFibAdd, 1)    \
  X(del, kFibDel, 2)    \
  X(static, kFibStatic, 3)

// arpApply(Float64Array): the addresses weft answers ARP for. ip is IPv4 in
// host order, mac 48 bits.
#define WEFT_ARP_FIELDS(X)     \
  X(op, kArpAtOp, 0)           \
  X(network, kArpAtNetwork, 1) \
  X(ip, kArpAtIp, 2)           \
  X(mac, kArpAtMac, 3)
constexpr size_t kArpStride = 4;
#define WEFT_ARP_OPS(X) \
  X(add, kArpAdd, 1)    \
  X(del, kArpDel, 2)

// onEvents(Buffer): fixed-size records; the byte offset of each field.
// u8 type, u8[6] mac, u8 pad, u32 network (LE), u32 port (LE).
#define WEFT_EVENT_FIELDS(X)       \
  X(type, kEventAtType, 0)         \
  X(mac, kEventAtMac, 1)           \
  X(network, kEventAtNetwork, 8)   \
  X(port, kEventAtPort, 12)
constexpr size_t kEventRecordLen = 16;
#define WEFT_EVENT_TYPES(X)     \
  X(learn, kEventLearn, 1)      \
  X(miss, kEventMiss, 2)

// onFrames(Buffer): records back to back, a header of these fields (byte
// offsets) and then `length` bytes of a plain Ethernet frame (no vnet
// header, checksums complete). u32 port (LE), u32 network (LE), u16 length
// (LE), u16 pad.
#define WEFT_FRAME_FIELDS(X)       \
  X(port, kFrameAtPort, 0)         \
  X(network, kFrameAtNetwork, 4)   \
  X(length, kFrameAtLength, 8)
constexpr size_t kFrameRecordHdrLen = 12;

// setNetworkEncap(network, encap, vni): how a network's tunnels carry it.
#define WEFT_ENCAPS(X) \
  X(vxlan, kVxlan, 1)  \
  X(gre, kGre, 2)
// The largest VXLAN VNI (24 bits); a GRE key has 32.
constexpr uint32_t kMaxVxlanVni = 0xffffff;

#define WEFT_WIRE_CONST(js, cpp, value) constexpr uint32_t cpp = value;
WEFT_FIB_FIELDS(WEFT_WIRE_CONST)
WEFT_FIB_OPS(WEFT_WIRE_CONST)
WEFT_ARP_FIELDS(WEFT_WIRE_CONST)
WEFT_ARP_OPS(WEFT_WIRE_CONST)
WEFT_EVENT_FIELDS(WEFT_WIRE_CONST)
WEFT_FRAME_FIELDS(WEFT_WIRE_CONST)
#undef WEFT_WIRE_CONST

#define WEFT_WIRE_ENUM(js, cpp, value) cpp = value,
enum EventType : uint8_t { WEFT_EVENT_TYPES(WEFT_WIRE_ENUM) };
// The tunnel socket a worker's epoll reports, and a network's encapsulation.
enum class Encap : uint8_t { WEFT_ENCAPS(WEFT_WIRE_ENUM) };
#undef WEFT_WIRE_ENUM

static_assert(kFibAtSlot + 1 == kFibStride && kArpAtMac + 1 == kArpStride, "record strides");
static_assert(kEventAtPort + 4 == kEventRecordLen && kFrameAtLength + 4 == kFrameRecordHdrLen, "record lengths");

// Little-endian fields of the records above.
inline void PutLE16(uint8_t* p, uint16_t v) {
  p[0] = v & 0xff;
  p[1] = v >> 8;
}
inline void PutLE32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (v >> (8 * i)) & 0xff;
}
inline uint16_t GetLE16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }


// ---- Group policy (POLICY-SPEC §4, §5) ----

// policyLoad(Uint32Array): the compiled snapshot. A header of these words,
// then the sections back to back in header order (nets, ips, groups, keys,
// cidrs, ranges), each a run of records of its stride. IPv4 addresses are in
// host order; groupKey = tenantIndex << 16 | gbpId.
#define WEFT_POLICY_HEADER(X)    \
  X(version, kPolAtVersion, 0)   \
  X(nNets, kPolAtNets, 1)        \
  X(nIps, kPolAtIps, 2)          \
  X(nGroups, kPolAtGroups, 3)    \
  X(nKeys, kPolAtKeys, 4)        \
  X(nCidrs, kPolAtCidrs, 5)      \
  X(nRanges, kPolAtRanges, 6)    \
  X(reserved, kPolAtReserved, 7)
constexpr size_t kPolHeaderLen = 8;
constexpr uint32_t kPolVersion = 1;
#define WEFT_POLICY_STRIDES(X)  \
  X(nets, kPolNetStride, 2)     \
  X(ips, kPolIpStride, 4)       \
  X(groups, kPolGroupStride, 4) \
  X(keys, kPolKeyStride, 5)     \
  X(cidrs, kPolCidrStride, 6)   \
  X(ranges, kPolRangeStride, 6)
// Where each field sits in its section's record (word index).
#define WEFT_POLICY_NET_FIELDS(X) \
  X(networkId, kPolNetAtNetwork, 0) \
  X(tenantIndex, kPolNetAtTenant, 1)
#define WEFT_POLICY_IP_FIELDS(X)   \
  X(networkId, kPolIpAtNetwork, 0) \
  X(ipv4, kPolIpAtIp, 1)           \
  X(groupKey, kPolIpAtGroup, 2)    \
  X(flags, kPolIpAtFlags, 3)
#define WEFT_POLICY_GROUP_FIELDS(X)       \
  X(groupKey, kPolGroupAtKey, 0)          \
  X(isolate, kPolGroupAtIsolate, 1)       \
  X(defaultSlotIn, kPolGroupAtSlotIn, 2)  \
  X(defaultSlotOut, kPolGroupAtSlotOut, 3)
#define WEFT_POLICY_KEY_FIELDS(X)        \
  X(localGroupKey, kPolKeyAtLocal, 0)    \
  X(dir, kPolKeyAtDir, 1)                \
  X(remoteKey, kPolKeyAtRemote, 2)       \
  X(firstRange, kPolKeyAtFirst, 3)       \
  X(nRanges, kPolKeyAtCount, 4)
#define WEFT_POLICY_CIDR_FIELDS(X)       \
  X(localGroupKey, kPolCidrAtLocal, 0)   \
  X(dir, kPolCidrAtDir, 1)               \
  X(ipv4, kPolCidrAtIp, 2)               \
  X(prefixLen, kPolCidrAtPrefix, 3)      \
  X(firstRange, kPolCidrAtFirst, 4)      \
  X(nRanges, kPolCidrAtCount, 5)
#define WEFT_POLICY_RANGE_FIELDS(X)      \
  X(protocol, kPolRangeAtProto, 0)       \
  X(portLo, kPolRangeAtLo, 1)            \
  X(portHi, kPolRangeAtHi, 2)            \
  X(priority, kPolRangeAtPriority, 3)    \
  X(action, kPolRangeAtAction, 4)        \
  X(slot, kPolRangeAtSlot, 5)
// Codes inside the records.
#define WEFT_POLICY_FLAGS(X)          \
  X(local, kPolIpLocal, 1)            \
  X(isolateIn, kPolIsolateIn, 1)      \
  X(isolateOut, kPolIsolateOut, 2)
#define WEFT_POLICY_DIRS(X) \
  X(in, kPolDirIn, 0)       \
  X(out, kPolDirOut, 1)
#define WEFT_POLICY_ACTIONS(X) \
  X(allow, kPolAllow, 0)       \
  X(deny, kPolDeny, 1)
// Per-rule counters: slots 0..kPolicySlots-1, three numbers each
// (sessions, packets, bytes) in policyCounters(). kPolAny is remoteKey "any
// peer" and protocol "any"; kPolNoSlot a verdict no slot decided (a default
// allow), and the log's "default".
constexpr uint32_t kPolicySlots = 16384;
constexpr uint32_t kPolAny = 0;
constexpr uint32_t kPolNoSlot = UINT32_MAX;
constexpr uint32_t kPolMaxPriority = 255;
#define WEFT_POLICY_COUNTERS(X) \
  X(sessions, kPolCountSessions, 0) \
  X(packets, kPolCountPackets, 1)   \
  X(bytes, kPolCountBytes, 2)
constexpr size_t kPolCountStride = 3;

// onPolicyLog(Buffer): fixed-size records; byte offsets. ts is an f64 (LE,
// ms on the monotonic clock, as now()); multi-byte integers LE; src/dst the
// address bytes as on the wire (IPv4 in the first 4, the rest 0); sport and
// dport host values; dir the check that denied (0 in, 1 out); action 1
// deny; slot kPolNoSlot for a group's default.
#define WEFT_POLICY_LOG_FIELDS(X)        \
  X(ts, kPlogAtTs, 0)                    \
  X(network, kPlogAtNetwork, 8)          \
  X(proto, kPlogAtProto, 12)             \
  X(dir, kPlogAtDir, 13)                 \
  X(action, kPlogAtAction, 14)           \
  X(ipver, kPlogAtIpver, 15)             \
  X(src, kPlogAtSrc, 16)                 \
  X(dst, kPlogAtDst, 32)                 \
  X(sport, kPlogAtSport, 48)             \
  X(dport, kPlogAtDport, 50)             \
  X(srcGroupKey, kPlogAtSrcGroup, 52)    \
  X(dstGroupKey, kPlogAtDstGroup, 56)    \
  X(slot, kPlogAtSlot, 60)               \
  X(len, kPlogAtLen, 64)
constexpr size_t kPolicyLogRecordLen = 72;  // padded to 8 for the next ts

#define WEFT_WIRE_CONST(js, cpp, value) constexpr uint32_t cpp = value;
WEFT_POLICY_HEADER(WEFT_WIRE_CONST)
WEFT_POLICY_STRIDES(WEFT_WIRE_CONST)
WEFT_POLICY_NET_FIELDS(WEFT_WIRE_CONST)
WEFT_POLICY_IP_FIELDS(WEFT_WIRE_CONST)
WEFT_POLICY_GROUP_FIELDS(WEFT_WIRE_CONST)
WEFT_POLICY_KEY_FIELDS(WEFT_WIRE_CONST)
WEFT_POLICY_CIDR_FIELDS(WEFT_WIRE_CONST)
WEFT_POLICY_RANGE_FIELDS(WEFT_WIRE_CONST)
WEFT_POLICY_FLAGS(WEFT_WIRE_CONST)
WEFT_POLICY_DIRS(WEFT_WIRE_CONST)
WEFT_POLICY_ACTIONS(WEFT_WIRE_CONST)
WEFT_POLICY_COUNTERS(WEFT_WIRE_CONST)
WEFT_POLICY_LOG_FIELDS(WEFT_WIRE_CONST)
#undef WEFT_WIRE_CONST

static_assert(kPolAtReserved + 1 == kPolHeaderLen, "policy header length");
static_assert(kPolNetAtTenant + 1 == kPolNetStride && kPolIpAtFlags + 1 == kPolIpStride &&
                  kPolGroupAtSlotOut + 1 == kPolGroupStride && kPolKeyAtCount + 1 == kPolKeyStride &&
                  kPolCidrAtCount + 1 == kPolCidrStride && kPolRangeAtSlot + 1 == kPolRangeStride,
              "policy record strides");
static_assert(kPlogAtLen + 4 <= kPolicyLogRecordLen && kPolicyLogRecordLen % 8 == 0, "policy log record length");
static_assert(kPolCountBytes + 1 == kPolCountStride, "policy counter stride");

}  // namespace weft
