// The conntrack table and the tuple of a frame (see conntrack.h).
#include "conntrack.h"

#include <algorithm>
#include <random>

namespace weft {

namespace {

constexpr uint8_t kIpProtoIcmp = 1;
constexpr uint8_t kTcpSyn = 0x02, kTcpRst = 0x04;
constexpr size_t kMinIndex = 16;  // index slots of an empty shard
constexpr int kMaxV6Ext = 8;      // extension headers walked before giving up
constexpr size_t kReclaimLooks = 16;  // entries a full Insert looks at for an expired one

bool IsIcmp(uint8_t proto, uint8_t ipver) { return (ipver == 4 && proto == kIpProtoIcmp) || (ipver == 6 && proto == kIpProtoIcmpV6); }
bool IsEcho(uint8_t type, uint8_t ipver) { return ipver == 4 ? (type == 8 || type == 0) : (type == 128 || type == 129); }
bool IsEchoRequest(uint8_t type, uint8_t ipver) { return ipver == 4 ? type == 8 : type == 128; }
bool IsError(uint8_t type, uint8_t ipver) {
  return ipver == 4 ? (type == 3 || type == 11 || type == 12) : (type >= 1 && type <= 4);
}

// Addresses of 4 or 16 bytes in network order, compared and copied with
// fixed sizes (no library call per frame).
int AddrCmp(const uint8_t* x, const uint8_t* y, uint8_t ipver) {
  if (ipver == 4) {
    uint32_t a = Get32(x), b = Get32(y);
    return a < b ? -1 : a > b;
  }
  for (int i = 0; i < 16; i += 8) {
    uint64_t a, b;
    std::memcpy(&a, x + i, 8);
    std::memcpy(&b, y + i, 8);
    a = __builtin_bswap64(a);
    b = __builtin_bswap64(b);
    if (a != b) return a < b ? -1 : 1;
  }
  return 0;
}
// The key written in place a word at a time, as Hash reads it: a key built
// from byte and half-word stores and then read as words stalls store
// forwarding, which costs more than the rest of the lookup.
using Word = uint64_t __attribute__((may_alias, aligned(4)));
using Half = uint32_t __attribute__((may_alias));
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "CtKey's words are assembled little-endian");
static_assert(offsetof(CtKey, a) == 8 && offsetof(CtKey, b) == 24 && offsetof(CtKey, a_port) == 40, "CtKey layout");

void FillKey(CtTuple* t, uint32_t network, uint8_t proto, uint8_t ipver, const uint8_t* src, const uint8_t* dst, bool a_to_b,
             uint16_t a_port, uint16_t b_port) {
  const uint8_t* a = a_to_b ? src : dst;
  const uint8_t* b = a_to_b ? dst : src;
  auto* w = reinterpret_cast<Word*>(&t->key);
  w[0] = network | static_cast<uint64_t>(proto) << 32 | static_cast<uint64_t>(ipver) << 40;
  if (ipver == 4) {
    uint32_t x;
    std::memcpy(&x, a, 4);
    w[1] = x;
    w[2] = 0;
    std::memcpy(&x, b, 4);
    w[3] = x;
    w[4] = 0;
  } else {
    uint64_t x[4];
    std::memcpy(x, a, 16);
    std::memcpy(x + 2, b, 16);
    w[1] = x[0];
    w[2] = x[1];
    w[3] = x[2];
    w[4] = x[3];
  }
  *reinterpret_cast<Half*>(reinterpret_cast<uint8_t*>(&t->key) + 40) = a_port | static_cast<uint32_t>(b_port) << 16;
  t->a_to_b = a_to_b;
  t->tcp_flags = 0;
  t->l4 = 0;
}

// Canonical order: by address, then by port.
void FillPorted(CtTuple* t, uint32_t network, uint8_t proto, uint8_t ipver, const uint8_t* src, uint16_t sport, const uint8_t* dst,
                uint16_t dport) {
  int c = AddrCmp(src, dst, ipver);
  bool ab = c < 0 || (c == 0 && sport <= dport);
  FillKey(t, network, proto, ipver, src, dst, ab, ab ? sport : dport, ab ? dport : sport);
}

// Past IPv6 extension headers to the L4 protocol. False when one is cut
// short, there are too many, or a fragment header says this is not the
// first fragment (no L4 header here).
bool SkipV6Ext(const uint8_t* f, uint32_t len, uint32_t* off, uint8_t* proto) {
  for (int i = 0; i < kMaxV6Ext; i++) {
    uint32_t o = *off;
    switch (*proto) {
      case 0:    // hop-by-hop options
      case 43:   // routing
      case 60:   // destination options
        if (o + 8 > len) return false;
        *proto = f[o];
        *off = o + (f[o + 1] + 1u) * 8;
        break;
      case 44:  // fragment
        if (o + 8 > len) return false;
        if (Get16(f + o + 2) & 0xfff8) return false;
        *proto = f[o];
        *off = o + 8;
        break;
      case 51:  // AH: length in 4-byte units, minus 2
        if (o + 8 > len) return false;
        *proto = f[o];
        *off = o + (f[o + 1] + 2u) * 4;
        break;
      default:
        return true;
    }
  }
  return false;
}

// An IP header at `l3` (version `ipver`): where its L4 starts, its protocol
// and addresses. False when cut short, of another version, or a non-first
// fragment.
struct IpAt {
  uint32_t l4;
  uint8_t proto;
  const uint8_t* src;
  const uint8_t* dst;
};
bool ParseIp(const uint8_t* f, uint32_t len, uint32_t l3, uint8_t ipver, IpAt* ip) {
  if (ipver == 4) {
    if (l3 + sizeof(Ipv4Hdr) > len) return false;
    const auto* h = reinterpret_cast<const Ipv4Hdr*>(f + l3);
    if (h->version() != 4 || h->ihl() < sizeof(Ipv4Hdr)) return false;
    if (h->frag.get() & 0x1fff) return false;
    ip->l4 = l3 + h->ihl();
    ip->proto = h->proto;
    ip->src = h->saddr;
    ip->dst = h->daddr;
    return true;
  }
  if (l3 + sizeof(Ipv6Hdr) > len) return false;
  const auto* h = reinterpret_cast<const Ipv6Hdr*>(f + l3);
  if (h->version() != 6) return false;
  ip->l4 = l3 + sizeof(Ipv6Hdr);
  ip->proto = h->next;
  ip->src = h->saddr;
  ip->dst = h->daddr;
  return SkipV6Ext(f, len, &ip->l4, &ip->proto);
}

// The tuple of the L4 header at ip.l4. `embedded`: inside an ICMP error,
// where only 8 bytes of L4 are promised and a further error is refused.
bool L4Tuple(const uint8_t* f, uint32_t len, const IpAt& ip, uint8_t ipver, uint32_t network, bool embedded, CtTuple* out,
             bool* related) {
  uint32_t o = ip.l4;
  if (ip.proto == kIpProtoTcp || ip.proto == kIpProtoUdp) {
    uint32_t need = embedded ? 8 : ip.proto == kIpProtoTcp ? sizeof(TcpHdr) : sizeof(UdpHdr);
    if (o + need > len) return false;
    FillPorted(out, network, ip.proto, ipver, ip.src, Get16(f + o), ip.dst, Get16(f + o + 2));
    if (ip.proto == kIpProtoTcp && !embedded) out->tcp_flags = f[o + offsetof(TcpHdr, flags)];
    return true;
  }
  if (!IsIcmp(ip.proto, ipver)) {
    FillPorted(out, network, ip.proto, ipver, ip.src, 0, ip.dst, 0);
    return true;
  }
  if (o + 8 > len) return false;  // type, code, checksum and the 4 bytes every ICMP header has
  uint8_t type = f[o];
  if (IsEcho(type, ipver)) {
    // Ports (identifier, 0) both ways, so only the addresses order it (a
    // ping to itself: the request runs a->b).
    int c = AddrCmp(ip.src, ip.dst, ipver);
    FillKey(out, network, ip.proto, ipver, ip.src, ip.dst, c < 0 || (c == 0 && IsEchoRequest(type, ipver)), Get16(f + o + 4), 0);
    return true;
  }
  if (!IsError(type, ipver)) {
    FillPorted(out, network, ip.proto, ipver, ip.src, 0, ip.dst, 0);
    return true;
  }
  if (embedded) return false;  // an error about an error is never sent
  IpAt in;
  if (!ParseIp(f, len, o + 8, ipver, &in)) return false;
  if (AddrCmp(in.src, ip.dst, ipver) != 0) {
    // Not about a packet its receiver sent: related to nothing here.
    FillPorted(out, network, ip.proto, ipver, ip.src, 0, ip.dst, 0);
    return true;
  }
  if (!L4Tuple(f, len, in, ipver, network, true, out, related)) return false;
  out->a_to_b = !out->a_to_b;  // the error travels back toward the embedded packet's sender
  out->tcp_flags = 0;
  *related = true;
  return true;
}

uint64_t Mix(uint64_t a, uint64_t b) {
  __uint128_t r = static_cast<__uint128_t>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

CtState InitialState(uint8_t proto, uint8_t ipver) {
  if (proto == kIpProtoTcp) return CtState::kNew;
  if (IsIcmp(proto, ipver)) return CtState::kIcmp;
  return CtState::kUdpFirst;
}

}  // namespace

CtTuple CtTupleFrom(uint32_t network, uint8_t proto, uint8_t ipver, const uint8_t* src, uint16_t sport, const uint8_t* dst,
                    uint16_t dport) {
  CtTuple t;
  FillPorted(&t, network, proto, ipver, src, sport, dst, dport);
  return t;
}

bool CtTupleOf(const uint8_t* frame, uint32_t len, const ParsedFrame& p, uint32_t network, CtTuple* out, bool* related) {
  *related = false;
  if (!p.ip()) return false;
  uint8_t ipver = p.v4 ? 4 : 6;
  IpAt ip;
  if (!ParseIp(frame, len, p.l3, ipver, &ip)) return false;
  if (!L4Tuple(frame, len, ip, ipver, network, false, out, related)) return false;
  out->l4 = ip.l4;
  return true;
}

const char* CtStateName(CtState s) {
  switch (s) {
    case CtState::kNew: return "new";
    case CtState::kSynSent: return "syn_sent";
    case CtState::kEstablished: return "established";
    case CtState::kFinWait: return "fin_wait";
    case CtState::kClosed: return "closed";
    case CtState::kUdpFirst: return "udp_first";
    case CtState::kUdpBoth: return "udp_both";
    case CtState::kIcmp: return "icmp";
  }
  return "unknown";
}

double CtTimeoutMs(CtState s) {
  switch (s) {
    case CtState::kNew: return kCtNewMs;
    case CtState::kSynSent: return kCtSynSentMs;
    case CtState::kEstablished: return kCtEstablishedMs;
    case CtState::kFinWait: return kCtFinWaitMs;
    case CtState::kClosed: return kCtClosedMs;
    case CtState::kUdpFirst: return kCtUdpFirstMs;
    case CtState::kUdpBoth: return kCtUdpBothMs;
    case CtState::kIcmp: return kCtIcmpMs;
  }
  return kCtClosedMs;
}

// --- the table ---

Conntrack::Conntrack(size_t max_entries) : max_(max_entries) {
  std::random_device rd;  // a per-table seed: peers cannot aim tuples at one bucket
  for (auto& s : seed_) s = (static_cast<uint64_t>(rd()) << 32 | rd()) | 1;
  for (auto& s : shards_) s.index.assign(kMinIndex, 0);
}

uint64_t Conntrack::Hash(const CtKey& k) const {
  // Word by word from the key itself: a memcpy to a local array gets
  // vectorised through the stack, and its reloads stall store forwarding.
  using Word = uint64_t __attribute__((may_alias, aligned(4)));
  using Half = uint32_t __attribute__((may_alias));
  const auto* w = reinterpret_cast<const Word*>(&k);
  const uint64_t last = *reinterpret_cast<const Half*>(reinterpret_cast<const uint8_t*>(&k) + 40);
  static_assert(sizeof(CtKey) == 44 && alignof(CtKey) == 4, "five words and a half, 4-aligned");
  uint64_t h = Mix(w[0] ^ seed_[0], w[1] ^ seed_[1]) ^ Mix(w[2] ^ seed_[2], w[3] ^ seed_[3]) ^ Mix(w[4] ^ seed_[4], last ^ seed_[5]);
  return Mix(h ^ 0x9e3779b97f4a7c15ull, seed_[0] ^ 0xe7037ed1a0b428dbull);
}

CtEntry* Conntrack::Shard::Find(const CtKey& k, uint64_t h) {
  size_t mask = index.size() - 1;
  uint32_t tag = static_cast<uint32_t>(h >> 32);
  for (size_t i = tag & mask;; i = (i + 1) & mask) {
    uint64_t v = index[i];
    if (v == 0) return nullptr;
    if (static_cast<uint32_t>(v >> 32) == tag) {
      CtEntry& e = entries[static_cast<uint32_t>(v) - 1];
      if (e.key == k) return &e;
    }
  }
}

void Conntrack::Shard::Rebuild(size_t cap) {
  index.assign(cap, 0);
  size_t mask = cap - 1;
  for (size_t pos = 0; pos < tags.size(); pos++) {
    size_t i = tags[pos] & mask;
    while (index[i]) i = (i + 1) & mask;
    index[i] = static_cast<uint64_t>(tags[pos]) << 32 | (pos + 1);
  }
}

CtEntry* Conntrack::Shard::Add(const CtKey& k, uint64_t h) {
  // At most half full: probes stay short, and a miss ends at an empty slot.
  if ((entries.size() + 1) * 2 > index.size()) Rebuild(index.size() * 2);
  if (entries.size() == entries.capacity()) {
    // 1.5x, not the library's 2x: a full table's shards waste less.
    size_t cap = std::max<size_t>(8, entries.capacity() + entries.capacity() / 2);
    entries.reserve(cap);
    tags.reserve(cap);
  }
  uint32_t tag = static_cast<uint32_t>(h >> 32);
  entries.emplace_back();
  tags.push_back(tag);
  entries.back().key = k;
  size_t mask = index.size() - 1;
  size_t i = tag & mask;
  while (index[i]) i = (i + 1) & mask;
  index[i] = static_cast<uint64_t>(tag) << 32 | entries.size();
  return &entries.back();
}

void Conntrack::Shard::Erase(size_t pos) {
  size_t mask = index.size() - 1;
  auto slot_of = [&](size_t p) {
    uint64_t want = static_cast<uint64_t>(tags[p]) << 32 | (p + 1);
    size_t i = tags[p] & mask;
    while (index[i] != want) i = (i + 1) & mask;
    return i;
  };
  // Backward-shift delete: pull later members of the probe run into the
  // hole unless their home lies cyclically in (hole, j].
  size_t i = slot_of(pos);
  for (size_t j = (i + 1) & mask; index[j]; j = (j + 1) & mask) {
    size_t home = static_cast<uint32_t>(index[j] >> 32) & mask;
    bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
    if (!stays) {
      index[i] = index[j];
      i = j;
    }
  }
  index[i] = 0;
  size_t last = entries.size() - 1;
  if (pos != last) {
    index[slot_of(last)] = static_cast<uint64_t>(tags[last]) << 32 | (pos + 1);
    entries[pos] = entries[last];
    tags[pos] = tags[last];
  }
  entries.pop_back();
  tags.pop_back();
}

void Conntrack::Shard::Clear() {
  std::vector<CtEntry>().swap(entries);
  std::vector<uint32_t>().swap(tags);
  index.assign(kMinIndex, 0);
  index.shrink_to_fit();
}

bool Conntrack::Reserve(Shard& s, double now) {
  auto take = [&] {
    if (count_.fetch_add(1, std::memory_order_relaxed) < max_) return true;
    count_.fetch_sub(1, std::memory_order_relaxed);
    return false;
  };
  if (take()) return true;
  size_t looks = std::min<size_t>(s.entries.size(), kReclaimLooks);
  for (size_t i = 0; i < looks; i++) {
    if (s.reclaim >= s.entries.size()) s.reclaim = 0;
    if (s.entries[s.reclaim].Expired(now)) {
      s.Erase(s.reclaim);
      count_.fetch_sub(1, std::memory_order_relaxed);
      expired_.fetch_add(1, std::memory_order_relaxed);
      return take();  // another worker may have taken the room meanwhile
    }
    s.reclaim++;
  }
  return false;
}

CtEntry* Conntrack::Insert(const CtKey& k, bool orig_a_to_b, double now) {
  uint64_t h = Hash(k);
  Shard& s = shards_[ShardOf(h)];
  if (!Reserve(s, now)) return nullptr;
  CtEntry* e = s.Add(k, h);
  Restart(*e, orig_a_to_b, now);
  return e;
}

void Conntrack::Restart(CtEntry& e, bool orig_a_to_b, double now) {
  CtKey k = e.key;
  e = CtEntry{};
  e.key = k;
  e.orig_a_to_b = orig_a_to_b;
  e.state = InitialState(k.proto, k.ipver);
  e.last_seen = now;
  e.expires = now + CtTimeoutMs(e.state);
}

void Conntrack::Track(CtEntry& e, bool orig, uint8_t tcp_flags, uint32_t bytes, double now, uint32_t packets) {
  int d = orig ? 0 : 1;
  e.packets[d] += packets;
  e.bytes[d] += bytes;
  e.last_seen = now;
  if (e.key.proto == kIpProtoTcp) {
    bool syn = tcp_flags & kTcpSyn, ack = tcp_flags & kTcpAck;
    if (tcp_flags & kTcpRst) {
      e.state = CtState::kClosed;
    } else {
      switch (e.state) {
        case CtState::kNew:
          // Picked up without a SYN (after a flush or restart) it stays
          // short-lived until the other side answers.
          if (!orig) e.state = CtState::kEstablished;
          else if (syn && !ack) e.state = CtState::kSynSent;
          break;
        case CtState::kSynSent:
          if (!orig) e.state = CtState::kEstablished;
          break;
        case CtState::kClosed:
          if (orig && syn && !ack) {  // the tuple reused by a new connection
            e.state = CtState::kSynSent;
            e.fins = 0;
          }
          break;
        default:
          break;
      }
      if (tcp_flags & kTcpFin) {
        e.fins |= orig ? 1 : 2;
        // Only an answered connection lingers 15 min on a FIN: a FIN that
        // opens nothing keeps its 30 s.
        if (e.state == CtState::kEstablished) e.state = CtState::kFinWait;
      }
      if (e.fins == 3 && e.state == CtState::kFinWait) e.state = CtState::kClosed;  // both sides done: TIME_WAIT
    }
  } else if (e.state != CtState::kIcmp) {
    if (!orig) e.state = CtState::kUdpBoth;
  }
  e.expires = now + CtTimeoutMs(e.state);
}

size_t Conntrack::Sweep(double now, size_t budget) {
  std::unique_lock<std::mutex> sweeping(sweep_mu_, std::try_to_lock);
  if (!sweeping.owns_lock()) return 0;
  size_t freed = 0, looked = 0;
  for (size_t visits = 0; looked < budget && visits < kShards; visits++) {
    Shard& s = shards_[sweep_shard_];
    std::lock_guard<std::mutex> lock(s.mu);
    // A shard with nothing (left) to look at costs one look, so an empty
    // table is not 64 locks per call.
    if (sweep_pos_ >= s.entries.size()) looked++;
    while (looked < budget && sweep_pos_ < s.entries.size()) {
      looked++;
      if (s.entries[sweep_pos_].Expired(now)) {
        s.Erase(sweep_pos_);  // the last entry moves here: look at this position again
        freed++;
      } else {
        sweep_pos_++;
      }
    }
    if (sweep_pos_ < s.entries.size()) break;  // budget spent mid-shard: resume here next call
    // Shard done: give back memory a flood left behind (hysteresis: it
    // grew at 1/2 full, it shrinks below 1/8).
    if (s.index.size() > kMinIndex && s.entries.size() * 8 < s.index.size()) {
      s.entries.shrink_to_fit();
      s.tags.shrink_to_fit();
      s.Rebuild(s.index.size() / 2);
    }
    sweep_shard_ = (sweep_shard_ + 1) % kShards;
    sweep_pos_ = 0;
  }
  count_.fetch_sub(freed, std::memory_order_relaxed);
  expired_.fetch_add(freed, std::memory_order_relaxed);
  return freed;
}

void Conntrack::Flush() {
  for (auto& s : shards_) {
    std::lock_guard<std::mutex> lock(s.mu);
    count_.fetch_sub(s.entries.size(), std::memory_order_relaxed);
    s.Clear();
  }
}

void Conntrack::Dump(size_t max, const std::function<void(const CtEntry&)>& fn) const {
  size_t n = 0;
  for (const auto& s : shards_) {
    std::lock_guard<std::mutex> lock(s.mu);
    for (const auto& e : s.entries) {
      if (n++ >= max) return;
      fn(e);
    }
  }
}

}  // namespace weft
