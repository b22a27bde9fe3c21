#!/usr/bin/env bash
# Builds both images for linux/amd64 and linux/arm64 and pushes them to Amazon ECR, tagged with the version from
# package.json and the git short SHA.
#
# Usage: images/publish.sh [options]
#   --proxy-repo URI    ECR repository of the proxy image
#                       (default: terraform -chdir=infra/environment output -raw proxy_repository_url)
#   --init-repo URI     ECR repository of the init image
#                       (default: terraform -chdir=infra/environment output -raw init_repository_url)
#   --region REGION     ECR region (default: taken from the repository URI)
#   --version VERSION   version tag (default: "version" of package.json)
#   --platforms LIST    (default: linux/amd64,linux/arm64)
#   --node-image IMAGE  proxy base image (default: the proxy Dockerfile's BASE_IMAGE)
#   --debian-image IMAGE init base image (default: the init Dockerfile's BASE_IMAGE)
#   --allow-dirty       publish from a work tree with uncommitted changes (the SHA tag then lies)
#   --dry-run           print the commands instead of running them
#
# Needs: podman >= 4 (multi-platform builds into a manifest list), the AWS CLI v2 with credentials allowed to push,
# terraform when a repository is not given, and — for the foreign architecture's RUN steps — qemu-user-static
# with binfmt_misc registered (Debian/Ubuntu: apt-get install qemu-user-static).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
readonly HERE ROOT

proxy_repo=""
init_repo=""
region=""
version=""
platforms="linux/amd64,linux/arm64"
node_image=""
debian_image=""
allow_dirty=false
dry_run=false

die() { printf 'publish: error: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,21s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

# Prints the command in a form that can be pasted into a shell; runs it unless --dry-run.
run() {
  printf '+'
  printf ' %q' "$@"
  printf '\n'
  if [[ "$dry_run" == false ]]; then "$@"; fi
}

while (($# > 0)); do
  case "$1" in
    --proxy-repo) proxy_repo="${2:?--proxy-repo needs a value}"; shift 2 ;;
    --init-repo) init_repo="${2:?--init-repo needs a value}"; shift 2 ;;
    --region) region="${2:?--region needs a value}"; shift 2 ;;
    --version) version="${2:?--version needs a value}"; shift 2 ;;
    --platforms) platforms="${2:?--platforms needs a value}"; shift 2 ;;
    --node-image) node_image="${2:?--node-image needs a value}"; shift 2 ;;
    --debian-image) debian_image="${2:?--debian-image needs a value}"; shift 2 ;;
    --allow-dirty) allow_dirty=true; shift ;;
    --dry-run) dry_run=true; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

terraform_output() {
  command -v terraform >/dev/null || die "terraform not found: pass --$2 or install terraform"
  terraform -chdir="$ROOT/infra/environment" output -raw "$1" || die "terraform output $1 failed: pass --$2"
}
[[ -n "$proxy_repo" ]] || proxy_repo="$(terraform_output proxy_repository_url proxy-repo)"
[[ -n "$init_repo" ]] || init_repo="$(terraform_output init_repository_url init-repo)"

# <account>.dkr.ecr.<region>.amazonaws.com[.cn]/<name>
readonly ECR_URI='^([0-9]{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?/[a-z0-9._/-]+$'
for repo in "$proxy_repo" "$init_repo"; do
  [[ "$repo" =~ $ECR_URI ]] || die "not an ECR repository URI (account.dkr.ecr.region.amazonaws.com/name): '$repo'"
done
[[ "$proxy_repo" =~ $ECR_URI ]]
repo_region="${BASH_REMATCH[2]}"
[[ -n "$region" ]] || region="$repo_region"
registry="${proxy_repo%%/*}"
[[ "${init_repo%%/*}" == "$registry" ]] || die "both repositories must be in one registry ($registry)"

[[ -n "$version" ]] || version="$(sed -n 's/^  "version": "\([^"]*\)".*/\1/p' "$ROOT/package.json" | head -n 1)"
[[ "$version" =~ ^[0-9A-Za-z][0-9A-Za-z._-]{0,127}$ ]] || die "version '$version' is not a valid image tag"

sha="$(git -C "$ROOT" rev-parse --short=12 HEAD)" || die "not a git work tree"
if [[ "$allow_dirty" == false && -n "$(git -C "$ROOT" status --porcelain --untracked-files=no)" ]]; then
  die "uncommitted changes: the image would not be what $sha names (commit, or pass --allow-dirty)"
fi
created="$(git -C "$ROOT" log -1 --format=%cI)"
source_url="$(git -C "$ROOT" remote get-url origin 2>/dev/null || true)"

printf 'publish: %s and %s, tags %s and %s, platforms %s\n' "$proxy_repo" "$init_repo" "$version" "$sha" "$platforms"

command -v podman >/dev/null || [[ "$dry_run" == true ]] || die "podman not found"
command -v aws >/dev/null || [[ "$dry_run" == true ]] || die "aws CLI not found"

login() {
  printf '+ aws ecr get-login-password --region %q | podman login --username AWS --password-stdin %q\n' "$region" "$registry"
  if [[ "$dry_run" == false ]]; then
    aws ecr get-login-password --region "$region" | podman login --username AWS --password-stdin "$registry"
  fi
}

# $1 local manifest name, $2 Dockerfile, $3 repository, $4 base image override (may be empty)
publish() {
  local manifest="$1" dockerfile="$2" repo="$3" base="$4"
  local args=(--platform "$platforms" --manifest "$manifest" -f "$ROOT/$dockerfile"
    --build-arg "VERSION=$version" --build-arg "REVISION=$sha" --build-arg "CREATED=$created"
    --build-arg "SOURCE_URL=$source_url")
  [[ -z "$base" ]] || args+=(--build-arg "BASE_IMAGE=$base")
  # A manifest list left by an earlier run would gain a second set of images.
  if [[ "$dry_run" == false ]] && podman manifest exists "$manifest"; then podman manifest rm "$manifest" >/dev/null; fi
  run podman build "${args[@]}" "$ROOT"
  local tag
  for tag in "$version" "$sha"; do
    run podman manifest push --all "$manifest" "docker://$repo:$tag"
  done
}

login
publish "localhost/lattice-sigv4-proxy:$sha" proxy/Dockerfile "$proxy_repo" "$node_image"
publish "localhost/lattice-sigv4-proxy-init:$sha" init-iptables/Dockerfile "$init_repo" "$debian_image"
printf 'publish: done: %s:%s %s:%s\n' "$proxy_repo" "$version" "$init_repo" "$version"
