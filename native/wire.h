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

namespace weft {

// fibApply(Float64Array): records of these numbers, in this order.
#define WEFT_FIB_FIELDS(X) \
  X(op, kFibAtOp, 0)       \
  X(network, kFibAtNetwork, 1) \
  X(mac, kFibAtMac, 2)     \
  X(port, kFibAtPort, 3)   \
  X(slot, kFibAtSlot, 4)
constexpr size_t kFibStride = 5;
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

}  // namespace weft
