#!/usr/bin/env bash
# Installs what Tern needs from Debian 12's packages, only where missing.
#   scripts/install-deps.sh build   compiler, CMake, Boost, mbedTLS, SQLite, nlohmann-json (enough to build and run tern)
#   scripts/install-deps.sh test    the above plus GoogleTest, Paho MQTT C/C++ and mosquitto's clients
#                                   (and openssl, which makes the TLS test certificates); for the browser test
#                                   (tests/browser) chromium, node and npm, then `npm ci` there (MQTT.js and
#                                   playwright-core as package-lock.json pins them) when node_modules is missing or
#                                   was made from another lock file
#   scripts/install-deps.sh package the above plus what builds and checks the .deb (dist/deb/build.sh,
#                                   tests/package/test_package.sh): dpkg-dev, fakeroot, lintian, systemd
#                                   (systemd-analyze verify), file
#   scripts/install-deps.sh fuzz    the test packages plus clang-14 with its sanitizer and libFuzzer runtimes
#                                   (libclang-rt-14-dev) and llvm-14 (llvm-symbolizer for readable stacks), for
#                                   scripts/fuzz.sh
set -euo pipefail

what=${1:-build}
packages=(g++ cmake ninja-build ccache libboost1.74-dev libmbedtls-dev libsqlite3-dev nlohmann-json3-dev)
if [[ $what == test || $what == package || $what == fuzz ]]; then
  packages+=(libgtest-dev libgmock-dev libpaho-mqtt-dev libpaho-mqttpp-dev mosquitto mosquitto-clients python3 openssl)
  packages+=(chromium)
  # Debian's node and npm where there is none: a node installed otherwise (NodeSource's nodejs, which bundles npm
  # and conflicts with Debian's npm package) is used as it is.
  command -v node >/dev/null || packages+=(nodejs)
  command -v npm >/dev/null || packages+=(npm)
fi
if [[ $what == fuzz ]]; then
  packages+=(clang-14 libclang-rt-14-dev llvm-14)
fi
if [[ $what == package ]]; then
  packages+=(dpkg-dev fakeroot lintian systemd file)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  sudo=()
  [[ $(id -u) -ne 0 ]] && sudo=(sudo)
  echo "Installing: ${missing[*]}"
  "$(dirname "$0")/apt-update.sh"
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The browser test's node_modules, as the invoking user (not through sudo). A stamp of the lock file's hash tells a
# current node_modules from a stale one; npm ci starts from an empty node_modules, so the stamp goes in after it.
if [[ $what == test || $what == package ]]; then
  browser_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/browser"
  stamp=$browser_dir/node_modules/.tern-lock-sha256
  want=$(cat "$browser_dir/package.json" "$browser_dir/package-lock.json" | sha256sum | cut -d' ' -f1)
  if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
    echo "npm ci in tests/browser"
    (cd "$browser_dir" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" >"$stamp"
  fi
fi
