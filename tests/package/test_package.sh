#!/usr/bin/env bash
# Tests Tern's Debian package (dist/deb/build.sh) the way an operator meets it, in about a minute:
#   1. builds the amd64 .deb (from build-static/, brought up to date, never rebuilt from scratch);
#   2. lintian: no error, and no warning other than those listed with a reason in lintian-allowed.txt;
#   3. systemd-analyze verify on the packaged unit, in a root made of the unpacked package and this machine's
#      systemd units (so ExecStart's /usr/sbin/tern is the packaged one): any message fails;
#   4. dpkg --root into a scratch root (maintainer scripts run outside a chroot with DPKG_ROOT set, which they and
#      deb-systemd-helper honour): files, modes, conffiles, the unit enabled;
#   5. the installed binary started as tern.service starts it (tern -c /etc/tern/tern.conf, as an unprivileged
#      user, with NOTIFY_SOCKET and WATCHDOG_USEC), on a copy of the packaged config whose paths point into the
#      scratch root and whose listener is 127.0.0.1 on a free port: READY=1, WATCHDOG=1, a retained message through
#      mosquitto_pub/sub kept in the database across a restart, STOPPING=1 and exit 0 on SIGTERM;
#   6. upgrade (the same package again) with a changed conffile and a database: both kept; remove: both kept, the
#      unit masked; purge: config, database and logs gone, no enablement left;
#   7. the arm64 and armhf packages, when their cross builds exist (tests/package/check_arch.sh).
# Exits non-zero at the first failure, saying what failed. Needs root (dpkg --root, running the broker as nobody);
# scripts/install-deps.sh package installs the tools.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=tests/package
start=$SECONDS

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "==== package: $*"; }
[[ $(id -u) -eq 0 ]] || fail "needs root (dpkg --root, starting the broker as an unprivileged user)"
for tool in dpkg-deb lintian systemd-analyze mosquitto_pub mosquitto_sub python3 setpriv file; do
  command -v "$tool" >/dev/null || fail "$tool is missing: run scripts/install-deps.sh package"
done

