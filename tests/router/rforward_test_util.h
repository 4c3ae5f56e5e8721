// Shared by the rforward tests: a frame from proto::BuildFrame (or bytes)
// held in a PacketPool packet and parsed by the parse chain, as the router
// gets it.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "netisr/packet.h"
#include "proto/frame_builder.h"
#include "proto/layout.h"
#include "proto/parse.h"

namespace netisr::router::testing {

inline std::unique_ptr<PacketPool> MakePool(uint32_t count = 16, uint32_t buf = 2048) {
  auto p = PacketPool::Create(count, buf);
  EXPECT_TRUE(p.ok());
  return std::move(p).value();
}

// A pool packet holding `bytes` (not parsed).
inline Packet* Load(PacketPool& pool, const std::vector<uint8_t>& bytes) {
  Packet* p = pool.Alloc();
  EXPECT_NE(p, nullptr);
  EXPECT_LE(bytes.size(), pool.buf_size());
  std::memcpy(p->data, bytes.data(), bytes.size());
  p->len = static_cast<uint32_t>(bytes.size());
  return p;
}

// Runs the whole parse chain; true if the frame was delivered (not dropped).
inline bool Parses(Packet& p, proto::Layout* l = nullptr) {
  const proto::ChainResult r = proto::ParseFrame(p);
  if (l != nullptr) *l = proto::GetLayout(p);
  return r.step.kind == proto::Step::Kind::kDeliver;
}

inline std::vector<uint8_t> Bytes(const Packet& p) {
  return std::vector<uint8_t>(p.data, p.data + p.len);
}

}  // namespace netisr::router::testing
