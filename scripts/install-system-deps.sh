#!/usr/bin/env bash
# Debian packages the system-level suites need: the end-to-end test through real iptables in network
# namespaces, the container image build-and-run, shellcheck, and promtool for the alerting rules. Installs only
# what is missing; needs root.
set -euo pipefail

packages=(
  iptables iproute2 curl util-linux procps   # e2e: netns, veth, nft/legacy iptables, setpriv, curl as the app
  shellcheck                                 # images/publish.sh, infra/*.sh, init-iptables/entrypoint.sh
  buildah podman debootstrap                 # images: build and run both images without a registry
)

if [ "$(id -u)" -ne 0 ]; then
  echo "install-system-deps: not root, cannot install: ${packages[*]}" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
export DEBIAN_FRONTEND=noninteractive
updated=0
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-system-deps: all present (${packages[*]})"
else
  echo "install-system-deps: installing ${missing[*]}"
  apt-get update -qq
  updated=1
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# promtool (charts/platform/rules: promtool check rules / test rules) comes from Debian's `prometheus` package,
# but only promtool is taken out of it, into /usr/local/bin. Installing the package would add 11 JavaScript
# packages for the server's web UI (12 packages, 19.3 MB download, 96 MB installed for prometheus alone) and
# install and enable a Prometheus server service that starts on any host running systemd; unpacking the one
# binary starts nothing.
promtool_bin=/usr/local/bin/promtool
if command -v promtool >/dev/null 2>&1; then
  echo "install-system-deps: promtool present ($(command -v promtool))"
else
  [ "$updated" -eq 1 ] || apt-get update -qq
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && apt-get download -qq prometheus 2>/dev/null)
  deb="$(ls "$work"/prometheus_*.deb)"
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work" ./usr/bin/promtool
  install -m 0755 "$work/usr/bin/promtool" "$promtool_bin"
  echo "install-system-deps: promtool from $(basename "$deb") -> $promtool_bin ($("$promtool_bin" --version 2>&1 | head -1))"
fi
echo "install-system-deps: done"
