#include "checksum.h"

namespace weft {

uint64_t CsumAdd(const uint8_t* data, size_t len, uint64_t sum) {
  // Big-endian 16-bit words, eight bytes per step where possible.
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    sum += (static_cast<uint32_t>(data[i]) << 8 | data[i + 1]) + (static_cast<uint32_t>(data[i + 2]) << 8 | data[i + 3]) +
           (static_cast<uint32_t>(data[i + 4]) << 8 | data[i + 5]) + (static_cast<uint32_t>(data[i + 6]) << 8 | data[i + 7]);
  }
  for (; i + 2 <= len; i += 2) sum += static_cast<uint32_t>(data[i]) << 8 | data[i + 1];
  if (i < len) sum += static_cast<uint32_t>(data[i]) << 8;
  return sum;
}

uint16_t CsumFold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum & 0xffff);
}

uint64_t PseudoV4(const uint8_t* src, const uint8_t* dst, uint8_t proto, uint32_t len) {
  uint64_t sum = CsumAdd(src, 4);
  sum = CsumAdd(dst, 4, sum);
  return sum + proto + len;
}

uint64_t PseudoV6(const uint8_t* src, const uint8_t* dst, uint8_t proto, uint32_t len) {
  uint64_t sum = CsumAdd(src, 16);
  sum = CsumAdd(dst, 16, sum);
  return sum + (len >> 16) + (len & 0xffff) + proto;
}

}  // namespace weft
