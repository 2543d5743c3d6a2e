#!/usr/bin/env bash
# Installs what Tern needs from Debian 12's packages, only where missing.
#   scripts/install-deps.sh build   compiler, CMake, Boost, mbedTLS, SQLite (enough to build and run tern)
#   scripts/install-deps.sh test    the above plus GoogleTest, Paho MQTT C/C++ and mosquitto's clients
#                                   (and openssl, which makes the TLS test certificates)
#   scripts/install-deps.sh package the above plus what builds and checks the .deb (dist/deb/build.sh,
#                                   tests/package/test_package.sh): dpkg-dev, fakeroot, lintian, systemd
#                                   (systemd-analyze verify), file
set -euo pipefail

what=${1:-build}
packages=(g++ cmake ninja-build ccache libboost1.74-dev libmbedtls-dev libsqlite3-dev)
if [[ $what == test || $what == package ]]; then
  packages+=(libgtest-dev libgmock-dev libpaho-mqtt-dev libpaho-mqttpp-dev mosquitto mosquitto-clients python3 openssl)
fi
if [[ $what == package ]]; then
  packages+=(dpkg-dev fakeroot lintian systemd file)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

sudo=()
[[ $(id -u) -ne 0 ]] && sudo=(sudo)
echo "Installing: ${missing[*]}"
"$(dirname "$0")/apt-update.sh"
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
