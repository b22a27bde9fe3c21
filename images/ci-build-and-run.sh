#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# CI entry for the container images: builds both images with buildah (vfs storage, chroot isolation) from a
# locally bootstrapped base, then runs them with podman and checks what the Kubernetes policy relies on:
#   proxy: non-root uid 1337 / gid 0, read-only root file system, no shell, /readyz answers 200, SIGTERM -> exit 0
#   init:  installs the nat rules with NET_ADMIN+NET_RAW only, refuses with a clear message without NET_ADMIN
# Prints one PASS/FAIL line per check and a closing "N passed, M failed"; exits non-zero if any check failed.
# Needs root (podman/buildah as root) and the Debian packages it installs when missing.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
readonly HERE ROOT
# shellcheck source=lib.sh
. "$HERE/lib.sh"

readonly PROXY_IMAGE="${PROXY_IMAGE:-localhost/lattice-sigv4-proxy:ci}"
readonly INIT_IMAGE="${INIT_IMAGE:-localhost/lattice-sigv4-proxy-init:ci}"
BASE_IMAGE="${BASE_IMAGE:-localhost/debian-bookworm-minbase:latest}"
NODE_IMAGE="${NODE_IMAGE:-localhost/node22-bookworm:latest}"
export BASE_IMAGE NODE_IMAGE
readonly READY_TIMEOUT_S="${READY_TIMEOUT_S:-60}"
readonly PROXY_WAIT_S="${PROXY_WAIT_S:-0}"

passed=0
failed=0
pass() { passed=$((passed + 1)); printf 'PASS: %s\n' "$*"; }
fail() { failed=$((failed + 1)); printf 'FAIL: %s\n' "$*"; }
check() { # check "description" command...
  local what="$1"
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}

