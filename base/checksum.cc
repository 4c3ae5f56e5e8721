#include "base/checksum.h"

#include <bit>
#include <cstring>

#include "base/wire.h"

namespace netisr::base {
using internal::NativeSum;

uint16_t OnesSum(const uint8_t* data, size_t len, uint32_t initial) {
  NativeSum s;
  s.AddBytes(data, len);
  uint16_t sum = s.FoldNative();
  if constexpr (std::endian::native == std::endian::little) sum = __builtin_bswap16(sum);
  return NativeSum::Fold16(uint64_t{sum} + initial);
}

bool ChecksumOk(const uint8_t* data, size_t len, uint32_t initial) {
  NativeSum s;
  s.AddBytes(data, len);
  s.AddHost(initial);
  return s.FoldNative() == 0xffff;
}

uint32_t PseudoHeaderSum4(const uint8_t* src, const uint8_t* dst, uint8_t protocol,
                          uint16_t length) {
  return uint32_t{Load16(src)} + Load16(src + 2) + Load16(dst) + Load16(dst + 2) + protocol +
         length;
}

uint32_t PseudoHeaderSum6(const uint8_t* src, const uint8_t* dst, uint8_t next_header,
                          uint32_t length) {
  uint32_t sum = next_header + (length >> 16) + (length & 0xffff);
  for (int i = 0; i < 16; i += 2) sum += uint32_t{Load16(src + i)} + Load16(dst + i);
  return sum;  // <= 17 * 0xffff: no overflow
}

}  // namespace netisr::base
