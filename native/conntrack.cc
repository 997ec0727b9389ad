// The conntrack table and the tuple of a frame (see conntrack.h).
#include "conntrack.h"

#include <random>

namespace weft {

namespace {

constexpr uint8_t kIpProtoIcmp = 1;
constexpr uint8_t kTcpSyn = 0x02, kTcpRst = 0x04;
constexpr size_t kMinIndex = 16;  // index slots of an empty shard
constexpr int kMaxV6Ext = 8;      // extension headers walked before giving up

bool IsIcmp(uint8_t proto, uint8_t ipver) { return (ipver == 4 && proto == kIpProtoIcmp) || (ipver == 6 && proto == kIpProtoIcmpV6); }
bool IsEcho(uint8_t type, uint8_t ipver) { return ipver == 4 ? (type == 8 || type == 0) : (type == 128 || type == 129); }
bool IsEchoRequest(uint8_t type, uint8_t ipver) { return ipver == 4 ? type == 8 : type == 128; }
bool IsError(uint8_t type, uint8_t ipver) {
  return ipver == 4 ? (type == 3 || type == 11 || type == 12) : (type >= 1 && type <= 4);
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
    *out = CtTupleFrom(network, ip.proto, ipver, ip.src, Get16(f + o), ip.dst, Get16(f + o + 2));
    if (ip.proto == kIpProtoTcp && !embedded) out->tcp_flags = f[o + offsetof(TcpHdr, flags)];
    return true;
  }
  if (!IsIcmp(ip.proto, ipver)) {
    *out = CtTupleFrom(network, ip.proto, ipver, ip.src, 0, ip.dst, 0);
    return true;
  }
  if (o + 8 > len) return false;  // type, code, checksum and the 4 bytes every ICMP header has
  uint8_t type = f[o];
  if (IsEcho(type, ipver)) {
    *out = CtTupleFrom(network, ip.proto, ipver, ip.src, 0, ip.dst, 0);
    if (std::memcmp(ip.src, ip.dst, ipver == 4 ? 4 : 16) == 0) out->a_to_b = IsEchoRequest(type, ipver);
    out->key.a_port = Get16(f + o + 4);  // the identifier, the same both ways
    return true;
  }
  if (!IsError(type, ipver)) {
    *out = CtTupleFrom(network, ip.proto, ipver, ip.src, 0, ip.dst, 0);
    return true;
  }
  if (embedded) return false;  // an error about an error is never sent
  IpAt in;
  if (!ParseIp(f, len, o + 8, ipver, &in)) return false;
  if (std::memcmp(in.src, ip.dst, ipver == 4 ? 4 : 16) != 0) {
    // Not about a packet its receiver sent: related to nothing here.
    *out = CtTupleFrom(network, ip.proto, ipver, ip.src, 0, ip.dst, 0);
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
  size_t n = ipver == 4 ? 4 : 16;
  int c = std::memcmp(src, dst, n);
  if (c == 0) c = sport < dport ? -1 : sport > dport ? 1 : 0;
  CtTuple t;
  t.a_to_b = c <= 0;
  t.key.network = network;
  t.key.proto = proto;
  t.key.ipver = ipver;
  std::memcpy(t.key.a, t.a_to_b ? src : dst, n);
  std::memcpy(t.key.b, t.a_to_b ? dst : src, n);
  t.key.a_port = t.a_to_b ? sport : dport;
  t.key.b_port = t.a_to_b ? dport : sport;
  return t;
}

bool CtTupleOf(const uint8_t* frame, uint32_t len, const ParsedFrame& p, uint32_t network, CtTuple* out, bool* related) {
  *related = false;
  if (!p.ip()) return false;
  uint8_t ipver = p.v4 ? 4 : 6;
  IpAt ip;
  if (!ParseIp(frame, len, p.l3, ipver, &ip)) return false;
  return L4Tuple(frame, len, ip, ipver, network, false, out, related);
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
  uint64_t w[6] = {0, 0, 0, 0, 0, 0};
  std::memcpy(w, &k, sizeof(CtKey));
  uint64_t h = Mix(w[0] ^ seed_[0], w[1] ^ seed_[1]) ^ Mix(w[2] ^ seed_[2], w[3] ^ seed_[3]) ^ Mix(w[4] ^ seed_[4], w[5] ^ seed_[5]);
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

CtEntry* Conntrack::Insert(const CtKey& k, bool orig_a_to_b, double now) {
  if (count_.fetch_add(1, std::memory_order_relaxed) >= max_) {
    count_.fetch_sub(1, std::memory_order_relaxed);
    return nullptr;
  }
  uint64_t h = Hash(k);
  CtEntry* e = shards_[ShardOf(h)].Add(k, h);
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
