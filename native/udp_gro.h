// UDP segmentation offloads on the underlay's VXLAN sockets, as control
// messages: UDP_GRO on receive (one message is a train of datagrams of
// `gso_size` bytes each, the last one shorter) and UDP_SEGMENT on send (one
// sendmsg carries a burst the kernel cuts). wireguard-go keeps the same two
// helpers in conn/gso_linux.go; here they keep cmsg arithmetic out of the
// worker loop and the tunnel port.
#pragma once

#include <netinet/udp.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstring>

namespace weft {

// Room for the one control message either way.
constexpr size_t kUdpGroCtrlLen = CMSG_SPACE(sizeof(int));
constexpr size_t kUdpSegmentCtrlLen = CMSG_SPACE(sizeof(uint16_t));

// The size of each datagram of a received UDP_GRO train, or 0 when the
// message is one plain datagram.
inline uint32_t GetGsoSize(msghdr& m) {
  uint32_t gso = 0;
  for (cmsghdr* cm = CMSG_FIRSTHDR(&m); cm != nullptr; cm = CMSG_NXTHDR(&m, cm)) {
    if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO && cm->cmsg_len >= CMSG_LEN(sizeof(int))) {
      int v;
      std::memcpy(&v, CMSG_DATA(cm), sizeof(v));
      if (v > 0) gso = static_cast<uint32_t>(v);
    }
  }
  return gso;
}

// Asks the kernel to cut what `m` sends into datagrams of `size` bytes;
// `ctrl` (kUdpSegmentCtrlLen bytes, cmsghdr-aligned) holds the message.
inline void SetGsoSize(msghdr& m, char* ctrl, uint16_t size) {
  m.msg_control = ctrl;
  m.msg_controllen = kUdpSegmentCtrlLen;
  cmsghdr* cm = CMSG_FIRSTHDR(&m);
  cm->cmsg_level = SOL_UDP;
  cm->cmsg_type = UDP_SEGMENT;
  cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
  std::memcpy(CMSG_DATA(cm), &size, sizeof(size));
}

}  // namespace weft
