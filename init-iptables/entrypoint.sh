#!/bin/sh
# init-iptables: capture a pod's plain-HTTP traffic to Amazon VPC Lattice and hand it to the SigV4 sidecar.
#
# Runs once per pod as an init container, inside the pod's network namespace. It owns one nat chain
# (LATTICE_EGRESS by default) and one jump to it from OUTPUT; re-running rebuilds that chain from scratch so a
# restarted init container leaves exactly the same rules. The proxy itself runs with GID EXCLUDE_GID, and its
# packets are let through untouched, otherwise its own HTTPS connections to Lattice would loop back into it.
set -eu

PROXY_PORT="${PROXY_PORT:-8080}"
LATTICE_CIDR_V4="${LATTICE_CIDR_V4:-169.254.171.0/24}"
LATTICE_CIDR_V6="${LATTICE_CIDR_V6:-fd00:ec2:80::/64}"
EXCLUDE_GID="${EXCLUDE_GID:-0}"
ENABLE_IPV6="${ENABLE_IPV6:-auto}"
CHAIN="${CHAIN:-LATTICE_EGRESS}"
IPTABLES_MODE="${IPTABLES_MODE:-default}"

log() { printf 'init-iptables: %s\n' "$*"; }
die() { printf 'init-iptables: error: %s\n' "$*" >&2; exit 1; }

case "$IPTABLES_MODE" in
  default) v4_default=iptables; v6_default=ip6tables ;;
  nft) v4_default=iptables-nft; v6_default=ip6tables-nft ;;
  legacy) v4_default=iptables-legacy; v6_default=ip6tables-legacy ;;
  *) die "IPTABLES_MODE must be default, nft or legacy (got '$IPTABLES_MODE')" ;;
esac
IPTABLES="${IPTABLES:-$v4_default}"
IP6TABLES="${IP6TABLES:-$v6_default}"

# $1 value, $2 most digits, $3 minimum, $4 maximum. The length is checked first so test(1) never sees a number
# too large for its arithmetic.
uint_in_range() {
  case "$1" in
    '' | *[!0-9]*) return 1 ;;
  esac
  [ "${#1}" -le "$2" ] || return 1
  [ "$1" -ge "$3" ] && [ "$1" -le "$4" ]
}

if ! uint_in_range "$PROXY_PORT" 5 1 65535; then
  die "PROXY_PORT must be a TCP port 1-65535 (got '$PROXY_PORT')"
fi
# 4294967294 is the largest valid GID; (gid_t)-1 means "no group" to the kernel.
if ! uint_in_range "$EXCLUDE_GID" 10 0 4294967294; then
  die "EXCLUDE_GID must be a numeric group id (got '$EXCLUDE_GID')"
fi
case "$LATTICE_CIDR_V4" in
  */*) ;;
  *) die "LATTICE_CIDR_V4 must be an IPv4 CIDR such as 169.254.171.0/24 (got '$LATTICE_CIDR_V4')" ;;
esac
case "$LATTICE_CIDR_V6" in
  *:*/*) ;;
  *) die "LATTICE_CIDR_V6 must be an IPv6 CIDR such as fd00:ec2:80::/64 (got '$LATTICE_CIDR_V6')" ;;
esac
case "$CHAIN" in
  '' | *[!A-Za-z0-9_-]*) die "CHAIN must be a chain name of letters, digits, '_' or '-' (got '$CHAIN')" ;;
esac
[ "${#CHAIN}" -le 28 ] || die "CHAIN must be at most 28 characters (got '$CHAIN')"
case "$ENABLE_IPV6" in
  auto | true | false) ;;
  *) die "ENABLE_IPV6 must be auto, true or false (got '$ENABLE_IPV6')" ;;
esac

# Check the capability before touching iptables: iptables' own error without it ("Permission denied (you must
# be root)" or a netlink EPERM) does not tell the operator which securityContext line is missing.
# CAP_NET_ADMIN is bit 12 of the effective set.
cap_eff=''
[ -r /proc/self/status ] && cap_eff=$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status)
has_cap() { [ -z "$cap_eff" ] || [ $(( (0x$cap_eff >> $1) & 1 )) -eq 1 ]; }
has_cap 12 || die "missing capability NET_ADMIN (CapEff=$cap_eff): add it to the init container's securityContext.capabilities.add"

