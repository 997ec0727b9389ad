// TAP ports: a tap device created by weft, frames read and written on its fd.
#pragma once

#include <memory>
#include <string>

#include "port.h"

namespace weft {

class TapPort : public Port {
 public:
  // Creates the tap device `ifname` in the calling thread's network namespace
  // with IFF_TAP|IFF_NO_PI|IFF_VNET_HDR and checksum/TSO offloads on, so the
  // kernel hands weft whole 64 KB TCP segments. Throws std::runtime_error.
  static std::unique_ptr<TapPort> Create(uint32_t id, uint32_t network, uint32_t mtu,
                                         const std::string& ifname);
  using Port::Port;
  int RxBatch(Frame* frames, int max) override;
  int TxBatch(Frame* const* frames, int n, int* errors) override;
};

}  // namespace weft
