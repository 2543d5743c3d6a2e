#!/usr/bin/env bash
# Builds Tern's Debian packages with dpkg-deb from a staged tree (no debhelper: the binaries are the static release
# builds the project already makes, so there is nothing for a source package to compile).
#
#   dist/deb/build.sh amd64 arm64 armhf      # default: amd64
#
# amd64 packages build-static/tern (the host's static release build, as scripts/test.sh configures it), arm64 and
# armhf package build-cross-aarch64/tern and build-cross-armhf/tern (cross-toolchains/build.sh). A build directory
# that exists is only brought up to date (`cmake --build --target tern`, a no-op when nothing changed); a missing one
# is configured and built. Packages are written to build-deb/ as tern_VERSION-REVISION_ARCH.deb; the last lines
# printed are their paths.
#
# VERSION is CMake's project version; REVISION is DEB_REVISION (default 1). DEB_MAINTAINER overrides the Maintainer
# field (default: the git author of HEAD). The changelog's date and every file's time are HEAD's commit time
# (SOURCE_DATE_EPOCH), so the same commit gives the same package.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
[[ $# -gt 0 ]] || set -- amd64
jobs=${JOBS:-$(nproc)}

version=$(sed -n 's/^project(tern VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
[[ -n $version ]] || { echo "cannot read the project version from CMakeLists.txt" >&2; exit 1; }
deb_version=$version-${DEB_REVISION:-1}
maintainer=${DEB_MAINTAINER:-$(git log -1 --format='%an <%ae>')}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
commit=$(git rev-parse --short HEAD)
out=$root/build-deb
mkdir -p "$out"

# Makes sure BUILD_DIR/tern is built from the current sources, without rebuilding what is up to date.
build_tern() {  # build_tern DEB_ARCH -> prints the path of the unstripped tern
  case $1 in
    amd64)
      if [[ ! -f build-static/build.ninja ]]; then
        cmake -S . -B build-static -G Ninja -DCMAKE_BUILD_TYPE=Release -DTERN_BUILD_TESTS=OFF -DTERN_STATIC=ON >/dev/null
      fi
      nice -n 19 cmake --build build-static -j "$jobs" --target tern >&2
      echo "$root/build-static/tern" ;;
    arm64 | armhf)
      local arch=aarch64
      [[ $1 == armhf ]] && arch=armhf
      if [[ -f build-cross-$arch/build.ninja ]]; then
        nice -n 19 cmake --build "build-cross-$arch" -j "$jobs" --target tern >&2
      else
        JOBS=$jobs nice -n 19 cross-toolchains/build.sh "$arch" >&2
      fi
      echo "$root/build-cross-$arch/tern" ;;
    *) echo "unknown architecture $1 (amd64, arm64 or armhf)" >&2; return 2 ;;
  esac
}

# The source packages whose code is linked into the static binary (Debian policy 7.8: Built-Using), at the versions
# installed here. The cross builds take libc and libstdc++ from the cross toolchain's packages, and mbedTLS and
# SQLite from the target's -dev packages unpacked into the sysroot from the same mirror, whose versions match the
# host's.
built_using() {  # built_using DEB_ARCH
  local packages=(libmbedtls-dev libsqlite3-dev)
  case $1 in
    amd64) packages+=(libc6-dev libstdc++-12-dev) ;;
    *) packages+=("libc6-dev-$1-cross" "libstdc++-12-dev-$1-cross") ;;
  esac
  dpkg-query -W -f='${source:Package} (= ${source:Version})\n' "${packages[@]}" | sort -u | paste -sd, | sed 's/,/, /g'
}

# Replaces the one line of FILE that is exactly OLD with NEW; fails when there is not exactly one.
replace_line() {  # replace_line FILE OLD NEW
  local count
  count=$(grep -cxF -- "$2" "$1" || true)
  [[ $count == 1 ]] || { echo "$1: expected one line '$2', found $count" >&2; return 1; }
  OLD=$2 NEW=$3 awk '$0 == ENVIRON["OLD"] { print ENVIRON["NEW"]; next } { print }' "$1" >"$1.new"
  mv "$1.new" "$1"
}

