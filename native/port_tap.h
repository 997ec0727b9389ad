// TAP ports: a tap device created by weft, frames read and written on its fd.
#pragma once

#include <memory>
#include <string>

#include "port.h"

namespace weft {

class TapPort : public Port {
 public:
  // Creates the tap device `ifname` with IFF_TAP|IFF_NO_PI|IFF_VNET_HDR and
  // checksum/TSO offloads on, so the kernel hands weft whole 64 KB TCP
  // segments. Throws std::runtime_error.
  //
  // Without `netns` the device is made in the calling thread's namespace and
  // lives as long as its fd. With `netns` (a path such as /run/netns/NAME)
  // it is made, or found, in that namespace and made persistent: it outlives
  // the daemon, so a container keeps its interface, addresses and routes
  // while weft restarts, and the restarted daemon attaches to it again by
  // name. Unpersist() ends that.
  static std::unique_ptr<TapPort> Create(uint32_t id, uint32_t network, uint32_t mtu,
                                         const std::string& ifname, const std::string& netns = "");
  TapPort(uint32_t id, uint32_t network, uint32_t mtu, int fd, bool persistent)
      : Port(id, network, mtu, fd), persistent_(persistent) {}
  // The device goes when its fd closes.
  void Unpersist() override;
  int RxBatch(Frame* frames, int max) override;
  int TxBatch(Frame* const* frames, int n, Counters& c) override;

 private:
  bool persistent_;
};

}  // namespace weft
