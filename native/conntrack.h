// Connection tracking for group policy (issue 16, POLICY-SPEC §6): the
// worker looks every frame of an enforced network up here once, so a rule
// is evaluated once per connection and replies and related ICMP errors pass
// on the cached verdict.
//
// Times (`now`, last_seen, expires) are NowMs(): monotonic milliseconds,
// the clock the workers already read once per batch.
//
// The table is 64 shards, each a mutex and an open-addressing index over a
// dense entry array; one hash of the key picks the shard and the bucket, so
// a lookup is one hash, one lock, a short probe and no allocation. It never
// holds more than max_entries: a full table refuses new connections (the
// caller drops `ct_full`) and never evicts one that exists. Expired entries
// are freed by Sweep, a little per worker batch, never by a timer thread.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <mutex>
#include <type_traits>
#include <vector>

#include "headers.h"

namespace weft {

// Canonical: (a, a_port) <= (b, b_port) lexicographically, so both
// directions of a flow are one key. Compared and hashed as raw bytes: every
// member is initialised, and there is no padding.
struct CtKey {
  uint32_t network = 0;
  uint8_t proto = 0;              // the L4 protocol (after IPv6 extension headers)
  uint8_t ipver = 0;              // 4 or 6
  uint16_t pad = 0;
  uint8_t a[16] = {};             // IPv4 in the first 4 bytes, the rest 0
  uint8_t b[16] = {};
  uint16_t a_port = 0, b_port = 0;  // host order; ICMP echo: (identifier, 0) both ways; other ICMP: 0
  bool operator==(const CtKey& o) const { return std::memcmp(this, &o, sizeof(CtKey)) == 0; }
};
// 44 bytes (the brief's "40" counts the addresses only).
static_assert(sizeof(CtKey) == 44, "CtKey is 44 bytes");
static_assert(std::has_unique_object_representations_v<CtKey>, "CtKey has no padding");

// What a frame's 5-tuple is, and whether it runs in the key's a->b order.
struct CtTuple {
  CtKey key;
  bool a_to_b = true;
  uint8_t tcp_flags = 0;  // the frame's TCP flags (0 unless TCP; 0 for a related ICMP error)
  // Offset of the frame's own L4 header (past IPv6 extension headers; for
  // an ICMP error, the ICMP header, not the quoted one): frame[l4] is the
  // ICMP type, say for the neighbour-discovery exemption.
  uint32_t l4 = 0;
};

// From a parsed frame (ParseL3L4 of the same bytes): false when it has no
// trackable tuple: not IP, a non-first fragment (IPv4 offset, or an IPv6
// fragment header with an offset), a truncated L4 header (TCP < 20, UDP < 8,
// ICMP < 8 bytes), or an ICMP error whose embedded packet is cut short, a
// non-first fragment or itself an ICMP error. IPv6 hop-by-hop, routing,
// destination-options, fragment and AH headers are walked: key.proto is the
// L4 protocol, which may differ from p.proto.
// For an ICMP/ICMPv6 error (v4 types 3, 11, 12; v6 1-4) whose embedded
// packet's source is this frame's destination, `related` is set and the
// tuple is the embedded packet's, reversed to the direction of the connection
// it reports on (an error about an orig-direction packet runs in the reply
// direction). An error whose embedded source is not its destination relates
// to nothing: it is tracked as a plain ICMP packet (ports 0, related false).
// Protocols other than TCP, UDP, ICMP echo: ports 0. Never reads outside
// frame[0, len).
bool CtTupleOf(const uint8_t* frame, uint32_t len, const ParsedFrame& p, uint32_t network, CtTuple* out, bool* related);

// The key for a flow from (src, sport) to (dst, dport), addresses of 4 or 16
// bytes by ipver, in canonical order; a_to_b says whether src is `a`.
CtTuple CtTupleFrom(uint32_t network, uint8_t proto, uint8_t ipver, const uint8_t* src, uint16_t sport, const uint8_t* dst,
                    uint16_t dport);

enum class CtState : uint8_t { kNew, kSynSent, kEstablished, kFinWait, kClosed, kUdpFirst, kUdpBoth, kIcmp };
const char* CtStateName(CtState s);  // "new", "syn_sent", "established", "fin_wait", "closed", "udp_first", "udp_both", "icmp"

// Timeouts (OVS userspace defaults, lib/conntrack-tp.c), in milliseconds.
constexpr double kCtSynSentMs = 30e3, kCtEstablishedMs = 24 * 3600e3, kCtFinWaitMs = 15 * 60e3, kCtClosedMs = 30e3;
constexpr double kCtUdpFirstMs = 60e3, kCtUdpBothMs = 30e3, kCtIcmpMs = 30e3;
constexpr double kCtNewMs = 30e3;  // TCP before a SYN or a reply (picked up mid-stream)
double CtTimeoutMs(CtState s);

constexpr uint32_t kCtNoSlot = UINT32_MAX;

struct CtEntry {
  CtKey key;
  bool orig_a_to_b = true;              // which side opened it
  CtState state = CtState::kNew;
  bool denied = false;
  uint8_t deny_reason = 0;              // DropReason when denied
  uint8_t fins = 0;                     // FIN seen: bit0 orig, bit1 reply (both: closed)
  uint32_t epoch = 0;                   // policy epoch the verdict was made under
  uint32_t gs = 0, gd = 0;              // group keys of source/destination at the verdict (0: WORLD)
  uint32_t slot_out = kCtNoSlot, slot_in = kCtNoSlot;  // counter slots that decided (kCtNoSlot: none/default allow)
  double last_seen = 0, expires = 0;
  uint64_t packets[2] = {0, 0}, bytes[2] = {0, 0};  // orig, reply
  // Whether a packet running a_to_b (CtTuple::a_to_b) is in the opener's direction.
  bool Orig(bool a_to_b) const { return a_to_b == orig_a_to_b; }
  bool Expired(double now) const { return expires <= now; }
};

class Conntrack {
 public:
  static constexpr size_t kShards = 64;