package() {  # package DEB_ARCH
  local arch=$1 strip=strip
  case $arch in
    arm64) strip=aarch64-linux-gnu-strip ;;
    armhf) strip=arm-linux-gnueabihf-strip ;;
  esac
  local binary
  binary=$(build_tern "$arch")
  local stage=$out/stage-$arch
  rm -rf "$stage"
  mkdir -p "$stage/DEBIAN"

  # The binary, stripped as dh_strip does.
  install -d -m 755 "$stage/usr/sbin"
  "$strip" --remove-section=.comment --remove-section=.note --strip-unneeded -o "$stage/usr/sbin/tern" "$binary"
  chmod 755 "$stage/usr/sbin/tern"

  # The configuration: config/tern.conf with the package's defaults (dist/deb/conf-defaults.txt says which and why).
  install -d -m 755 "$stage/etc/tern"
  local conf=$stage/etc/tern/tern.conf
  {
    sed -n '1,/^# Directives that say "(Tern)"/p' config/tern.conf
    echo "#"
    sed 's/^/# /; s/ $//' dist/deb/conf-defaults.txt
    sed '1,/^# Directives that say "(Tern)"/d' config/tern.conf
  } >"$conf"
  replace_line "$conf" "#persistence false" "persistence true"
  replace_line "$conf" "#persistence_location /var/lib/tern/" "persistence_location /var/lib/tern/"
  replace_line "$conf" "#log_timestamp true" "log_timestamp false"
  replace_line "$conf" "listener 1883" "#listener 1883"
  replace_line "$conf" "# For a first run: let clients connect without a username (see allow_anonymous above)." \
    "# With a listener line above, clients without a username are refused unless this is true."
  replace_line "$conf" "allow_anonymous true" "#allow_anonymous false"
  chmod 644 "$conf"
  echo "/etc/tern/tern.conf" >"$stage/DEBIAN/conffiles"

  # The unit, with the package's path to the binary and without the manual installation notes.
  install -d -m 755 "$stage/lib/systemd/system"
  sed -e '1,/^\[Unit\]/{/^\[Unit\]/!d}' -e 's|/usr/local/bin/tern|/usr/sbin/tern|g' dist/tern.service \
    >"$stage/lib/systemd/system/tern.service"
  grep -qx 'ExecStart=/usr/sbin/tern -c /etc/tern/tern.conf' "$stage/lib/systemd/system/tern.service"
  chmod 644 "$stage/lib/systemd/system/tern.service"

  install -D -m 644 dist/deb/tern.logrotate "$stage/etc/logrotate.d/tern"
  echo "/etc/logrotate.d/tern" >>"$stage/DEBIAN/conffiles"

  install -d -m 755 "$stage/usr/share/man/man8" "$stage/usr/share/doc/tern" "$stage/usr/share/lintian/overrides"
  gzip -9n <dist/deb/tern.8 >"$stage/usr/share/man/man8/tern.8.gz"
  install -m 644 dist/deb/copyright "$stage/usr/share/doc/tern/copyright"
  install -m 644 dist/deb/lintian-overrides "$stage/usr/share/lintian/overrides/tern"
  {
    printf 'tern (%s) unstable; urgency=medium\n\n' "$deb_version"
    printf '  * Built from git commit %s by dist/deb/build.sh (static binary, %s).\n\n' "$commit" "$arch"
    printf ' -- %s  %s\n' "$maintainer" "$(date -u -R -d "@$SOURCE_DATE_EPOCH")"
  } | gzip -9n >"$stage/usr/share/doc/tern/changelog.Debian.gz"
  chmod 644 "$stage"/usr/share/man/man8/tern.8.gz "$stage/usr/share/doc/tern/changelog.Debian.gz"

  (cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) \
    >"$stage/DEBIAN/md5sums"
  chmod 644 "$stage/DEBIAN/md5sums"
  local script
  for script in postinst prerm postrm; do
    install -m 755 "dist/deb/$script" "$stage/DEBIAN/$script"
  done
  cat >"$stage/DEBIAN/control" <<CONTROL
Package: tern
Version: $deb_version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $(du -sk --exclude=DEBIAN "$stage" | cut -f1)
Built-Using: $(built_using "$arch")
Section: net
Priority: optional
Suggests: mosquitto-clients
Description: small MQTT 3.1, 3.1.1 and 5.0 broker for edge devices
 Tern is an MQTT broker for gateways, Raspberry Pis and other small boards:
 one statically linked process, configured by a text file in mosquitto's
 format, with password and ACL files as mosquitto's, TLS, and durable
 sessions and messages in SQLite.
 .
 This package runs it as a hardened systemd service (tern.service) that
 listens on 127.0.0.1:1883, keeps its database in /var/lib/tern and logs to
 the journal. Edit /etc/tern/tern.conf to open it to the network.
CONTROL
  chmod 644 "$stage/DEBIAN/control" "$stage/DEBIAN/conffiles"

  local deb=$out/tern_${deb_version}_$arch.deb
  dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
  echo "$deb"
}

for arch in "$@"; do
  package "$arch"
done
