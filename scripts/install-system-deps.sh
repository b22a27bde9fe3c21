#!/usr/bin/env bash
# Debian packages the system-level suites need: the end-to-end test through real iptables in network
# namespaces, the container image build-and-run, and shellcheck. Installs only what is missing; needs root.
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
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-system-deps: all present (${packages[*]})"
  exit 0
fi
echo "install-system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-system-deps: done"
