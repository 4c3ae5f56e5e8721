#!/usr/bin/env bash
# Builds the parse-chain fuzzer with clang (libFuzzer + ASan + UBSan; Bazel's
# toolchain here is gcc, which has no libFuzzer) and runs it for a bounded
# time from a seed corpus of valid frames. Exits non-zero on any crash,
# sanitizer report or broken invariant (libFuzzer leaves the input as
# out/fuzz/crash-*; replay it with out/fuzz/parse_chain_fuzzer FILE).
#
# Environment:
#   FUZZ_SECONDS=60   run time
#   CXX=clang++       compiler (clang 14 with libclang-rt-14-dev)
set -euo pipefail

cd "$(dirname "$0")/.."

CXX=${CXX:-clang++}
OUT=out/fuzz
mkdir -p "$OUT/seeds" "$OUT/corpus"

# The base and proto sources the parse chain needs; no netisr library (the
# chain uses only Packet's inline members).
SRCS=(
  base/checksum.cc
  proto/parse_drop.cc
  proto/flow_hash.cc
  proto/frame_builder.cc
  proto/internal/filter_key.cc
  proto/internal/options.cc
  proto/parse.cc
)
FLAGS=(-std=c++20 -g -O1 -fno-omit-frame-pointer -I.)
SAN=(-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all)

"$CXX" "${FLAGS[@]}" "${SAN[@]}" fuzz/parse_chain_fuzzer.cc "${SRCS[@]}" \
  -o "$OUT/parse_chain_fuzzer"
"$CXX" "${FLAGS[@]}" fuzz/write_seeds.cc "${SRCS[@]}" -o "$OUT/write_seeds"
"$OUT/write_seeds" "$OUT/seeds"

# New inputs go to corpus/ (kept between runs); seeds/ is read only.
exec "$OUT/parse_chain_fuzzer" \
  -max_total_time="${FUZZ_SECONDS:-60}" -max_len=2048 -print_final_stats=1 \
  -artifact_prefix="$OUT/" "$OUT/corpus" "$OUT/seeds"
