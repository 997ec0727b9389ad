// Uplink receive: the worker reads a trunk (port_uplink.h) in batches and
// sorts each frame by its VLAN: a VID this host owns on that trunk goes to
// the switch as that VLAN port's frame (runs of one VLAN as one batch);
// untagged frames are the host's (the kernel gave it its own copy: counted,
// left alone); any other VID is dropped (vlan_unknown). Nothing is kept per
// frame or per VID, so a flood of foreign VIDs costs counters only.
#include "port_uplink.h"
#include "worker.h"

namespace weft {

void Worker::RxUplink(const Tables& t, UplinkPort& trunk, double now) {
  const uint32_t trunk_id = trunk.id();
  int32_t vids[kBatch];
  uint32_t to[kBatch];  // the VLAN port of each frame; 0: none
  for (int round = 0; round < kRoundsPerPort; round++) {
    int got = trunk.RxTagged(frames_, kBatch, vids);
    if (got == 0) break;
    for (int i = 0; i < got; i++) {
      to[i] = 0;
      counters_.Port(trunk_id, rx_packets);
      counters_.Port(trunk_id, rx_bytes, frames_[i].len > kVnetHdrLen ? frames_[i].len - kVnetHdrLen : 0);
      if (vids[i] == UplinkPort::kUntagged) {
        counters_.Global(uplink_untagged);
        continue;
      }
      DropReason why = vlan_unknown;
      if (vids[i] == UplinkPort::kBadTag) {
        why = runt;
      } else {
        auto it = t.vlan_port.find(VlanPort::Key(trunk_id, static_cast<uint32_t>(vids[i])));
        if (it != t.vlan_port.end() && t.port(it->second) != nullptr) to[i] = it->second;
      }
      if (to[i] == 0) {
        counters_.Drop(why);
        counters_.Port(trunk_id, rx_dropped);
      }
    }
    for (int i = 0; i < got;) {
      if (to[i] == 0) {
        i++;
        continue;
      }
      int j = i + 1;
      while (j < got && to[j] == to[i]) j++;
      counters_.Global(uplink_rx, j - i);
      Switch(t, *t.port(to[i]), frames_ + i, j - i, now);
      i = j;
    }
    Flush(t);
    if (got < kBatch) break;
  }
}

}  // namespace weft
