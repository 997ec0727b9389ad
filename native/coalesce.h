// Receive-side coalescing for frames that come out of a tunnel. A remote
// VTEP that is not the Linux kernel (another weft, Open vSwitch) sends a TCP
// flow as MSS-sized segments; handing each one to a TAP would cost the
// container's kernel one skb, one checksum and one TCP receive per segment.
// Consecutive segments of one flow are joined back into one GSO frame here,
// as the kernel's GRO does for a NIC, and the output port's kernel sees a
// 64 KB frame. Everything that cannot be joined passes through unchanged.
#pragma once

#include <cstdint>
#include <vector>

#include "headers.h"
#include "port.h"

namespace weft {

// One inner frame, decapsulated, before it is switched.
struct Decapped {
  const Port* port;  // the tunnel port (remote VTEP) it came from
  uint8_t* inner;    // the inner Ethernet frame, inside a receive buffer
  uint32_t len;
  VnetHdr vh;        // the header it gets on its way out
  // kVnetHdrLen bytes before `inner` may be overwritten: false for the 2nd
  // and later datagrams of a UDP GRO train, whose predecessor ends there.
  bool room_before;
  bool truncated;
  ParsedFrame parsed;  // ParseL3L4(inner, len), made once at decapsulation
  uint16_t gbp = 0;    // the source's group id from a VXLAN-GBP header (0: none)
};

struct Outgoing {
  const Port* port;
  Frame frame;
};

class Coalescer {
 public:
  struct Joined {
    uint64_t frames = 0;    // GSO frames built
    uint64_t segments = 0;  // segments that went into them
  };
  // Joins what can be joined of `in` (arrival order kept) and appends the
  // frames to switch to `out`. They stay valid until the next Run.
  Joined Run(const std::vector<Decapped>& in, std::vector<Outgoing>& out);

 private:
  void Emit(const std::vector<Decapped>& in, size_t first, size_t count, std::vector<Outgoing>& out, Joined& joined);
  uint8_t* Take(size_t len);
  std::vector<uint8_t> arena_;  // copies of frames that cannot stay where they were received
  size_t used_ = 0;
};

}  // namespace weft
