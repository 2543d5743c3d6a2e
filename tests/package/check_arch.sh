#!/usr/bin/env bash
# Builds and checks Tern's packages for ARM (dist/deb/build.sh arm64|armhf): the control file's Architecture, the
# package's contents, that usr/sbin/tern is a static executable for that architecture (file(1)), and lintian (the
# same rules as tests/package/test_package.sh). The cross build is brought up to date, not rebuilt.
#
#   tests/package/check_arch.sh arm64 armhf
#   tests/package/check_arch.sh --if-built arm64 armhf   # skips (saying so) an architecture whose cross build
#                                                        # directory does not exist, instead of building it
set -euo pipefail
cd "$(dirname "$0")/../.."
if_built=0
[[ ${1:-} == --if-built ]] && { if_built=1; shift; }

fail() { echo "FAIL: $*" >&2; exit 1; }
work=$(mktemp -d /tmp/tern-package-arch.XXXXXX)
trap 'rm -rf "$work"' EXIT

for arch in "$@"; do
  case $arch in
    arm64) dir=build-cross-aarch64 expected='ELF 64-bit LSB.*ARM aarch64.*statically linked.*stripped' ;;
    armhf) dir=build-cross-armhf expected='ELF 32-bit LSB.*ARM, EABI5.*statically linked.*stripped' ;;
    *) fail "unknown architecture $arch (arm64 or armhf)" ;;
  esac
  if [[ $if_built == 1 && ! -f $dir/build.ninja ]]; then
    echo "$arch: SKIPPED, $dir/ does not exist (cross-toolchains/test-arm.sh builds it and checks this package)"
    continue
  fi
  deb=$(dist/deb/build.sh "$arch" | tail -1)
  echo "$deb"
  [[ $(dpkg-deb -f "$deb" Architecture) == "$arch" ]] || fail "$deb: Architecture $(dpkg-deb -f "$deb" Architecture)"
  contents=$(dpkg-deb --contents "$deb" | awk '{print $1, $6}')
  for entry in "-rwxr-xr-x ./usr/sbin/tern" "-rw-r--r-- ./etc/tern/tern.conf" \
    "-rw-r--r-- ./lib/systemd/system/tern.service" "-rw-r--r-- ./usr/share/doc/tern/copyright"; do
    grep -qxF -- "$entry" <<<"$contents" || fail "$deb lacks '$entry'"
  done
  rm -rf "$work/$arch"
  dpkg-deb -x "$deb" "$work/$arch"
  description=$(file -b "$work/$arch/usr/sbin/tern")
  grep -qE "$expected" <<<"$description" || fail "$deb: usr/sbin/tern is '$description'"
  echo "$arch: usr/sbin/tern: $description"
  out=$(lintian --pedantic "$deb" 2>&1 | grep -v '^running with root privileges' || true)
  [[ -z $out ]] || printf '%s\n' "$out"
  while read -r line; do
    tag=$(awk '{print $3}' <<<"$line")
    if [[ $line == E:* ]] || ! grep -q "^$tag " tests/package/lintian-allowed.txt; then fail "lintian: $line"; fi
  done < <(grep -E '^[EW]: ' <<<"$out" || true)
done