command -v "$IPTABLES" >/dev/null 2>&1 || die "'$IPTABLES' not found in PATH"

# A global-scope IPv6 address on a non-loopback interface is what makes the pod able to reach Lattice over IPv6;
# link-local (scope 20) addresses alone do not count. Columns: address ifindex prefixlen scope flags name.
has_global_ipv6() {
  [ -r /proc/net/if_inet6 ] || return 1
  awk '$4 == "00" && $6 != "lo" { found = 1 } END { exit found ? 0 : 1 }' /proc/net/if_inet6
}

# $1: iptables binary, $2: destination CIDR. Replaces the chain's content in one iptables-restore transaction
# (--noflush keeps every other chain; declaring ours empties it first), so a bad value leaves the previous rules
# intact and a rerun never duplicates them. Then makes sure OUTPUT jumps to the chain exactly once.
install_rules() {
  ipt="$1"
  cidr="$2"
  command -v "$ipt-restore" >/dev/null 2>&1 || die "'$ipt-restore' not found in PATH (it ships with '$ipt')"
  if ! err=$("$ipt" -w -t nat -S OUTPUT 2>&1); then
    # The legacy back end talks to the kernel through a raw socket, which takes CAP_NET_RAW (bit 13) as well.
    has_cap 13 || die "missing capability NET_RAW, which the legacy iptables back end needs ($ipt: $err)"
    die "$ipt cannot read the nat table: $err (a kernel without nf_tables needs IPTABLES_MODE=legacy)"
  fi
  # Order matters: the proxy's own packets must leave the chain before the REDIRECT can see them.
  printf '%s\n' \
    '*nat' \
    ":$CHAIN - [0:0]" \
    "-A $CHAIN -p tcp -m owner --gid-owner $EXCLUDE_GID -j RETURN" \
    "-A $CHAIN -p tcp -d $cidr -j REDIRECT --to-ports $PROXY_PORT" \
    'COMMIT' \
    | "$ipt-restore" -w --noflush \
    || die "$ipt-restore rejected the rules (check LATTICE_CIDR_V4/LATTICE_CIDR_V6, PROXY_PORT, EXCLUDE_GID)"
  # Checked rather than re-added, since adding it on every run would stack duplicates. Inserted first so a
  # broader capture installed by another init container (a mesh's, say) does not take Lattice traffic away.
  "$ipt" -w -t nat -C OUTPUT -p tcp -j "$CHAIN" 2>/dev/null || "$ipt" -w -t nat -I OUTPUT 1 -p tcp -j "$CHAIN"
}

print_rules() {
  ipt="$1"
  log "resulting $ipt nat rules:"
  "$ipt" -w -t nat -S OUTPUT | sed 's/^/  /'
  "$ipt" -w -t nat -S "$CHAIN" | sed 's/^/  /'
}

log "capturing TCP to $LATTICE_CIDR_V4 -> 127.0.0.1:$PROXY_PORT (packets of GID $EXCLUDE_GID pass through), chain $CHAIN, using $IPTABLES"
install_rules "$IPTABLES" "$LATTICE_CIDR_V4"
print_rules "$IPTABLES"

case "$ENABLE_IPV6" in
  false)
    log "IPv6 capture skipped: ENABLE_IPV6=false"
    ;;
  auto)
    if has_global_ipv6; then
      command -v "$IP6TABLES" >/dev/null 2>&1 || die "the pod has IPv6 but '$IP6TABLES' is not in PATH (set ENABLE_IPV6=false to skip)"
      log "pod has a global IPv6 address: capturing TCP to $LATTICE_CIDR_V6 -> [::1]:$PROXY_PORT using $IP6TABLES"
      install_rules "$IP6TABLES" "$LATTICE_CIDR_V6"
      print_rules "$IP6TABLES"
    else
      log "IPv6 capture skipped: the pod has no global IPv6 address (ENABLE_IPV6=auto)"
    fi
    ;;
  true)
    command -v "$IP6TABLES" >/dev/null 2>&1 || die "ENABLE_IPV6=true but '$IP6TABLES' is not in PATH"
    log "capturing TCP to $LATTICE_CIDR_V6 -> [::1]:$PROXY_PORT using $IP6TABLES (ENABLE_IPV6=true)"
    install_rules "$IP6TABLES" "$LATTICE_CIDR_V6"
    print_rules "$IP6TABLES"
    ;;
esac

log "done"
