// Internet checksums (RFC 1071) for the few places the data path must
// finish or rebuild one: checksum-partial frames and segments cut from GSO
// frames on their way into a tunnel.
#pragma once

#include <cstddef>
#include <cstdint>

namespace weft {

// One's-complement sum of `len` bytes (big-endian 16-bit words), not folded.
uint64_t CsumAdd(const uint8_t* data, size_t len, uint64_t sum = 0);
// Folds a sum to 16 bits and complements it: the value stored in a header.
uint16_t CsumFold(uint64_t sum);
// The pseudo-header sum of TCP/UDP over IPv4 or IPv6 (addresses as on the wire).
uint64_t PseudoV4(const uint8_t* src, const uint8_t* dst, uint8_t proto, uint32_t len);
uint64_t PseudoV6(const uint8_t* src, const uint8_t* dst, uint8_t proto, uint32_t len);

}  // namespace weft
