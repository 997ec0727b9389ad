// The fast-path tables a worker switches against, and the edits the
// JavaScript thread makes to a copy of them before publishing it
// (fastpath.h). The edits are plain functions of the tables: no N-API, no
// locks, so the add-on's methods (addon_*.cc) stay argument handling.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "common.h"
#include "fib_hits.h"
#include "policy_tables.h"
#include "port.h"

namespace weft {

class TunnelPort;
class VlanPort;

struct FibEntry {
  uint32_t port;  // output port id
  uint32_t slot;  // index into the last-seen array JavaScript reads for aging
  // A static entry (an endpoint's MAC, from the store): never learned
  // elsewhere; the same MAC heard from another port is refused, not moved.
  bool pinned = false;
  // Its hit counters' index (fib_hits.h), kept while the entry lives.
  uint32_t counter = FibHits::kNone;
};

struct Tables {
  // Indexed by port id; null where no port is.
  std::vector<std::shared_ptr<Port>> ports = std::vector<std::shared_ptr<Port>>(kMaxPorts);
  // network id -> ports of that network, in the order they were added.
  std::unordered_map<uint32_t, std::vector<uint32_t>> flood;
  // MacKey(network, mac) -> where that MAC lives.
  std::unordered_map<uint64_t, FibEntry> fib;
  // (encap << 32 | VNI or GRE key) -> network: what a tunnel packet belongs to.
  std::unordered_map<uint64_t, uint32_t> vni_net;
  // (network << 32 | remote IPv4, network order) -> tunnel port: the VTEPs a
  // network accepts packets from.
  std::unordered_map<uint64_t, uint32_t> vtep_port;
  // (network << 32 | IPv4, network order) -> MAC: proxy-ARP answers.
  std::unordered_map<uint64_t, uint64_t> arp;
  // (trunk port id << 32 | VID) -> VLAN port: where a tagged frame read off
  // an uplink trunk is switched from (VlanPort::Key).
  std::unordered_map<uint64_t, uint32_t> vlan_port;
  // (network << 32 | IPv4, network order) -> guarded port: this host's
  // endpoints' addresses, which nothing from an uplink may claim
  // (uplink_spoof), policy or not.
  std::unordered_map<uint64_t, uint32_t> local_ip;
  // Networks with at least one tunnel port: only they raise miss events.
  std::unordered_map<uint32_t, uint32_t> tunnels;
  // Group policy (policyLoad): which networks are enforced and their
  // decision tables; null until the first load. Shared between snapshots.
  std::shared_ptr<const PolicyTables> policy;
  // Hit counters of fib entries: owned by the Datapath, which outlives
  // every snapshot; edited on the JavaScript thread only (null in tests of
  // the tables alone).
  FibHits* fib_hits = nullptr;

  Port* port(uint32_t id) const { return id < kMaxPorts ? ports[id].get() : nullptr; }
  const FibEntry* Lookup(uint64_t key) const {
    auto it = fib.find(key);
    return it == fib.end() ? nullptr : &it->second;
  }

  // Edits, made on a private copy before it is published (FastPath::Update).
  // A port of its network; in the flood list when `floods`; a guarded
  // port's address in local_ip.
  void AddPort(std::shared_ptr<Port> p, bool floods);
  // A tunnel port: also the one port of its VTEP on its network.
  void AddTunnelPort(std::shared_ptr<TunnelPort> p);
  // A VLAN of a trunk: in its network's flood list, and the port the
  // trunk's frames of that VID are switched from.
  void AddVlanPort(std::shared_ptr<VlanPort> p);
  // The port, its flood-list place, its VTEP and every fib entry toward it.
  void RemovePort(uint32_t id);
  // Tunnel packets with `key` (encap << 32 | VNI) belong to `network`, and
  // no other key does any more.
  void SetNetworkKey(uint32_t network, uint64_t key);
  void ClearNetworkKey(uint32_t network);
  // One record of wire.h's WEFT_FIB_FIELDS; a new entry's last-seen time
  // starts at `now`.
  void ApplyFib(const double* r, std::atomic<double>* hits, double now);
  // One record of wire.h's WEFT_ARP_FIELDS.
  void ApplyArp(const double* r);
};

}  // namespace weft
