// pcapng blocks (draft-ietf-opsawg-pcapng), little-endian as this host:
// a Section Header, one Interface Description per captured port (named
// after it, nanosecond timestamps), and an Enhanced Packet per copy with
// its direction in epb_flags.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace weft {

constexpr uint16_t kLinktypeEthernet = 1, kLinktypeRaw = 101;

namespace pcapng {

inline void U16(std::vector<uint8_t>& o, uint16_t v) { o.insert(o.end(), reinterpret_cast<uint8_t*>(&v), reinterpret_cast<uint8_t*>(&v) + 2); }
inline void U32(std::vector<uint8_t>& o, uint32_t v) { o.insert(o.end(), reinterpret_cast<uint8_t*>(&v), reinterpret_cast<uint8_t*>(&v) + 4); }
inline void Pad4(std::vector<uint8_t>& o, size_t len) { o.insert(o.end(), (4 - len % 4) % 4, 0); }
inline void Option(std::vector<uint8_t>& o, uint16_t code, const void* data, uint16_t len) {
  U16(o, code);
  U16(o, len);
  o.insert(o.end(), static_cast<const uint8_t*>(data), static_cast<const uint8_t*>(data) + len);
  Pad4(o, len);
}
// Starts a block; End() fills in its length at both ends.
inline size_t Begin(std::vector<uint8_t>& o, uint32_t type) {
  size_t at = o.size();
  U32(o, type);
  U32(o, 0);
  return at;
}
inline void End(std::vector<uint8_t>& o, size_t at) {
  uint32_t len = static_cast<uint32_t>(o.size() - at + 4);
  std::memcpy(&o[at + 4], &len, 4);
  U32(o, len);
}

}  // namespace pcapng

// The Section Header: once, first.
inline void PcapngSection(std::vector<uint8_t>& o) {
  using namespace pcapng;
  size_t b = Begin(o, 0x0A0D0D0A);
  U32(o, 0x1A2B3C4D);
  U16(o, 1);
  U16(o, 0);
  U32(o, 0xFFFFFFFF);  // section length unknown
  U32(o, 0xFFFFFFFF);
  const char app[] = "weft";
  Option(o, 4, app, sizeof(app) - 1);  // shb_userappl
  U32(o, 0);                           // opt_endofopt
  End(o, b);
}

// An Interface Description: its id is how many came before it; it may come
// at any point before the first packet that names it.
inline void PcapngInterface(std::vector<uint8_t>& o, const std::string& name, uint16_t linktype, uint32_t snaplen) {
  using namespace pcapng;
  size_t b = Begin(o, 1);
  U16(o, linktype);
  U16(o, 0);
  U32(o, snaplen);
  Option(o, 2, name.data(), static_cast<uint16_t>(name.size()));  // if_name
  uint8_t tsresol = 9;                                              // nanoseconds
  Option(o, 9, &tsresol, 1);
  U32(o, 0);
  End(o, b);
}

inline void PcapngPacket(std::vector<uint8_t>& o, uint32_t ifid, uint64_t ts_ns, const uint8_t* data, uint32_t caplen,
                         uint32_t origlen, bool inbound) {
  using namespace pcapng;
  size_t b = Begin(o, 6);
  U32(o, ifid);
  U32(o, static_cast<uint32_t>(ts_ns >> 32));
  U32(o, static_cast<uint32_t>(ts_ns));
  U32(o, caplen);
  U32(o, origlen);
  o.insert(o.end(), data, data + caplen);
  Pad4(o, caplen);
  uint32_t flags = inbound ? 1 : 2;  // epb_flags bits 0-1: inbound / outbound
  Option(o, 2, &flags, 4);
  U32(o, 0);
  End(o, b);
}

}  // namespace weft
