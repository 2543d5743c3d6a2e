#!/usr/bin/env bash
# `apt-get update` that survives a Debian mirror caught mid-sync ("File has unexpected size ... Mirror sync in
# progress?"): it retries twice, 30 s apart, and if an index still fails it warns and carries on with the lists it
# has; the install or download that follows then fails with apt's own message if a package really is missing.
#   scripts/apt-update.sh            (as root, or through sudo when not root)
set -uo pipefail
sudo=()
[[ $(id -u) -ne 0 ]] && sudo=(sudo)
for attempt in 1 2 3; do
  "${sudo[@]}" apt-get update -qq && exit 0
  [[ $attempt -lt 3 ]] && { echo "apt-get update failed (attempt $attempt of 3); retrying in 30 s" >&2; sleep 30; }
done
echo "warning: apt-get update still fails; going on with the package lists this machine has" >&2
exit 0
