#include "policy_tables.h"

#include <string>

namespace weft {

namespace {

[[noreturn]] void Bad(const std::string& what) { throw PolicyError("policy snapshot: " + what); }

std::string At(const char* section, size_t i) { return std::string(section) + "[" + std::to_string(i) + "]"; }

}  // namespace

std::shared_ptr<const PolicyTables> PolicyTables::Parse(const uint32_t* w, size_t n, uint32_t epoch) {
  if (n < kPolHeaderLen) Bad("shorter than its header (" + std::to_string(n) + " words)");
  if (w[kPolAtVersion] != kPolVersion) Bad("version " + std::to_string(w[kPolAtVersion]) + ", this data path reads " + std::to_string(kPolVersion));
  if (w[kPolAtReserved] != 0) Bad("reserved header word is not 0");
  const uint64_t nn = w[kPolAtNets], ni = w[kPolAtIps], ng = w[kPolAtGroups], nk = w[kPolAtKeys], nc = w[kPolAtCidrs],
                 nr = w[kPolAtRanges];
  // 64-bit sums of 32-bit counts times small strides cannot overflow.
  const uint64_t want = kPolHeaderLen + nn * kPolNetStride + ni * kPolIpStride + ng * kPolGroupStride +
                        nk * kPolKeyStride + nc * kPolCidrStride + nr * kPolRangeStride;
  if (want != n) Bad("counts say " + std::to_string(want) + " words, the buffer has " + std::to_string(n));

  auto t = std::make_shared<PolicyTables>();
  t->epoch_ = epoch;
  const uint32_t* nets = w + kPolHeaderLen;
  const uint32_t* ips = nets + nn * kPolNetStride;
  const uint32_t* groups = ips + ni * kPolIpStride;
  const uint32_t* keys = groups + ng * kPolGroupStride;
  const uint32_t* cidrs = keys + nk * kPolKeyStride;
  const uint32_t* ranges = cidrs + nc * kPolCidrStride;
  t->ParseRanges(ranges, nr);
  t->ParseNets(nets, nn);
  t->ParseGroups(groups, ng);
  t->ParseIps(ips, ni);
  t->ParseKeys(keys, nk);
  t->ParseCidrs(cidrs, nc);
  return t;
}

namespace {

bool SlotOk(uint32_t s) { return s < kPolicySlots; }
// A group key names a tenant (high half) and a group of it (low half).
bool GroupOk(uint32_t key) { return (key & 0xffff) != 0 && (key >> 16) != 0; }
PolDir DirOf(const std::string& where, uint32_t d) {
  if (d > kPolDirOut) Bad(where + " direction " + std::to_string(d));
  return static_cast<PolDir>(d);
}

}  // namespace

PolicyTables::Span PolicyTables::RangeSpan(const std::string& where, uint32_t first, uint32_t count) const {
  if (static_cast<uint64_t>(first) + count > ranges_.size()) {
    Bad(where + " ranges " + std::to_string(first) + "+" + std::to_string(count) + " beyond " + std::to_string(ranges_.size()));
  }
  return Span{first, count};
}

void PolicyTables::ParseRanges(const uint32_t* w, uint64_t n) {
  for (uint64_t i = 0; i < n; i++) {
    const uint32_t* r = w + i * kPolRangeStride;
    std::string where = At("ranges", i);
    if (r[kPolRangeAtProto] > 255) Bad(where + " protocol " + std::to_string(r[kPolRangeAtProto]));
    if (r[kPolRangeAtLo] > r[kPolRangeAtHi] || r[kPolRangeAtHi] > 65535) Bad(where + " port range " + std::to_string(r[kPolRangeAtLo]) + "-" + std::to_string(r[kPolRangeAtHi]));
    if (r[kPolRangeAtPriority] > kPolMaxPriority) Bad(where + " priority " + std::to_string(r[kPolRangeAtPriority]));
    if (r[kPolRangeAtAction] > kPolDeny) Bad(where + " action " + std::to_string(r[kPolRangeAtAction]));
    if (!SlotOk(r[kPolRangeAtSlot])) Bad(where + " slot " + std::to_string(r[kPolRangeAtSlot]) + " not below " + std::to_string(kPolicySlots));
    ranges_.push_back(Range{static_cast<uint8_t>(r[kPolRangeAtProto]), static_cast<uint16_t>(r[kPolRangeAtLo]),
                            static_cast<uint16_t>(r[kPolRangeAtHi]), static_cast<uint8_t>(r[kPolRangeAtPriority]),
                            r[kPolRangeAtAction] == kPolDeny, r[kPolRangeAtSlot]});
  }
}

void PolicyTables::ParseNets(const uint32_t* w, uint64_t n) {
  for (uint64_t i = 0; i < n; i++) {
    const uint32_t* r = w + i * kPolNetStride;
    uint32_t net = r[kPolNetAtNetwork], tenant = r[kPolNetAtTenant];
    if (net < 1 || net > kMaxNetworks) Bad(At("nets", i) + " network " + std::to_string(net));
    if (tenant < 1 || tenant > 0xffff) Bad(At("nets", i) + " tenant index " + std::to_string(tenant));
    if (!tenant_.emplace(net, tenant).second) Bad(At("nets", i) + " network " + std::to_string(net) + " listed twice");
    enforced_[net >> 6] |= 1ULL << (net & 63);
  }
}

void PolicyTables::ParseGroups(const uint32_t* w, uint64_t n) {
  for (uint64_t i = 0; i < n; i++) {
    const uint32_t* r = w + i * kPolGroupStride;
    std::string where = At("groups", i);
    uint32_t key = r[kPolGroupAtKey];
    if (!GroupOk(key)) Bad(where + " group key " + std::to_string(key));
    if (r[kPolGroupAtIsolate] > (kPolIsolateIn | kPolIsolateOut)) Bad(where + " isolate " + std::to_string(r[kPolGroupAtIsolate]));
    Group g{r[kPolGroupAtIsolate], {}};
    g.default_slot[kPolDirIn] = r[kPolGroupAtSlotIn];
    g.default_slot[kPolDirOut] = r[kPolGroupAtSlotOut];
    for (uint32_t s : g.default_slot) {
      if (!SlotOk(s) && s != kPolNoSlot) Bad(where + " default slot " + std::to_string(s) + " not below " + std::to_string(kPolicySlots));
    }
    if (!groups_.emplace(key, g).second) Bad(where + " group key " + std::to_string(key) + " listed twice");
  }
}

void PolicyTables::ParseIps(const uint32_t* w, uint64_t n) {
  for (uint64_t i = 0; i < n; i++) {
    const uint32_t* r = w + i * kPolIpStride;
    std::string where = At("ips", i);
    uint32_t net = r[kPolIpAtNetwork], key = r[kPolIpAtGroup];
    auto tenant = tenant_.find(net);
    if (tenant == tenant_.end()) Bad(where + " network " + std::to_string(net) + " is not in nets");
    if (!GroupOk(key) || key >> 16 != tenant->second) Bad(where + " group key " + std::to_string(key) + " is not of network " + std::to_string(net) + "'s tenant");
    if (r[kPolIpAtFlags] & ~kPolIpLocal) Bad(where + " flags " + std::to_string(r[kPolIpAtFlags]));
    bool local = r[kPolIpAtFlags] & kPolIpLocal;
    if (!ips_.emplace(static_cast<uint64_t>(net) << 32 | r[kPolIpAtIp], PolEndpoint{key, local}).second) {
      Bad(where + " address listed twice on network " + std::to_string(net));
    }
    if (local && Isolated(key, PolDir::kIn)) isolated_in_nets_.insert(net);
  }
}

void PolicyTables::ParseKeys(const uint32_t* w, uint64_t n) {
  for (uint64_t i = 0; i < n; i++) {
    const uint32_t* r = w + i * kPolKeyStride;
    std::string where = At("keys", i);
    uint32_t local = r[kPolKeyAtLocal], remote = r[kPolKeyAtRemote];
    if (!GroupOk(local)) Bad(where + " local group key " + std::to_string(local));
    if (remote != kPolAny && !GroupOk(remote)) Bad(where + " remote key " + std::to_string(remote));
    PolDir dir = DirOf(where, r[kPolKeyAtDir]);
    Span s = RangeSpan(where, r[kPolKeyAtFirst], r[kPolKeyAtCount]);
    if (!keys_.emplace(KeyOf(local, dir, remote), s).second) Bad(where + " (local, dir, remote) listed twice");
  }
}

void PolicyTables::ParseCidrs(const uint32_t* w, uint64_t n) {
  for (uint64_t i = 0; i < n; i++) {
    const uint32_t* r = w + i * kPolCidrStride;
    std::string where = At("cidrs", i);
    uint32_t local = r[kPolCidrAtLocal], prefix = r[kPolCidrAtPrefix];
    if (!GroupOk(local)) Bad(where + " local group key " + std::to_string(local));
    PolDir dir = DirOf(where, r[kPolCidrAtDir]);
    if (prefix > 32) Bad(where + " prefix length " + std::to_string(prefix));
    uint32_t mask = prefix == 0 ? 0 : ~0u << (32 - prefix);
    Span s = RangeSpan(where, r[kPolCidrAtFirst], r[kPolCidrAtCount]);
    cidrs_[LocalDir(local, dir)].push_back(Cidr{r[kPolCidrAtIp] & mask, mask, s});
  }
}

uint32_t PolicyTables::TenantIndex(uint32_t network) const {
  auto it = tenant_.find(network);
  return it == tenant_.end() ? 0 : it->second;
}

const PolEndpoint* PolicyTables::Endpoint(uint32_t network, uint32_t ipv4_host) const {
  auto it = ips_.find(static_cast<uint64_t>(network) << 32 | ipv4_host);
  return it == ips_.end() ? nullptr : &it->second;
}

bool PolicyTables::Isolated(uint32_t group_key, PolDir dir) const {
  auto it = groups_.find(group_key);
  if (it == groups_.end()) return false;
  return it->second.isolate & (dir == PolDir::kIn ? kPolIsolateIn : kPolIsolateOut);
}

void PolicyTables::Scan(Span s, uint8_t proto, uint16_t dport, const Range** best) const {
  for (uint32_t i = s.first; i < s.first + s.count; i++) {
    const Range& r = ranges_[i];
    if (r.proto != kPolAny && r.proto != proto) continue;
    if (dport < r.lo || dport > r.hi) continue;
    const Range* b = *best;
    if (b == nullptr || r.priority > b->priority || (r.priority == b->priority && r.deny && !b->deny)) *best = &r;
  }
}

PolVerdict PolicyTables::Evaluate(uint32_t local, PolDir dir, uint32_t remote, uint32_t remote_ip, bool has_ip,
                                  uint8_t proto, uint16_t dport) const {
  const Range* best = nullptr;
  if (remote != kPolAny) {
    auto k = keys_.find(KeyOf(local, dir, remote));
    if (k != keys_.end()) Scan(k->second, proto, dport, &best);
  }
  auto any = keys_.find(KeyOf(local, dir, kPolAny));
  if (any != keys_.end()) Scan(any->second, proto, dport, &best);
  if (has_ip) {
    auto c = cidrs_.find(LocalDir(local, dir));
    if (c != cidrs_.end()) {
      for (const Cidr& cidr : c->second) {
        if ((remote_ip & cidr.mask) == cidr.net) Scan(cidr.ranges, proto, dport, &best);
      }
    }
  }
  PolVerdict v;
  if (best != nullptr) {
    v.allow = !best->deny;
    v.by_default = false;
    v.slot = best->slot;
    return v;
  }
  auto g = groups_.find(local);
  if (g != groups_.end() && (g->second.isolate & (dir == PolDir::kIn ? kPolIsolateIn : kPolIsolateOut))) {
    v.allow = false;
    v.slot = g->second.default_slot[static_cast<int>(dir)];
  }
  return v;
}

}  // namespace weft
