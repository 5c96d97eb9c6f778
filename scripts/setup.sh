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
# and nginx, whose http_dav_module is built into Debian's `nginx` package; the
# openssl command makes and checks the RSA key of the GCS service-account test.
# They live in /usr/sbin on Debian, which is not on every user's PATH, so the
# check looks there too: a second run must not reinstall them.
install_remote_servers() {
  local saved_path=$PATH
  PATH="$PATH:/usr/sbin:/usr/local/sbin"
  apt_ensure \
    'redis-server=redis-server' \
    'redis-cli=redis-tools' \
    'memcached=memcached' \
    'nginx=nginx' \
    'openssl=openssl'
  PATH=$saved_path
}

# ---------------------------------------------------------------------------
# File-system tools for the disk tests: mkfs.xfs makes the loop-mounted XFS
# with reflinks of the CACHEPOT_FILE_CLONE test, filefrag shows shared extents.
install_fs_tools() {
  local saved_path=$PATH
  PATH="$PATH:/usr/sbin:/sbin"
  apt_ensure \
    'mkfs.xfs=xfsprogs' \
    'filefrag=e2fsprogs' \
    'losetup=mount'
  PATH=$saved_path
}

# ---------------------------------------------------------------------------
# Servers that come from PyPI and npm (shared/services.md sections 3-5): moto's
# S3 server and gcp-storage-emulator in one Python venv, Azurite in an npm
# prefix, both under $CACHEPOT_TEST_TOOLS (default ~/.cache/cachepot-test-tools),
# where tests/common looks for them. Versions are pinned; an existing install of
# the right version is kept.
TOOLS_DIR="${CACHEPOT_TEST_TOOLS:-${HOME:-/tmp}/.cache/cachepot-test-tools}"
MOTO_VERSION=5.2.5
GCS_EMULATOR_VERSION=2026.7.19
AZURITE_VERSION=3.35.0
NVCC_VERSION=13.5.37

install_py_servers() {
  local venv="$TOOLS_DIR/venv" t0=$SECONDS
  if [ -x "$venv/bin/moto_server" ] && [ -x "$venv/bin/gcp-storage-emulator" ] &&
    "$venv/bin/python" - "$MOTO_VERSION" "$GCS_EMULATOR_VERSION" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(0 if (version("moto"), version("gcp-storage-emulator")) == tuple(sys.argv[1:]) else 1)
PY
  then
    return 0
  fi
  command -v python3 >/dev/null 2>&1 || apt_ensure 'python3=python3'
  # Debian splits venv's ensurepip into python3-venv; the command name below is one
  # that never exists, so that apt_ensure installs the package.
  python3 -c 'import venv, ensurepip' 2>/dev/null || apt_ensure 'no-such-command-ensurepip=python3-venv'
  log "pip install moto[server]==$MOTO_VERSION gcp-storage-emulator==$GCS_EMULATOR_VERSION into $venv"
  mkdir -p "$TOOLS_DIR"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check \
    "moto[server]==$MOTO_VERSION" "gcp-storage-emulator==$GCS_EMULATOR_VERSION" ||
    die "pip install of the S3 and GCS test servers failed"
  log "installed in $((SECONDS - t0)) s"
}

# nvcc for tests/nvcc.rs (shared/services.md section 8): the CUDA 13 wheel carries
# the nvcc driver (the CUDA 12 ones do not), installed into the same venv. nvcc
# must stay where pip puts it: it finds its toolkit relative to its own path.
install_nvcc() {
  local venv="$TOOLS_DIR/venv" t0=$SECONDS
  local nvcc="$venv/lib/python3.11/site-packages/nvidia/cu13/bin/nvcc"
  if [ -x "$nvcc" ] &&
    "$venv/bin/python" - "$NVCC_VERSION" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(0 if version("nvidia-cuda-nvcc") == sys.argv[1] else 1)
PY
  then
    return 0
  fi
  [ -x "$venv/bin/pip" ] || die "no venv at $venv (install_py_servers makes it)"
  log "pip install nvidia-cuda-nvcc==$NVCC_VERSION into $venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "nvidia-cuda-nvcc==$NVCC_VERSION" ||
    die "pip install of nvcc failed"
  [ -x "$nvcc" ] || die "nvcc is not at $nvcc after the install (tests/nvcc.rs looks there)"
  log "installed in $((SECONDS - t0)) s"
}

install_azurite() {
  local prefix="$TOOLS_DIR/npm" t0=$SECONDS
  if [ -x "$prefix/node_modules/.bin/azurite-blob" ] &&
    grep -q "\"version\": \"$AZURITE_VERSION\"" "$prefix/node_modules/azurite/package.json" 2>/dev/null; then
    return 0
  fi
  apt_ensure 'node=nodejs' 'npm=npm'
  log "npm install azurite@$AZURITE_VERSION into $prefix"
  mkdir -p "$prefix"
  npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error \
    "azurite@$AZURITE_VERSION" >&2 || die "npm install of azurite failed"
  log "installed in $((SECONDS - t0)) s"
}

# ---------------------------------------------------------------------------
# distcc for tests/distributed.rs (CACHEPOT_PREFIX_COMMAND=distcc against a
# distccd the test starts on 127.0.0.1).
install_distcc() {
  apt_ensure 'distcc=distcc' 'distccd=distcc'
}

main() {
  local t0=$SECONDS
  install_c_toolchains
  install_remote_servers
  install_fs_tools
  install_distcc
  install_py_servers
  install_nvcc
  install_azurite
  # (more service groups go here)
  log "all test dependencies present ($((SECONDS - t0)) s)"
}

main "$@"
