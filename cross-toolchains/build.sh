#!/usr/bin/env bash
# Cross-builds tern and its unit tests for a Raspberry Pi class target, from a clean checkout:
#
#   cross-toolchains/build.sh aarch64     # 64-bit ARM (Debian arm64): Raspberry Pi 3/4/5 with a 64-bit OS
#   cross-toolchains/build.sh armhf       # 32-bit ARMv7 hard-float (Debian armhf)
#
# Installs the cross compiler and qemu-user when missing, makes the sysroot (make-sysroot.sh), builds in
# build-cross-<arch>/ and writes a stripped copy next to the binary (tern.stripped, the one to copy to a device).
# tern is linked statically (TERN_STATIC): on the device it needs no library at all, and its idle RSS holds no
# shared-library pages.
# The last line printed is the path of the built tern. JOBS (default: the number of CPUs) limits parallel jobs.
set -euo pipefail
cd "$(dirname "$0")/.."

case ${1:-} in
  aarch64) triplet=aarch64-linux-gnu ;;
  armhf) triplet=arm-linux-gnueabihf ;;
  *) echo "usage: $0 aarch64|armhf" >&2; exit 2 ;;
esac
arch=$1
build=build-cross-$arch

missing=()
for p in "g++-$triplet" qemu-user cmake ninja-build libboost1.74-dev nlohmann-json3-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  sudo=()
  [[ $(id -u) -ne 0 ]] && sudo=(sudo)
  echo "Installing: ${missing[*]}"
  scripts/apt-update.sh
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cross-toolchains/make-sysroot.sh "$arch"
# -O2 rather than Release's -O3: the devices' caches are small, and GCC 12 at -O3 raises a false -Wrestrict (GCC bug
# 105651) in std::string code, which -Werror turns into a failed build.
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" -DTERN_STATIC=ON \
  -DCMAKE_TOOLCHAIN_FILE="$PWD/cross-toolchains/$triplet.cmake" >/dev/null
cmake --build "$build" -j "${JOBS:-$(nproc)}"
"$triplet-strip" -o "$build/tern.stripped" "$build/tern"
needed=$("$triplet-readelf" -d "$build/tern" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
echo "$arch: tern $(stat -c %s "$build/tern.stripped") bytes stripped; needs ${needed:-no shared library}"
echo "$PWD/$build/tern"
