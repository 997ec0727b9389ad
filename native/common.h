// Shared constants and layouts of the weft data path.
// Everything here is read by both the worker threads and the N-API surface,
// and the counter layout is mirrored (by name, not by number) in TypeScript.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <ctime>

namespace weft {

// Frames read per port per wakeup: large enough to amortise the syscall,
// small enough that one busy port cannot starve the others.
constexpr int kBatch = 64;

// virtio_net_hdr (10 bytes) precedes every frame on TAP (IFF_VNET_HDR) and
// AF_PACKET (PACKET_VNET_HDR) ports, so GSO super-frames and checksum-partial
// frames travel through weft unchanged.
constexpr size_t kVnetHdrLen = 10;
constexpr size_t kEthHdrLen = 14;
// A 64 KB GSO frame plus its headers fits in one buffer.
constexpr size_t kFrameBufLen = kVnetHdrLen + 65535 + 64;

constexpr uint32_t kMaxPorts = 1024;      // port ids are 1..kMaxPorts-1
constexpr uint32_t kMaxNetworks = 65535;  // network ids are 1..kMaxNetworks
constexpr uint32_t kHitSlots = 1u << 17;  // MAC entries whose last-seen time JS can read
constexpr size_t kEventQueueMax = 1u << 16;

struct VnetHdr {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
} __attribute__((packed));
static_assert(sizeof(VnetHdr) == kVnetHdrLen, "virtio_net_hdr is 10 bytes");
// VnetHdr flags and GSO types (include/uapi/linux/virtio_net.h).
constexpr uint8_t kVnetNeedsCsum = 1, kVnetDataValid = 2;
constexpr uint8_t kGsoTcpV4 = 1, kGsoUdp = 3, kGsoTcpV6 = 4, kGsoUdpL4 = 5, kGsoEcn = 0x80;

// Big-endian fields of packet headers.
inline uint16_t Get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline uint32_t Get32(const uint8_t* p) { return static_cast<uint32_t>(p[0]) << 24 | p[1] << 16 | p[2] << 8 | p[3]; }
inline void Put16(uint8_t* p, uint16_t v) {
  p[0] = v >> 8;
  p[1] = v & 0xff;
}
inline void Put32(uint8_t* p, uint32_t v) {
  p[0] = v >> 24;
  p[1] = (v >> 16) & 0xff;
  p[2] = (v >> 8) & 0xff;
  p[3] = v & 0xff;
}

// Counter layout. Each worker writes its own block (no shared cache lines, no
// atomics read-modify-write per packet); JavaScript sums the blocks. The last
// block belongs to the JavaScript thread itself.
#define WEFT_GLOBAL_COUNTERS(X) \
  X(fastpath_hits)              \
  X(fastpath_misses)            \
  X(flooded)                    \
  X(learn_events_queued)        \
  X(events_sent)                \
  X(events_dropped)             \
  X(injected)                   \
  X(miss_events_queued)         \
  X(proxy_arp)                  \
  X(tunnel_rx)                  \
  X(tunnel_tx)                  \
  X(gso_segmented)              \
  X(gso_segments)               \
  X(coalesced_frames)           \
  X(tunnel_gso_whole)           \
  X(coalesced_segments)         \
  X(service_frames)             \
  X(learn_refused)              \
  X(mac_port_limit)             \
  X(gso_bursts)                 \
  X(gso_bursts_refused)         \
  X(policy_checks)              \
  X(ct_created)                 \
  X(ct_expired)                 \
  X(policy_log_sent)            \
  X(policy_log_suppressed)      \
  X(gbp_tx)                     \
  X(gbp_rx)                     \
  X(uplink_rx)                  \
  X(uplink_tx)                  \
  X(uplink_untagged)           \
  X(capture_copies)            \
  X(capture_dropped)           \
  X(xdp_rx)                    \
  X(xdp_tx)

#define WEFT_DROP_REASONS(X) \
  X(runt)                    \
  X(oversized)               \
  X(bad_vnet_hdr)            \
  X(bad_src_mac)             \
  X(no_port)                 \
  X(same_port)               \
  X(queue_full)              \
  X(tx_error)                \
  X(unknown_vni)             \
  X(unknown_vtep)            \
  X(bad_tunnel_hdr)          \
  X(split_horizon)           \
  X(gso_unsupported)         \
  X(service_gso)             \
  X(service_queue_full)      \
  X(spoof)                   \
  X(vlan_tagged)             \
  X(link_local)              \
  X(ra_guard)                \
  X(dhcp_guard)              \
  X(policy_deny)             \
  X(policy_default_deny)     \
  X(ct_full)                 \
  X(frag_no_head)            \
  X(vxlan_bad_flags)         \
  X(gbp_mismatch)            \
  X(vlan_unknown)            \
  X(uplink_loop)             \
  X(uplink_spoof)

#define WEFT_PORT_COUNTERS(X) \
  X(rx_packets)               \
  X(rx_bytes)                 \
  X(tx_packets)               \
  X(tx_bytes)                 \
  X(rx_dropped)               \
  X(tx_dropped)

#define WEFT_ENUM(name) name,
enum GlobalCounter { WEFT_GLOBAL_COUNTERS(WEFT_ENUM) kGlobalCounterCount };
enum DropReason { WEFT_DROP_REASONS(WEFT_ENUM) kDropReasonCount };
enum PortCounter { WEFT_PORT_COUNTERS(WEFT_ENUM) kPortCounterCount };
#undef WEFT_ENUM

// A drop reason's name, as the layout exports it (weft trace, weft stats drops).
inline const char* DropReasonName(DropReason r) {
#define WEFT_STR(name) #name,
  static const char* const names[] = {WEFT_DROP_REASONS(WEFT_STR)};
#undef WEFT_STR
  return r < kDropReasonCount ? names[r] : "none";
}

constexpr size_t kGlobalBase = 0;
constexpr size_t kDropBase = 48;
constexpr size_t kPortBase = 96;
constexpr size_t kPortStride = 8;
constexpr size_t kBlockLen = kPortBase + kMaxPorts * kPortStride;  // uint64 words
static_assert(kGlobalCounterCount <= kDropBase - kGlobalBase && kDropReasonCount <= kPortBase - kDropBase, "counter block layout");
static_assert(kPortCounterCount <= kPortStride, "port counter stride");

// A counter block written by exactly one thread. Plain loads and stores of
// aligned 64-bit words are atomic on the platforms we build for, so a reader
// on another thread sees whole values; relaxed atomics make that explicit.
class Counters {
 public:
  explicit Counters(uint64_t* base) : base_(base) {}
  void Add(size_t idx, uint64_t n = 1) {
    __atomic_store_n(&base_[idx], __atomic_load_n(&base_[idx], __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
  }
  void Global(GlobalCounter c, uint64_t n = 1) { Add(kGlobalBase + c, n); }
  void Drop(DropReason r, uint64_t n = 1) { Add(kDropBase + r, n); }
  void Port(uint32_t port, PortCounter c, uint64_t n = 1) {
    if (port < kMaxPorts) Add(kPortBase + port * kPortStride + c, n);
  }

 private:
  uint64_t* base_;
};

// Milliseconds on the monotonic clock: last-seen times, report intervals
// and busy polling all use it, in the workers and in JavaScript (now()).
inline double NowMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

inline uint64_t MacKey(uint32_t network, const uint8_t* mac) {
  uint64_t m = 0;
  for (int i = 0; i < 6; i++) m = (m << 8) | mac[i];
  return (static_cast<uint64_t>(network) << 48) | m;
}

inline bool IsMulticast(const uint8_t* mac) { return mac[0] & 1; }
// 802.1D reserved group addresses 01:80:c2:00:00:00-0f (STP, LACP, LLDP,
// EAPOL...): for the link itself, never forwarded by a bridge.
inline bool IsLinkLocal(const uint8_t* mac) {
  return mac[0] == 0x01 && mac[1] == 0x80 && mac[2] == 0xc2 && mac[3] == 0 && mac[4] == 0 && (mac[5] & 0xf0) == 0;
}
inline bool IsZero(const uint8_t* mac) {
  static const uint8_t zero[6] = {0};
  return std::memcmp(mac, zero, 6) == 0;
}

}  // namespace weft
