// Turning what the kernel hands a TAP or packet socket (checksum-partial
// frames, 64 KB GSO super-frames) into packets that may cross a tunnel:
// every checksum complete, every segment within the MSS the sender chose.
#pragma once

#include <cstdint>
#include <vector>

#include "common.h"
#include "headers.h"

namespace weft {

// One segment: its own copy of the Ethernet/IP/L4 headers, and a slice of
// the original frame's payload (not copied).
struct Segment {
  uint8_t hdr[kEthHdrLen + 4 + 60 + 60];
  uint32_t hdr_len;
  const uint8_t* payload;
  uint32_t payload_len;
};

enum class GsoResult { kOk, kUnsupported, kMalformed };

// Completes a checksum-partial frame in place (csum_start/csum_offset of the
// vnet header) and clears the flag, so every output sees a finished frame.
bool CompleteChecksum(VnetHdr* vh, uint8_t* frame, uint32_t len);

// A frame decapsulated from a tunnel, bound for a local port. Senders that
// rely on checksum offload over a virtual wire (a kernel VTEP behind veth)
// leave the inner TCP/UDP checksum partial: the pseudo-header sum only. This
// verifies the inner checksum, completes a partial one, and says whether the
// frame may be marked checksum-valid (VIRTIO_NET_HDR_F_DATA_VALID).
// `p` is ParseL3L4(frame, len).
bool FinishReceivedChecksum(uint8_t* frame, uint32_t len, const ParsedFrame& p);

// A decapsulated inner frame larger than the port MTU: a kernel VTEP behind
// veth sends whole TCP super-frames (UDP tunnel GSO, delivered to a UDP
// socket unsegmented). Describes it as a GSO frame (gso_size from `mtu`,
// checksum partial) so the output port's kernel segments it. False if it is
// not a TCP frame that can be described so.
bool DescribeInnerGso(VnetHdr* vh, uint8_t* frame, uint32_t len, const ParsedFrame& p, uint32_t mtu);

// Cuts a GSO frame (TCPv4, TCPv6, UDP_L4) into segments appended to `out`.
GsoResult SegmentGso(const VnetHdr& vh, const uint8_t* frame, uint32_t len, const ParsedFrame& p,
                     std::vector<Segment>& out);

}  // namespace weft