work=$(mktemp -d /tmp/tern-package.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

step "build"
deb=$(dist/deb/build.sh amd64 | tail -1)
[[ -f $deb ]] || fail "dist/deb/build.sh did not make a package"
echo "$deb"

step "lintian"
lintian_check() {  # lintian_check DEB: fails on an error or on a warning not listed in lintian-allowed.txt
  local out bad=()
  out=$(lintian --pedantic --show-overrides "$1" 2>&1 | grep -v '^running with root privileges' || true)
  [[ -z $out ]] || printf '%s\n' "$out"
  local line tag
  while read -r line; do
    tag=$(awk '{print $3}' <<<"$line")
    if [[ $line == E:* ]] || ! grep -q "^$tag " "$here/lintian-allowed.txt"; then bad+=("$line"); fi
  done < <(grep -E '^[EW]: ' <<<"$out" || true)
  [[ ${#bad[@]} -eq 0 ]] || fail "lintian: $(printf '%s; ' "${bad[@]}")"
}
lintian_check "$deb"

step "systemd-analyze verify"
systemd-analyze --version >/dev/null 2>&1 || fail "systemd-analyze cannot run here: the unit is NOT verified"
verify_root=$work/verify-root
dpkg-deb -x "$deb" "$verify_root"
cp -an /lib/systemd/system/. "$verify_root/lib/systemd/system/"
mkdir -p "$verify_root/bin"
cp /bin/kill "$verify_root/bin/"  # ExecReload's
verify_out=$(systemd-analyze verify --man=no --root="$verify_root" /lib/systemd/system/tern.service 2>&1) ||
  fail "systemd-analyze verify: ${verify_out:-exit status $?}"
[[ -z $verify_out ]] || fail "systemd-analyze verify: $verify_out"
echo "tern.service verified; $(systemd-analyze security --offline=true --root="$verify_root" tern.service 2>&1 |
  grep -o 'Overall exposure level.*')"

step "dpkg --root install"
root=$work/root
admin=$root/var/lib/dpkg
mkdir -p "$admin/info" "$admin/updates" "$root/etc" "$root/var/log"
touch "$admin/status" "$admin/available"
chmod 755 "$root"
dpkg_root() { dpkg --root="$root" --force-script-chrootless --log="$work/dpkg.log" "$@" </dev/null; }
dpkg_root -i "$deb" >"$work/dpkg.out" 2>&1 || { cat "$work/dpkg.out"; fail "dpkg -i"; }
[[ $(dpkg-query --admindir="$admin" -W -f='${Status}' tern) == "install ok installed" ]] || fail "not installed"

check_mode() {  # check_mode MODE PATH
  [[ -e $root$2 ]] || fail "$2 is not installed"
  local got
  got=$(stat -c '%a %U:%G' "$root$2")
  [[ $got == "$1 root:root" ]] || fail "$2: $got, expected $1 root:root"
}
check_mode 755 /usr/sbin/tern
check_mode 644 /etc/tern/tern.conf
check_mode 644 /lib/systemd/system/tern.service
check_mode 644 /etc/logrotate.d/tern
check_mode 644 /usr/share/man/man8/tern.8.gz
check_mode 644 /usr/share/doc/tern/copyright
check_mode 644 /usr/share/doc/tern/changelog.Debian.gz
file -b "$root/usr/sbin/tern" | grep -q 'x86-64.*statically linked.*stripped' || fail "usr/sbin/tern: $(file -b "$root/usr/sbin/tern")"
"$root/usr/sbin/tern" --version | grep -qx "tern $(dpkg-deb -f "$deb" Version | cut -d- -f1)" || fail "tern --version"
conffiles=$(dpkg-query --admindir="$admin" -W -f='${Conffiles}\n' tern | awk 'NF {print $1}' | sort | paste -sd' ')
[[ $conffiles == "/etc/logrotate.d/tern /etc/tern/tern.conf" ]] || fail "conffiles: $conffiles"
grep -qx 'ExecStart=/usr/sbin/tern -c /etc/tern/tern.conf' "$root/lib/systemd/system/tern.service" || fail "ExecStart"
[[ $(readlink "$root/etc/systemd/system/multi-user.target.wants/tern.service") == /lib/systemd/system/tern.service ]] ||
  fail "postinst did not enable tern.service"
"$root/usr/sbin/tern" --test-config -c "$root/etc/tern/tern.conf" >/dev/null || fail "the packaged config is invalid"
for line in "persistence true" "persistence_location /var/lib/tern/" "log_timestamp false"; do
  grep -qx "$line" "$root/etc/tern/tern.conf" || fail "tern.conf lacks '$line'"
done
grep -q '^listener' "$root/etc/tern/tern.conf" && fail "the packaged tern.conf has a listener (it must be local only)"
echo "files, modes, conffiles and enablement as expected"

step "start the installed broker as tern.service does"
# systemd's view of the state directory with DynamicUser: /var/lib/private/tern owned by the service's user, and
# /var/lib/tern pointing at it. systemd hides /var/lib/private (0700) from other users by a mount namespace; here it
# is made traversable instead.
mkdir -p "$root/var/lib/private/tern"
chmod 711 "$root/var/lib/private"
chmod 700 "$root/var/lib/private/tern"
chown nobody:nogroup "$root/var/lib/private/tern"
ln -sfn private/tern "$root/var/lib/tern"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
conf=$work/tern.conf
sed "s|^persistence_location /var/lib/tern/|persistence_location $root/var/lib/tern/|" "$root/etc/tern/tern.conf" >"$conf"
printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$port" >>"$conf"
chmod 644 "$conf"

run=0
start_broker() {
  run=$((run + 1))
  notify_log=$work/notify-$run.log
  : >"$notify_log"
  python3 "$here/notify_listener.py" "$work/notify-$run.sock" "$notify_log" &
  pids+=($!)
  notify_pid=$!
  wait_for "LISTENING" "$notify_log" 5
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin NOTIFY_SOCKET="$work/notify-$run.sock" WATCHDOG_USEC=1000000 \
    setpriv --reuid=nobody --regid=nogroup --clear-groups --no-new-privs \
    "$root/usr/sbin/tern" -c "$conf" >>"$work/tern.log" 2>&1 &
  broker_pid=$!
  pids+=("$broker_pid")
  wait_for "READY=1" "$notify_log" 10
}
wait_for() {  # wait_for TEXT FILE SECONDS
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    grep -q "$1" "$2" && return 0
    sleep 0.1
  done
  cat "$work/tern.log" >&2 || true
  fail "no '$1' in $2 within $3 s"
}
stop_broker() {
  kill -TERM "$broker_pid"
  local status=0
  timeout 15 tail --pid="$broker_pid" -f /dev/null || fail "tern did not stop within 15 s of SIGTERM"
  wait "$broker_pid" || status=$?
  [[ $status -eq 0 ]] || { cat "$work/tern.log" >&2; fail "tern exited with status $status on SIGTERM"; }
  wait_for "STOPPING=1" "$notify_log" 5
  wait "$notify_pid" || true
}

start_broker
mosquitto_pub -h 127.0.0.1 -p "$port" -q 1 -r -t tern/package -m "kept across restarts" ||
  fail "mosquitto_pub to the installed broker"
got=$(mosquitto_sub -h 127.0.0.1 -p "$port" -q 1 -t tern/package -C 1 -W 10) || fail "mosquitto_sub"
[[ $got == "kept across restarts" ]] || fail "mosquitto_sub got '$got'"
wait_for "WATCHDOG=1" "$notify_log" 5
stop_broker
db=$root/var/lib/private/tern/tern.db
[[ $(stat -c %U "$db" 2>/dev/null) == nobody ]] || fail "no database owned by the service user at $db"
start_broker
got=$(mosquitto_sub -h 127.0.0.1 -p "$port" -t tern/package -C 1 -W 10) || fail "mosquitto_sub after restart"
[[ $got == "kept across restarts" ]] || fail "after a restart, mosquitto_sub got '$got'"
stop_broker
echo "READY=1, WATCHDOG=1, publish/subscribe, the retained message kept in $db across a restart, STOPPING=1, exit 0"

step "upgrade, remove, purge"
echo "# changed by the administrator" >>"$root/etc/tern/tern.conf"
mkdir -p "$root/var/log/private/tern"
echo "a log line" >"$root/var/log/private/tern/tern.log"
ln -sfn private/tern "$root/var/log/tern"
dpkg_root -i "$deb" >"$work/dpkg.out" 2>&1 || { cat "$work/dpkg.out"; fail "dpkg -i over the installed package"; }
grep -qx "# changed by the administrator" "$root/etc/tern/tern.conf" || fail "upgrade replaced the changed conffile"
[[ -f $db ]] || fail "upgrade removed the database"
dpkg_root -r tern >"$work/dpkg.out" 2>&1 || { cat "$work/dpkg.out"; fail "dpkg -r"; }
[[ ! -e $root/usr/sbin/tern ]] || fail "remove left /usr/sbin/tern"
grep -qx "# changed by the administrator" "$root/etc/tern/tern.conf" || fail "remove deleted the conffile"
[[ -f $db && -f $root/var/log/tern/tern.log ]] || fail "remove deleted the database or the log"
[[ $(readlink "$root/etc/systemd/system/tern.service") == /dev/null ]] || fail "remove did not mask tern.service"
dpkg_root -i "$deb" >"$work/dpkg.out" 2>&1 || { cat "$work/dpkg.out"; fail "dpkg -i after remove"; }
[[ ! -e $root/etc/systemd/system/tern.service ]] || fail "reinstall did not unmask tern.service"
[[ -L $root/etc/systemd/system/multi-user.target.wants/tern.service ]] || fail "reinstall did not enable tern.service"
grep -qx "# changed by the administrator" "$root/etc/tern/tern.conf" || fail "reinstall replaced the changed conffile"
echo "user:hash" >"$root/etc/tern/passwd"  # a file the administrator added
dpkg_root -P tern >"$work/dpkg.out" 2>&1 || { cat "$work/dpkg.out"; fail "dpkg -P"; }
for path in /etc/tern /etc/logrotate.d/tern /var/lib/tern /var/lib/private/tern /var/log/tern /var/log/private/tern \
  /etc/systemd/system/multi-user.target.wants/tern.service /etc/systemd/system/tern.service; do
  [[ ! -e $root$path && ! -L $root$path ]] || fail "purge left $path"
done
[[ -z $(find "$root/var/lib/systemd" -name 'tern*' 2>/dev/null) ]] || fail "purge left deb-systemd-helper state"
[[ -z $(dpkg-query --admindir="$admin" -W -f='${Status}' tern 2>/dev/null) ]] || fail "purge left tern in dpkg's database"
echo "upgrade and remove kept the config, database and log; purge removed them"

step "arm64 and armhf"
"$here/check_arch.sh" --if-built arm64 armhf

echo "==== package: all passed in $((SECONDS - start)) s"
