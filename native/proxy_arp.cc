// Proxy ARP: an ARP request for an address the overlay fdb knows is
// answered on the port it came from, so it never crosses the underlay.
// TypeScript programs the answers (Tables::arp); the worker calls this for
// every ARP frame from a local port before switching it.
#include <cstring>

#include "headers.h"
#include "worker.h"

namespace weft {

bool ProxyArpAnswer(const Tables& t, const Port& in, const uint8_t* e, uint32_t elen, uint8_t mac[6]) {
  if (in.is_tunnel() || t.arp.empty()) return false;
  if (elen < kEthHdrLen + sizeof(ArpHdr)) return false;  // the caller saw the ARP ethertype
  const auto* arp = reinterpret_cast<const ArpHdr*>(e + kEthHdrLen);
  if (arp->htype.get() != kArpEthernet || arp->ptype.get() != kEthIPv4 || arp->hlen != 6 || arp->plen != 4 ||
      arp->op.get() != kArpRequest) {
    return false;
  }
  if (std::memcmp(arp->spa, arp->tpa, 4) == 0) return false;  // gratuitous: let it flood
  uint32_t tip;
  std::memcpy(&tip, arp->tpa, 4);
  auto it = t.arp.find(static_cast<uint64_t>(in.network()) << 32 | tip);
  if (it == t.arp.end()) return false;
  for (int i = 0; i < 6; i++) mac[i] = (it->second >> (8 * (5 - i))) & 0xff;
  return true;
}

// Rewrites the frame in place into the reply and queues it back to `in`.
bool Worker::ProxyArp(const Tables& t, const Port& in, Frame& f) {
  uint8_t* e = f.buf + kVnetHdrLen;
  uint32_t elen = f.len - kVnetHdrLen;
  uint8_t mac[6];
  if (!ProxyArpAnswer(t, in, e, elen, mac)) return false;
  auto* eth = reinterpret_cast<EthHdr*>(e);
  auto* arp = reinterpret_cast<ArpHdr*>(e + kEthHdrLen);
  uint32_t tip;
  std::memcpy(&tip, arp->tpa, 4);
  std::memcpy(eth->dst, eth->src, 6);  // to the asker
  std::memcpy(eth->src, mac, 6);       // from the answer
  arp->op.set(kArpReply);
  std::memcpy(arp->tha, arp->sha, 6);  // target = the asker's MAC and IP
  std::memcpy(arp->tpa, arp->spa, 4);
  std::memcpy(arp->sha, mac, 6);
  std::memcpy(arp->spa, &tip, 4);
  std::memset(f.buf, 0, kVnetHdrLen);
  counters_.Global(proxy_arp);
  Enqueue(in.id(), &f);
  return true;
}

}  // namespace weft
