#!/usr/bin/env bash
# Run every test: installs what the test suite needs (scripts/setup.sh), then
# `cargo test --all-targets`. Extra arguments go to cargo test, e.g.
#   scripts/test.sh -- --nocapture
# Exit status is cargo's.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh

# rustup puts cargo in ~/.cargo/bin, which a non-login shell may not have on PATH.
if ! command -v cargo >/dev/null 2>&1 && [ -f "${CARGO_HOME:-$HOME/.cargo}/env" ]; then
  # shellcheck disable=SC1091
  . "${CARGO_HOME:-$HOME/.cargo}/env"
fi

# Debian ships clang-cl only as clang-cl-14 and /usr/lib/llvm-14/bin/clang-cl;
# append (not prepend) that dir so plain `clang-cl` is found without shadowing anything.
if ! command -v clang-cl >/dev/null 2>&1 && [ -x /usr/lib/llvm-14/bin/clang-cl ]; then
  export PATH="$PATH:/usr/lib/llvm-14/bin"
fi

# `scripts/test.sh --target x86_64-unknown-linux-musl` tests the musl build that
# build-release.sh prefers: the C code of zstd and BLAKE3 then needs musl-gcc.
# Debian's musl-gcc targets the host's own architecture only.
if command -v musl-gcc >/dev/null 2>&1; then
  case "$(uname -m)" in
  x86_64) export CC_x86_64_unknown_linux_musl="${CC_x86_64_unknown_linux_musl:-musl-gcc}" ;;
  aarch64) export CC_aarch64_unknown_linux_musl="${CC_aarch64_unknown_linux_musl:-musl-gcc}" ;;
  esac
fi

export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"
# Incremental artifacts only cost time and disk on a fresh CI machine.
if [ "${CI:-}" = true ]; then
  export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
fi

echo "test: cargo test --all-targets $*" >&2
exec cargo test --all-targets "$@"
