#!/usr/bin/env bash
# Build the cachepot binary to install: statically linked on Linux, with musl where its
# Rust target and C compiler are installed, else with glibc; elsewhere a plain `cargo
# build --release`. Prints the binary's absolute path on its last line.
#
# Why static: every cached compile is a new cachepot process, so its start-up is part
# of every hit. Without the dynamic loader (no shared libraries to map, no relocations
# to apply) a hit took about 0.7 ms less here (2.3-2.4 ms -> 1.6-1.8 ms for a repeated
# lua hit; bench/RESULTS.md). The flags must not reach proc-macros and build scripts
# (they cannot be static), so the build names its target triple explicitly: cargo then
# applies RUSTFLAGS to the target's artifacts only.
#
# Why musl first: glibc's static start-up sizes the CPU caches with 43 CPUID
# instructions, and on a virtual machine each one traps to the hypervisor (about 4 us
# here): 175 us of every hit before any code of ours runs. musl's start-up asks nothing
# of the CPU. A repeated lua hit took 0.65 ms of CPU with musl against 0.79 ms with glibc
# (docs/direct-mode.md). What musl needs: `rustup target add x86_64-unknown-linux-musl`
# (or the aarch64 one) and Debian's musl-tools (musl-gcc, for the C code of zstd and
# BLAKE3). CACHEPOT_LIBC=glibc builds with glibc even so.
#
# Caveat of static glibc: host names are resolved with the built-in `files` and `dns`
# sources only; NSS modules such as mdns or systemd-resolved's are not loaded. Use the
# plain build (`cargo build --release`) where remote caches need them.
set -euo pipefail
cd "$(dirname "$0")/.."

host=$(rustc -vV | sed -n 's/^host: //p')
target="$host"
libc=glibc
musl="${host%%-*}-unknown-linux-musl"
case "${CACHEPOT_LIBC:-auto}" in
auto | musl | glibc) ;;
*)
    echo "build-release.sh: CACHEPOT_LIBC=$CACHEPOT_LIBC: use auto, musl or glibc" >&2
    exit 2
    ;;
esac
# The C compiler cc-rs uses for the musl target: musl-gcc unless one is configured.
musl_cc_var="CC_${musl//-/_}"
musl_cc="${!musl_cc_var:-musl-gcc}"
case "$host:${CACHEPOT_LIBC:-auto}" in
x86_64-*-linux-gnu:auto | aarch64-*-linux-gnu:auto | *-linux-gnu:musl)
    if [ -d "$(rustc --print sysroot)/lib/rustlib/$musl/lib" ] && command -v "$musl_cc" >/dev/null; then
        target="$musl"
        libc=musl
        export "$musl_cc_var=$musl_cc"
    elif [ "${CACHEPOT_LIBC:-auto}" = musl ]; then
        echo "build-release.sh: CACHEPOT_LIBC=musl needs \`rustup target add $musl\`" \
            "and $musl_cc (musl-gcc: apt-get install musl-tools)" >&2
        exit 2
    else
        echo "build-release.sh: building with glibc; with musl a hit is faster:" \
            "rustup target add $musl; apt-get install musl-tools" >&2
    fi
    ;;
esac

# Code layout: lld places the functions that hits run (scripts/symbol-order.txt, or
# symbol-order-musl.txt for musl builds, made by scripts/symbol-order.py) together at
# the start of .text, so a hit faults in fewer code pages: a lua hit 87 -> 71 page
# faults, 20 x 100 paired hits A/B wall 0.965.
# Only with the toolchain's own lld, and a C compiler that can drive it (the default
# linker since Rust 1.90; GNU ld has no such option). CACHEPOT_NO_SYMBOL_ORDER=1 builds
# without the list.
order_flags=""
order_file=scripts/symbol-order.txt
case "$target" in *-musl) order_file=scripts/symbol-order-musl.txt ;; esac
gcc_ld="$(rustc --print sysroot)/lib/rustlib/$host/bin/gcc-ld"
case "$PWD$gcc_ld" in *[[:space:]]*) CACHEPOT_NO_SYMBOL_ORDER=1 ;; esac # RUSTFLAGS splits
if [ "${CACHEPOT_NO_SYMBOL_ORDER:-0}" = 0 ] && [ -x "$gcc_ld/ld.lld" ] &&
    [ -f "$order_file" ] &&
    echo 'int main(void) { return 0; }' |
    ${CC:-cc} -x c - -o /dev/null -fuse-ld=lld "-B$gcc_ld" >/dev/null 2>&1; then
    order_flags="-C link-arg=-fuse-ld=lld -C link-arg=-B$gcc_ld"
    order_flags="$order_flags -C link-arg=-Wl,--symbol-ordering-file=$PWD/$order_file"
    order_flags="$order_flags -C link-arg=-Wl,--no-warn-symbol-ordering"
fi
# Where cargo puts the binary, as an absolute path (the caller may be anywhere).
out="${CARGO_TARGET_DIR:-target}"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac

case "$target" in
*-linux-gnu | *-linux-musl)
    bin="$out/$target/release/cachepot"
    # cargo does not know the list is an input: relink when it changed since the last
    # build (the stamp holds its digest).
    stamp="$out/$target/release/.symbol-order.sha256"
    want=""
    if [ -n "$order_flags" ]; then
        want=$(sha256sum "$order_file" | cut -d' ' -f1)
    fi
    if [ -e "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        cargo clean --release --target "$target" -p cachepot >&2
    fi
    RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static -C relocation-model=static $order_flags" \
        cargo build --release --locked --target "$target" "$@" >&2
    printf '%s\n' "$want" >"$stamp"
    # Symbol names carry hashes that code and toolchain changes move: say when the list
    # has gone stale (a stale list costs speed only).
    if [ -n "$order_flags" ] && command -v nm >/dev/null; then
        listed=$(grep -v '^#' "$order_file" | sort -u)
        found=$({ nm --defined-only "$bin" 2>/dev/null || true; } | awk '{print $NF}' |
            sort -u | comm -12 - <(printf '%s\n' "$listed") | wc -l)
        total=$(printf '%s\n' "$listed" | wc -l)
        if [ $((found * 10)) -lt $((total * 9)) ]; then
            echo "build-release.sh: only $found of the $total functions in" \
                "$order_file exist in this build; regenerate it with" \
                "python3 scripts/symbol-order.py (CACHEPOT_LIBC=$libc)" >&2
        fi
    fi
    echo "$bin"
    ;;
*)
    cargo build --release --locked "$@" >&2
    echo "$out/release/cachepot"
    ;;
esac
