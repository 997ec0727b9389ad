// The group-policy snapshot the workers evaluate new connections against:
// parsed once from the compiler's Uint32Array (wire.h, POLICY-SPEC §4),
// validated whole, and published with the tables (Tables::policy) like the
// fib, copy on write. Immutable once built, so workers read it without locks.
//
// Lookups are hash maps keyed by what a packet gives: (network, IPv4) for an
// address's group, groupKey for a group's isolation and default slots,
// (local group, direction, remote group) for the rule ranges that name that
// pair. CIDR rules are a short vector per (local group, direction), scanned
// only for new connections. Nothing here grows with the number of packets.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "wire.h"

namespace weft {

// A malformed snapshot: the one-line message policyLoad throws.
class PolicyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class PolDir : uint8_t { kIn = kPolDirIn, kOut = kPolDirOut };

// What one direction's check decided.
struct PolVerdict {
  bool allow = true;
  bool by_default = true;  // no rule matched: the group's default (isolation or allow)
  uint32_t slot = kPolNoSlot;  // the rule's slot, or the group's default slot when it denied
};

// An endpoint address's group as this host knows it.
struct PolEndpoint {
  uint32_t group_key;
  bool local;  // an endpoint on this host: its egress (and ingress) is checked here
};

class PolicyTables {
 public:
  // Throws PolicyError on anything malformed (one line, nothing kept).
  static std::shared_ptr<const PolicyTables> Parse(const uint32_t* w, size_t n, uint32_t epoch);

  uint32_t epoch() const { return epoch_; }
  // Whether the policy stage runs for `network` at all: one bit test.
  bool Enforced(uint32_t network) const { return network <= kMaxNetworks && (enforced_[network >> 6] >> (network & 63)) & 1; }
  // 0 when the network is not enforced.
  uint32_t TenantIndex(uint32_t network) const;
  // null: the address is WORLD (unknown to policy).
  const PolEndpoint* Endpoint(uint32_t network, uint32_t ipv4_host) const;
  // Whether `group_key` is isolated in direction `dir` on this host.
  bool Isolated(uint32_t group_key, PolDir dir) const;
  // Whether a local endpoint of `network` is in a group isolated for
  // ingress (a non-IP broadcast into the network is then refused).
  bool HasIsolatedIn(uint32_t network) const { return isolated_in_nets_.count(network) != 0; }

  // One direction's check for a new connection: `local` is the group whose
  // rules apply (the source's for kOut, the destination's for kIn),
  // `remote` the peer's group (0: WORLD), `remote_ip` its IPv4 address in
  // host order (has_ip false for IPv6: CIDR rules then cannot match).
  // Highest priority wins, deny wins ties, no match: deny if isolated.
  PolVerdict Evaluate(uint32_t local, PolDir dir, uint32_t remote, uint32_t remote_ip, bool has_ip, uint8_t proto,
                      uint16_t dport) const;

  size_t ranges() const { return ranges_.size(); }

 private:
  struct Range {
    uint8_t proto;
    uint16_t lo, hi;
    uint8_t priority;
    bool deny;
    uint32_t slot;
  };
  struct Span {
    uint32_t first, count;
  };
  struct Cidr {
    uint32_t net, mask;
    Span ranges;
  };
  struct Group {
    uint32_t isolate;
    uint32_t default_slot[2];  // indexed by PolDir
  };
  static uint64_t KeyOf(uint32_t local, PolDir dir, uint32_t remote) {
    return static_cast<uint64_t>(local) << 33 | static_cast<uint64_t>(dir) << 32 | remote;
  }
  static uint64_t LocalDir(uint32_t local, PolDir dir) { return static_cast<uint64_t>(local) << 1 | static_cast<uint64_t>(dir); }
  // Parse's sections, in this order (keys and cidrs point into the ranges,
  // ips need the nets and the groups); each throws PolicyError.
  void ParseRanges(const uint32_t* w, uint64_t n);
  void ParseNets(const uint32_t* w, uint64_t n);
  void ParseGroups(const uint32_t* w, uint64_t n);
  void ParseIps(const uint32_t* w, uint64_t n);
  void ParseKeys(const uint32_t* w, uint64_t n);
  void ParseCidrs(const uint32_t* w, uint64_t n);
  // `count` ranges from `first`, all of them parsed already.
  Span RangeSpan(const std::string& where, uint32_t first, uint32_t count) const;
  // Folds the ranges of `s` that match into the best so far.
  void Scan(Span s, uint8_t proto, uint16_t dport, const Range** best) const;

  uint32_t epoch_ = 0;
  std::vector<uint64_t> enforced_ = std::vector<uint64_t>((kMaxNetworks >> 6) + 1);
  std::unordered_map<uint32_t, uint32_t> tenant_;          // network -> tenantIndex
  std::unordered_map<uint64_t, PolEndpoint> ips_;          // network << 32 | ipv4
  std::unordered_map<uint32_t, Group> groups_;             // groupKey
  std::unordered_map<uint64_t, Span> keys_;                // KeyOf(local, dir, remote)
  std::unordered_map<uint64_t, std::vector<Cidr>> cidrs_;  // LocalDir(local, dir)
  std::unordered_set<uint32_t> isolated_in_nets_;
  std::vector<Range> ranges_;
};

}  // namespace weft
