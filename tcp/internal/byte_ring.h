// ByteRing: a fixed-capacity byte ring, allocated once when a connection is
// established, for the send buffer (unacknowledged + unsent bytes) and the
// receive buffer (unread in-order bytes, then room into which out-of-order
// segments are written at their offset). Fixed capacity is what bounds a
// connection's memory: the receive window never advertises more than the
// free room, so every in-window byte has its place and out-of-order data
// costs no extra allocation (the reassembly queue is just ranges, see
// connection.h).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

namespace netisr::tcp::internal {

class ByteRing {
 public:
  ByteRing() = default;
  explicit ByteRing(size_t capacity) : buf_(new uint8_t[capacity]), cap_(capacity) {}

  size_t capacity() const { return cap_; }
  size_t size() const { return size_; }
  size_t free() const { return cap_ - size_; }

  // Appends up to free() bytes; returns how many.
  size_t Append(const uint8_t* src, size_t n) {
    n = std::min(n, free());
    WriteAt(size_, src, n);
    size_ += n;
    return n;
  }
  // Copies n bytes starting `off` bytes after the head (off + n <= cap).
  void CopyOut(size_t off, uint8_t* dst, size_t n) const {
    size_t pos = (head_ + off) % (cap_ ? cap_ : 1);
    while (n > 0) {
      const size_t chunk = std::min(n, cap_ - pos);
      std::memcpy(dst, buf_.get() + pos, chunk);
      dst += chunk;
      n -= chunk;
      pos = 0;
    }
  }
  // Writes n bytes `off` bytes after the head without changing size() (the
  // caller extends size() with Grow once the bytes are contiguous).
  void WriteAt(size_t off, const uint8_t* src, size_t n) {
    size_t pos = (head_ + off) % (cap_ ? cap_ : 1);
    while (n > 0) {
      const size_t chunk = std::min(n, cap_ - pos);
      std::memcpy(buf_.get() + pos, src, chunk);
      src += chunk;
      n -= chunk;
      pos = 0;
    }
  }
  void Grow(size_t n) { size_ = std::min(cap_, size_ + n); }
  // Drops n bytes from the head.
  void Consume(size_t n) {
    n = std::min(n, size_);
    head_ = cap_ ? (head_ + n) % cap_ : 0;
    size_ -= n;
  }

 private:
  std::unique_ptr<uint8_t[]> buf_;
  size_t cap_ = 0;
  size_t head_ = 0;
  size_t size_ = 0;
};

}  // namespace netisr::tcp::internal
