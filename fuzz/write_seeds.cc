// Writes the fuzzer's seed corpus: one valid frame of every shape the
// parsers accept (proto::BuildFrame), into the directory named by argv[1].
#include <cstdio>
#include <fstream>
#include <string>

#include "proto/frame_builder.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  using netisr::proto::FrameSpec;
  int n = 0;
  auto write = [&](const std::vector<uint8_t>& f) {
    std::ofstream out(std::string(argv[1]) + "/seed-" + std::to_string(n++), std::ios::binary);
    out.write(reinterpret_cast<const char*>(f.data()), static_cast<std::streamsize>(f.size()));
  };
  for (bool v6 : {false, true}) {
    for (auto l4 : {FrameSpec::L4::kTcp, FrameSpec::L4::kUdp, FrameSpec::L4::kIcmpEcho}) {
      FrameSpec s;
      s.ipv6 = v6;
      s.l4 = l4;
      s.payload = 8;
      write(netisr::proto::BuildFrame(s));
      s.vlans = {100, 200};
      s.tcp_options = true;
      s.ip_option_words = v6 ? 0 : 2;
      s.ip6_ext_headers = v6 ? 2 : 0;
      s.pad_to = 60;
      write(netisr::proto::BuildFrame(s));
    }
  }
  write(netisr::proto::BuildArpRequest({10, 0, 0, 1}, {10, 0, 0, 2}));
  std::printf("wrote %d seeds to %s\n", n, argv[1]);
  return 0;
}
