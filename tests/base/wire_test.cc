// Big-endian accessors: network byte order at any alignment.
#include "base/wire.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>

namespace netisr::base {
namespace {

TEST(Wire, LoadsNetworkOrder) {
  const uint8_t b[] = {0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0};
  EXPECT_EQ(Load16(b), 0x1234);
  EXPECT_EQ(Load32(b), 0x12345678u);
  EXPECT_EQ(Load64(b), 0x123456789abcdef0u);
}

TEST(Wire, StoresNetworkOrder) {
  std::array<uint8_t, 6> b{};
  Store16(b.data(), 0x0800);
  EXPECT_EQ(b[0], 0x08);
  EXPECT_EQ(b[1], 0x00);
  Store32(b.data() + 2, 0xc0a80001);  // 192.168.0.1
  EXPECT_EQ(b[2], 192);
  EXPECT_EQ(b[3], 168);
  EXPECT_EQ(b[4], 0);
  EXPECT_EQ(b[5], 1);
}

TEST(Wire, RoundTripsAtEveryAlignment) {
  // IPv4 sits at offset 14 of an Ethernet frame: no access may assume
  // alignment (UBSan's alignment check runs these under --config=asan).
  std::array<uint8_t, 16> b{};
  for (size_t off = 0; off < 8; ++off) {
    Store16(b.data() + off, 0xbeef);
    EXPECT_EQ(Load16(b.data() + off), 0xbeef) << off;
    Store32(b.data() + off, 0xdeadbeef);
    EXPECT_EQ(Load32(b.data() + off), 0xdeadbeefu) << off;
  }
}

}  // namespace
}  // namespace netisr::base
