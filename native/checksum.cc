#include "checksum.h"

#include <cstring>

namespace weft {

uint64_t CsumAdd(const uint8_t* data, size_t len, uint64_t sum) {
  // The one's-complement sum does not care about byte order (RFC 1071,
  // 1.2(B)): add native 32-bit words into 64 bits (no carry is lost below
  // 2^32 words), fold, and swap once at the end to big-endian. This runs
  // over every byte of every segment cut for a tunnel, so it must go at
  // memory speed, not a byte at a time.
  uint64_t acc = 0;
  size_t i = 0;
  for (; i + 32 <= len; i += 32) {
    uint32_t w[8];
    std::memcpy(w, data + i, sizeof(w));
    acc += static_cast<uint64_t>(w[0]) + w[1] + w[2] + w[3] + w[4] + w[5] + w[6] + w[7];
  }
  for (; i + 4 <= len; i += 4) {
    uint32_t w;
    std::memcpy(&w, data + i, 4);
    acc += w;
  }
  for (; i + 2 <= len; i += 2) {
    uint16_t w;
    std::memcpy(&w, data + i, 2);
    acc += w;
  }
  if (i < len) {
    // A last odd byte is the high byte of a big-endian word padded with zero.
    uint8_t pad[2] = {data[i], 0};
    uint16_t w;
    std::memcpy(&w, pad, 2);
    acc += w;
  }
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  acc = ((acc >> 8) | (acc << 8)) & 0xffff;
#endif
  return sum + acc;
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
