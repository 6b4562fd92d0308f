#!/usr/bin/env bash
# Installs servesim's build dependencies (Debian packages, only those missing) and builds it.
# Idempotent: a second run installs nothing and rebuilds only what changed.
#   ./setup.sh            configure and build into ./build (Release)
#   BUILD_DIR=out ./setup.sh
set -euo pipefail
cd "$(dirname "$0")"

packages=(
  build-essential cmake pkg-config
  libboost-graph-dev libboost-random-dev libboost-math-dev
  libeigen3-dev libtomlplusplus-dev libtbb-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev nlohmann-json3-dev
  openmpi-bin libopenmpi-dev  # servesim sweep under mpirun, and its test
  chromium  # the report tests open generated pages in headless Chromium
  clang libclang-rt-14-dev  # the sanitizer build and the libFuzzer targets (tests/fuzz)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

build_dir=${BUILD_DIR:-build}
if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >&2
fi
cmake --build "$build_dir" -j"$(nproc)" >&2
