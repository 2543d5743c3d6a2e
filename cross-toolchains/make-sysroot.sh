#!/usr/bin/env bash
# Makes cross-toolchains/sysroot-<arch>/ from Debian's packages for that architecture: the -dev packages Tern links
# (mbedTLS, SQLite) and GoogleTest and GoogleMock for the unit tests, unpacked with dpkg-deb -x (nothing is installed for the foreign
# architecture). The target's libc and libstdc++ come with the cross compiler (/usr/<triplet>/).
#
#   cross-toolchains/make-sysroot.sh aarch64|armhf
#
# The shared objects of the unpacked libraries are removed, so the linker takes the static archives and the binary
# needs only libc and libstdc++ on the device. Boost and nlohmann-json are header-only and architecture-independent:
# the host's headers are linked in. Idempotent: a sysroot whose stamp matches the package list is left as it is.
set -euo pipefail
cd "$(dirname "$0")"

case ${1:-} in
  aarch64) deb_arch=arm64 triplet=aarch64-linux-gnu ;;
  armhf) deb_arch=armhf triplet=arm-linux-gnueabihf ;;
  *) echo "usage: $0 aarch64|armhf" >&2; exit 2 ;;
esac

packages=(libmbedtls-dev libmbedtls14 libmbedx509-1 libmbedcrypto7 libsqlite3-dev libsqlite3-0 libgtest-dev libgmock-dev)
sysroot=$PWD/sysroot-$1
stamp="$deb_arch ${packages[*]}"
# Header-only and architecture-independent, as Boost: the host's headers (and nlohmann-json's CMake package, which
# finds them relative to itself) are linked in.
link_host_headers() {
  ln -sfn /usr/include/boost "$sysroot/usr/include/boost"
  ln -sfn /usr/include/nlohmann "$sysroot/usr/include/nlohmann"
  mkdir -p "$sysroot/usr/share/cmake"
  ln -sfn /usr/share/cmake/nlohmann_json "$sysroot/usr/share/cmake/nlohmann_json"
}
if [[ -f $sysroot/.stamp && $(cat "$sysroot/.stamp") == "$stamp" ]]; then
  link_host_headers
  echo "$sysroot is up to date"
  exit 0
fi

sudo=()
[[ $(id -u) -ne 0 ]] && sudo=(sudo)
if ! dpkg --print-foreign-architectures | grep -qx "$deb_arch"; then
  "${sudo[@]}" dpkg --add-architecture "$deb_arch"
  ../scripts/apt-update.sh
elif ! apt-cache show "libsqlite3-dev:$deb_arch" >/dev/null 2>&1; then
  ../scripts/apt-update.sh
fi

rm -rf "$sysroot" "$sysroot.debs"
mkdir -p "$sysroot.debs"
chmod a+rwx "$sysroot.debs"  # apt-get download fetches as the _apt user when it can
(cd "$sysroot.debs" && apt-get download -qq "${packages[@]/%/:$deb_arch}")
for deb in "$sysroot.debs"/*.deb; do dpkg-deb -x "$deb" "$sysroot"; done
rm -rf "$sysroot.debs"

libdir=$sysroot/usr/lib/$triplet
find "$libdir" -maxdepth 1 -name '*.so*' -delete
# GoogleTest's CMake package names the shared objects too; point it at the archives.
if compgen -G "$libdir/cmake/GTest/GTestTargets-*.cmake" >/dev/null; then
  sed -i 's/\.so\(\.[0-9.]*\)\?"/.a"/g' "$libdir"/cmake/GTest/GTestTargets-*.cmake
fi
link_host_headers
echo "$stamp" >"$sysroot/.stamp"
echo "made $sysroot"
