#!/usr/bin/env bash
# Debian packages `npm run bench` needs besides npm packages: nginx (HTTPS upstream and the non-signing
# reference proxy), wrk (load generator), util-linux (taskset, CPU pinning), iproute2 (ss, connection counts),
# nghttp2-client (h2load: the gRPC unary load over h2c).
# Installs only what is missing; needs root. nginx's system service is neither started nor enabled: the bench
# runs its own nginx processes in a temporary prefix.
set -euo pipefail

packages=(nginx wrk util-linux iproute2 nghttp2-client)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "bench/install-deps: all present (${packages[*]})"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "bench/install-deps: not root, cannot install: ${missing[*]} (run: sudo $0)" >&2
  exit 1
fi
echo "bench/install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# policy-rc.d exit 101 keeps the nginx package's postinst from starting a system nginx on port 80.
created_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  created_policy=1
fi
trap '[ "$created_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "bench/install-deps: done ($(nginx -v 2>&1), $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2), $(h2load --version 2>&1 | head -1))"