  explicit Conntrack(size_t max_entries = 262144);
  Conntrack(const Conntrack&) = delete;
  Conntrack& operator=(const Conntrack&) = delete;

  // Locks the key's shard for the callback; `fn(CtEntry* e)` gets null when
  // absent. Thread-safe across workers. An entry past `expires` may still be
  // here until swept: check e->Expired(now) and Restart it (it is then a new
  // connection). The pointer is valid only inside the callback.
  template <class F>
  auto With(const CtKey& k, F&& fn) {
    uint64_t h = Hash(k);
    Shard& s = shards_[ShardOf(h)];
    std::lock_guard<std::mutex> lock(s.mu);
    return fn(s.Find(k, h));
  }
  // Inserts a new entry (state from the protocol: TCP kNew, ICMP kIcmp,
  // others kUdpFirst; expiry from it); nullptr when full (caller drops
  // `ct_full`). Only inside With(k, ...) for the same key, under its lock,
  // after it found nothing. Call Track for the packet that made it.
  // On a full table it first looks at a few entries of the key's shard for
  // one that has expired but is not swept yet, and frees it (never a live
  // one): an idle worker's unswept table does not refuse connections.
  CtEntry* Insert(const CtKey& k, bool orig_a_to_b, double now);
  // An expired entry found by With, made new again for the packet at hand
  // (counters, verdict and state reset) instead of freed and re-inserted.
  static void Restart(CtEntry& e, bool orig_a_to_b, double now);
  // Moves TCP/UDP/ICMP state on a packet in direction `orig` with TCP flags;
  // refreshes expiry. `packets`: a GSO superframe counts its segments.
  // TCP: RST -> closed; a reply to new/syn_sent -> established; SYN from
  // orig -> syn_sent (also reopening a closed tuple); FIN on an established
  // one -> fin_wait, FINs both ways -> closed (TIME_WAIT). A FIN before any
  // reply keeps the short timeout, so FIN floods cost 30 s, not 15 min.
  // Other protocols: a reply -> udp_both; ICMP stays icmp.
  static void Track(CtEntry& e, bool orig, uint8_t tcp_flags, uint32_t bytes, double now, uint32_t packets = 1);
  // Looks at up to `budget` entries from where the last call stopped
  // (round-robin over shards; one shard locked at a time) and frees the
  // expired ones among them. Returns how many it freed. Concurrent callers
  // do not wait: one sweeps, the others return 0. Never call Sweep, Flush
  // or Dump inside With (the shard's lock is held).
  size_t Sweep(double now, size_t budget);
  void Flush();
  size_t size() const { return count_.load(std::memory_order_relaxed); }
  size_t max() const { return max_; }
  // Entries freed because they expired, by Sweep and by a full Insert.
  uint64_t expired() const { return expired_.load(std::memory_order_relaxed); }
  // Up to `max` entries, one shard locked at a time (a snapshot per shard).
  // `fn` runs under the shard's lock: copy what it needs, nothing slow.
  void Dump(size_t max, const std::function<void(const CtEntry&)>& fn) const;

  uint64_t Hash(const CtKey& k) const;

 private:
  struct alignas(64) Shard {
    mutable std::mutex mu;
    // Open addressing, linear probing, no tombstones (backward-shift
    // delete): (hash >> 32) << 32 | (index in entries + 1); 0 is empty.
    std::vector<uint64_t> index;
    std::vector<CtEntry> entries;  // dense: Sweep walks it, delete moves the last into the hole
    std::vector<uint32_t> tags;    // hash >> 32 of entries[i], to find its index slot when it moves
    size_t reclaim = 0;            // where a full Insert looks for an expired entry next
    CtEntry* Find(const CtKey& k, uint64_t h);
    CtEntry* Add(const CtKey& k, uint64_t h);
    void Erase(size_t pos);
    void Rebuild(size_t cap);
    void Clear();
  };
  static size_t ShardOf(uint64_t h) { return h & (kShards - 1); }
  bool Reserve(Shard& s, double now);  // one more entry under max_, else false

  std::array<Shard, kShards> shards_;
  const size_t max_;
  std::atomic<size_t> count_{0};
  std::atomic<uint64_t> expired_{0};
  uint64_t seed_[6];
  std::mutex sweep_mu_;
  size_t sweep_shard_ = 0, sweep_pos_ = 0;  // under sweep_mu_
};

}  // namespace weft