ensure_packages() {
  local missing=()
  command -v podman >/dev/null || missing+=(podman)
  command -v buildah >/dev/null || missing+=(buildah)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v runc >/dev/null || missing+=(runc)
  command -v shellcheck >/dev/null || missing+=(shellcheck)
  if ((${#missing[@]} > 0)); then
    log "apt-get install ${missing[*]}"
    apt-get -o DPkg::Lock::Timeout=300 update -q >/dev/null
    # With recommends, as verified: podman's recommended helpers (catatonit, slirp4netns, uidmap) come along.
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q "${missing[@]}" >/dev/null
  fi
}

# crun refuses hybrid cgroup hierarchies and sandboxes often lack CAP_SYS_RESOURCE, so podman's default
# rlimits (above the sandbox's own) cannot be set: runc and explicit, modest limits run everywhere.
readonly RUN_ULIMIT="${RUN_ULIMIT:-16384}"
prun() {
  podman --runtime "${PODMAN_RUNTIME:-runc}" run --ulimit "nofile=$RUN_ULIMIT:$RUN_ULIMIT" \
    --ulimit "nproc=$RUN_ULIMIT:$RUN_ULIMIT" "$@"
}

exposes_both() { [[ "$1" == *8080/tcp* && "$1" == *9901/tcp* ]]; }

no_shell() {
  ! prun --rm --network none --entrypoint /bin/sh "$PROXY_IMAGE" -c true >/dev/null 2>&1
}

free_port() {
  node -e 'const s=require("node:net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

http_status() { # prints the status code of GET $1, or 000 when nothing answers
  node -e 'fetch(process.argv[1],{signal:AbortSignal.timeout(2000)}).then(r=>console.log(r.status)).catch(()=>console.log("000"))' "$1"
}

containers=()
cleanup() {
  local c
  for c in "${containers[@]}"; do podman rm -f -t 0 "$c" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT

started=$(date +%s)
ensure_packages

# -- shell scripts ----------------------------------------------------------------------------------------------
check "shellcheck images/*.sh" shellcheck -x "$HERE"/*.sh

# -- base images ------------------------------------------------------------------------------------------------
t0=$(date +%s)
"$HERE/bootstrap-base.sh"
log "base images ready in $(($(date +%s) - t0))s"

version="$(node -p 'require(process.argv[1]).version' "$ROOT/package.json")"
revision="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
build_args=(--build-arg "VERSION=$version" --build-arg "REVISION=$revision"
  --build-arg "CREATED=$(git -C "$ROOT" log -1 --format=%cI 2>/dev/null || echo 1970-01-01T00:00:00Z)")
# npm inside the build trusts the host's roots too: the registry may sit behind a TLS-inspecting proxy whose root
# only the host knows.
readonly BUILD_CA_FILE="${BUILD_CA_FILE:-/etc/ssl/certs/ca-certificates.crt}"
proxy_build_args=()
[[ -s "$BUILD_CA_FILE" ]] && proxy_build_args+=(--secret "id=npm_ca,src=$BUILD_CA_FILE")

# -- init image -------------------------------------------------------------------------------------------------
t0=$(date +%s)
if buildah_build -q -f "$ROOT/init-iptables/Dockerfile" --build-arg "BASE_IMAGE=$BASE_IMAGE" "${build_args[@]}" \
  -t "$INIT_IMAGE" "$ROOT" >/dev/null; then
  pass "build $INIT_IMAGE ($(($(date +%s) - t0))s)"
else
  fail "build $INIT_IMAGE"
fi

# -- proxy image ------------------------------------------------------------------------------------------------
# While the proxy is written in parallel, a developer can ask to wait for its entry point (PROXY_WAIT_S).
deadline=$(($(date +%s) + PROXY_WAIT_S))
while [[ ! -f "$ROOT/proxy/src/main.ts" ]] && (($(date +%s) < deadline)); do sleep 10; done
t0=$(date +%s)
if buildah_build -q -f "$ROOT/proxy/Dockerfile" --build-arg "BASE_IMAGE=$NODE_IMAGE" "${build_args[@]}" "${proxy_build_args[@]}" \
  -t "$PROXY_IMAGE" "$ROOT" >/dev/null; then
  pass "build $PROXY_IMAGE ($(($(date +%s) - t0))s)"
else
  fail "build $PROXY_IMAGE"
fi

# -- proxy checks -----------------------------------------------------------------------------------------------
if podman image exists "$PROXY_IMAGE"; then
  check "proxy image runs as 1337:0" \
    test "$(podman image inspect -f '{{.Config.User}}' "$PROXY_IMAGE")" = "1337:0"
  exposed="$(podman image inspect -f '{{range $p, $_ := .Config.ExposedPorts}}{{$p}} {{end}}' "$PROXY_IMAGE")"
  check "proxy image exposes 8080 and 9901 ($exposed)" \
    exposes_both "$exposed"
  check "proxy image has OCI labels (version $version, revision $revision)" \
    test "$(podman image inspect -f '{{index .Labels "org.opencontainers.image.version"}}/{{index .Labels "org.opencontainers.image.revision"}}' "$PROXY_IMAGE")" = "$version/$revision"
  check "proxy image has no shell" no_shell
  node_major="$(prun --rm --network none --entrypoint /usr/local/bin/node "$PROXY_IMAGE" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
  check "proxy image runs Node >= 22 (found $node_major)" test "$node_major" -ge 22

  listen_port="$(free_port)"
  admin_port="$(free_port)"
  name="lattice-sigv4-proxy-ci-$$"
  # Kubernetes' readOnlyRootFilesystem gives no tmpfs anywhere, hence --read-only-tmpfs=false. Host network
  # with ports picked free on loopback: the sandbox may have no bridge networking, and nothing leaves loopback.
  if prun -d --name "$name" --network host --read-only --read-only-tmpfs=false \
    --cap-drop ALL --security-opt no-new-privileges \
    -e AWS_REGION=us-west-2 -e AWS_ACCESS_KEY_ID=AKIDEXAMPLE \
    -e AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY \
    -e LISTEN_ADDRESS=127.0.0.1 -e "LISTEN_PORT=$listen_port" \
    -e ADMIN_ADDRESS=127.0.0.1 -e "ADMIN_PORT=$admin_port" \
    -e APP_DOMAIN=example.com "$PROXY_IMAGE" >/dev/null; then
    containers+=("$name")
    status=000
    deadline=$(($(date +%s) + READY_TIMEOUT_S))
    while (($(date +%s) < deadline)); do
      status="$(http_status "http://127.0.0.1:$admin_port/readyz")"
      [[ "$status" == 200 ]] && break
      [[ "$(podman inspect -f '{{.State.Running}}' "$name")" == true ]] || break
      sleep 1
    done
    check "proxy container (read-only root fs) answers /readyz 200 (got $status)" test "$status" = 200
    check "proxy container answers /healthz 200" test "$(http_status "http://127.0.0.1:$admin_port/healthz")" = 200
    pid="$(podman inspect -f '{{.State.Pid}}' "$name")"
    ids="$(awk '/^Uid:/ { u = $2 "," $3 "," $4 "," $5 } /^Gid:/ { g = $2 "," $3 "," $4 "," $5 } END { print u "/" g }' "/proc/$pid/status" 2>/dev/null || true)"
    check "proxy process runs as uid 1337, gid 0 (real,effective,saved,fs: $ids)" \
      test "$ids" = "1337,1337,1337,1337/0,0,0,0"
    podman stop -t 15 "$name" >/dev/null 2>&1 || true
    code="$(podman inspect -f '{{.State.ExitCode}}' "$name")"
    check "proxy exits 0 on SIGTERM (exit code $code)" test "$code" = 0
    if ((failed > 0)); then
      log "proxy container log:"
      podman logs "$name" 2>&1 | tail -n 40 >&2 || true
    fi
  else
    fail "start the proxy container"
  fi
fi

# -- init checks ------------------------------------------------------------------------------------------------
if podman image exists "$INIT_IMAGE"; then
  check "init image entry point is /usr/local/bin/init-iptables" \
    test "$(podman image inspect -f '{{index .Config.Entrypoint 0}}' "$INIT_IMAGE")" = /usr/local/bin/init-iptables
  # --network none: a fresh network namespace of the container's own, so the rules never touch the host's.
  out="$(prun --rm --network none --read-only --read-only-tmpfs=false --cap-drop ALL \
    --cap-add NET_ADMIN --cap-add NET_RAW "$INIT_IMAGE" 2>&1)" && rc=0 || rc=$?
  check "init container with NET_ADMIN+NET_RAW only exits 0 (rc $rc)" test "$rc" = 0
  check "init container installs the REDIRECT to 8080 for 169.254.171.0/24" \
    grep -q -- '-d 169.254.171.0/24 -p tcp -j REDIRECT --to-ports 8080' <<<"$out"
  check "init container lets GID 0 through" grep -q -- '--gid-owner 0 -j RETURN' <<<"$out"
  [[ "$rc" == 0 ]] || printf '%s\n' "$out" >&2
  out="$(prun --rm --network none --read-only --read-only-tmpfs=false --cap-drop ALL --cap-add NET_RAW \
    "$INIT_IMAGE" 2>&1)" && rc=0 || rc=$?
  check "init container without NET_ADMIN fails (rc $rc)" test "$rc" != 0
  check "init container without NET_ADMIN names the missing capability" grep -q 'NET_ADMIN' <<<"$out"
fi

log "images: done in $(($(date +%s) - started))s"
printf '%d passed, %d failed\n' "$passed" "$failed"
((failed == 0))
