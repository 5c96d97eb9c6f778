#!/usr/bin/env bash
# Install everything the cachepot test suite needs. Idempotent; target: Debian 12.
#
# Each group of tools has one install_<group> function that lists, per command,
# the apt package providing it. apt runs only for commands that are missing, so
# when everything is already there this script does nothing (and needs no root).
# As non-root, sudo is used if present; otherwise the missing packages are
# printed and the script exits 1. Progress goes to stderr.
set -euo pipefail

log() { printf 'setup: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

APT_UPDATED=0   # run `apt-get update` at most once per invocation
SUDO=()

# have <cmd>[|<alt-cmd>...]: true if any of the alternatives is on PATH.
have() {
  local c
  local IFS='|'
  for c in $1; do
    command -v "$c" >/dev/null 2>&1 && return 0
  done
  return 1
}

# Decide how to become root, or fail listing what is missing.
need_root() {
  if [ "$(id -u)" = 0 ]; then
    SUDO=()
  elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    log "missing packages: $*"
    die "not root and no sudo; install them with: apt-get install --no-install-recommends $*"
  fi
}

# apt-get that waits for the dpkg/apt locks instead of failing while another
# apt-get runs: DPkg::Lock::Timeout covers the dpkg locks, but `apt-get update`
# does not wait for /var/lib/apt/lists/lock, so lock errors are also retried.
# Output goes to a log that is shown only on failure.
APT_LOCK_WAIT=300   # seconds
run_apt() {
  local out rc deadline=$((SECONDS + APT_LOCK_WAIT)) said=0
  out="$(mktemp "${TMPDIR:-/tmp}/cachepot-setup-apt.XXXXXX")"
  while :; do
    rc=0
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get -q -o DPkg::Lock::Timeout="$APT_LOCK_WAIT" "$@" >"$out" 2>&1 || rc=$?
    if [ "$rc" != 0 ] && [ "$SECONDS" -lt "$deadline" ] && grep -q 'Could not get lock' "$out"; then
      [ "$said" = 1 ] || log "apt is busy (another apt-get running?); waiting for its lock"
      said=1
      sleep 3
      continue
    fi
    break
  done
  if [ "$rc" != 0 ]; then
    log "apt-get $* failed (exit $rc):"
    tail -n 40 "$out" >&2
  fi
  rm -f "$out"
  return "$rc"
}

# apt_ensure <cmd>[|<alt>]=<package> ...: install the packages of missing commands.
apt_ensure() {
  local spec cmd pkg p dup t0
  local -a pkgs=()
  for spec in "$@"; do
    cmd="${spec%%=*}"
    pkg="${spec#*=}"
    have "$cmd" && continue
    dup=0
    for p in "${pkgs[@]}"; do [ "$p" = "$pkg" ] && dup=1; done
    [ "$dup" = 1 ] || pkgs+=("$pkg")
  done
  [ "${#pkgs[@]}" = 0 ] && return 0

  need_root "${pkgs[@]}"
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found; please install: ${pkgs[*]}"
  t0=$SECONDS
  if [ "$APT_UPDATED" = 0 ]; then
    log "apt-get update"
    run_apt update -qq || die "apt-get update failed"
    APT_UPDATED=1
  fi
  log "apt-get install ${pkgs[*]}"
  run_apt install -y --no-install-recommends "${pkgs[@]}" || die "apt-get install failed"
  log "installed in $((SECONDS - t0)) s"
}

# ---------------------------------------------------------------------------
# C/C++ toolchains used by the compiler tests: gcc/g++, clang 14 (Debian
# bookworm's), clang-cl (clang-tools-14), make, ninja, cmake, setpriv, binutils.
install_c_toolchains() {
  apt_ensure \
    'gcc=gcc' \
    'g++=g++' \
    'clang=clang' \
    'clang++=clang' \
    'clang-cl|clang-cl-14=clang-tools-14' \
    'make=make' \
    'ninja=ninja-build' \
    'cmake=cmake' \
    'setpriv=util-linux' \
    'ld=binutils' \
    'ar=binutils' \
    'objdump=binutils'
}

# ---------------------------------------------------------------------------
# Remote-storage servers for tests/remote.rs, which starts and stops them itself
# on 127.0.0.1 (see shared/services.md): Redis (server + redis-cli), Memcached,
# and nginx, whose http_dav_module is built into Debian's `nginx` package.
# They live in /usr/sbin on Debian, which is not on every user's PATH, so the
# check looks there too: a second run must not reinstall them.
install_remote_servers() {
  local saved_path=$PATH
  PATH="$PATH:/usr/sbin:/usr/local/sbin"
  apt_ensure \
    'redis-server=redis-server' \
    'redis-cli=redis-tools' \
    'memcached=memcached' \
    'nginx=nginx'
  PATH=$saved_path
}

# ---------------------------------------------------------------------------
# MORE SERVICE GROUPS (to be added by later issues), one function each, e.g.:
#   install_distcc     distcc                           (apt)
#   install_py_tools   Python venv with moto[server], gcp-storage-emulator (pip)
#   install_azurite    azurite (npm)
# apt-based groups should use apt_ensure; then call the new function from main.
# ---------------------------------------------------------------------------

main() {
  local t0=$SECONDS
  install_c_toolchains
  install_remote_servers
  # (more service groups go here)
  log "all test dependencies present ($((SECONDS - t0)) s)"
}

main "$@"
