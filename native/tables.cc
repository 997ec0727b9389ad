#include "tables.h"

#include <arpa/inet.h>

#include <algorithm>

#include "port_uplink.h"
#include "tunnel.h"
#include "wire.h"

namespace weft {

namespace {

// (network << 32 | IPv4): the key of a VTEP, or of an endpoint's address, on a network.
uint64_t VtepKey(uint32_t network, uint32_t remote_ip) { return static_cast<uint64_t>(network) << 32 | remote_ip; }

constexpr uint64_t kMacMask = 0xffffffffffffULL;

}  // namespace

void Tables::AddPort(std::shared_ptr<Port> p, bool floods) {
  uint32_t id = p->id(), net = p->network();
  const PortGuard* g = p->guard();
  if (g != nullptr && g->ip != 0) local_ip[VtepKey(net, g->ip)] = id;
  ports[id] = std::move(p);
  if (floods) flood[net].push_back(id);
}

void Tables::AddTunnelPort(std::shared_ptr<TunnelPort> p) {
  uint32_t id = p->id(), net = p->network();
  vtep_port[VtepKey(net, p->remote_ip())] = id;
  tunnels[net]++;
  bool floods = p->floods();
  AddPort(std::move(p), floods);
}

void Tables::AddVlanPort(std::shared_ptr<VlanPort> p) {
  vlan_port[p->key()] = p->id();
  AddPort(std::move(p), true);
}

void Tables::RemovePort(uint32_t id) {
  if (port(id) == nullptr) return;
  uint32_t net = ports[id]->network();
  if (ports[id]->is_uplink()) vlan_port.erase(static_cast<VlanPort*>(ports[id].get())->key());
  const PortGuard* g = ports[id]->guard();
  if (g != nullptr && g->ip != 0) {
    auto it = local_ip.find(VtepKey(net, g->ip));
    if (it != local_ip.end() && it->second == id) local_ip.erase(it);
  }
  if (ports[id]->is_tunnel()) {
    auto* tp = static_cast<TunnelPort*>(ports[id].get());
    vtep_port.erase(VtepKey(net, tp->remote_ip()));
    if (--tunnels[net] == 0) tunnels.erase(net);
  }
  auto members = flood.find(net);  // a service port or non-flooding tunnel is in none
  if (members != flood.end()) {
    auto& m = members->second;
    m.erase(std::remove(m.begin(), m.end(), id), m.end());
    if (m.empty()) flood.erase(members);
  }
  ports[id].reset();
  for (auto it = fib.begin(); it != fib.end();) {
    if (it->second.port == id) {
      if (fib_hits != nullptr) fib_hits->Give(it->second.counter);
      it = fib.erase(it);
    }
    else ++it;
  }
}

void Tables::SetNetworkKey(uint32_t network, uint64_t key) {
  ClearNetworkKey(network);
  vni_net[key] = network;
}

void Tables::ClearNetworkKey(uint32_t network) {
  for (auto it = vni_net.begin(); it != vni_net.end();) {
    if (it->second == network) it = vni_net.erase(it);
    else ++it;
  }
}

void Tables::ApplyFib(const double* r, std::atomic<double>* hits, double now) {
  uint64_t mac = static_cast<uint64_t>(r[kFibAtMac]) & kMacMask;
  uint8_t bytes[6];
  for (int i = 0; i < 6; i++) bytes[i] = (mac >> (8 * (5 - i))) & 0xff;
  uint64_t key = MacKey(static_cast<uint32_t>(r[kFibAtNetwork]), bytes);
  double op = r[kFibAtOp];
  if (op == kFibAdd || op == kFibStatic) {
    uint32_t slot = static_cast<uint32_t>(r[kFibAtSlot]);
    auto was = fib.find(key);
    // A moved or re-pinned entry keeps its hit count; a new one starts at 0.
    uint32_t counter = was != fib.end() ? was->second.counter : fib_hits != nullptr ? fib_hits->Take() : FibHits::kNone;
    fib[key] = FibEntry{static_cast<uint32_t>(r[kFibAtPort]), slot, op == kFibStatic, counter};
    if (slot < kHitSlots) hits[slot].store(now, std::memory_order_relaxed);
  } else if (op == kFibDel) {
    auto was = fib.find(key);
    if (was == fib.end()) return;
    if (fib_hits != nullptr) fib_hits->Give(was->second.counter);
    fib.erase(was);
  }
}

void Tables::ApplyArp(const double* r) {
  uint64_t key = static_cast<uint64_t>(r[kArpAtNetwork]) << 32 | htonl(static_cast<uint32_t>(r[kArpAtIp]));
  if (r[kArpAtOp] == kArpAdd) arp[key] = static_cast<uint64_t>(r[kArpAtMac]) & kMacMask;
  else arp.erase(key);
}

}  // namespace weft
