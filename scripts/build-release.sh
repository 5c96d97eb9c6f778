#!/usr/bin/env bash
# Build the cachepot binary to install: statically linked on Linux with glibc, else a
# plain `cargo build --release`. Prints the binary's path on its last line.
#
# Why static: every cached compile is a new cachepot process, so its start-up is part
# of every hit. Without the dynamic loader (no shared libraries to map, no relocations
# to apply) a hit took about 0.7 ms less here (2.3-2.4 ms -> 1.6-1.8 ms for a repeated
# lua hit; bench/RESULTS.md). The flags must not reach proc-macros and build scripts
# (they cannot be static), so the build names its target triple explicitly: cargo then
# applies RUSTFLAGS to the target's artifacts only.
#
# Caveat of static glibc: host names are resolved with the built-in `files` and `dns`
# sources only; NSS modules such as mdns or systemd-resolved's are not loaded. Use the
# plain build (`cargo build --release`) where remote caches need them.
set -euo pipefail
cd "$(dirname "$0")/.."

host=$(rustc -vV | sed -n 's/^host: //p')
case "$host" in
*-linux-gnu)
    RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static -C relocation-model=static" \
        cargo build --release --locked --target "$host" "$@" >&2
    echo "target/$host/release/cachepot"
    ;;
*)
    cargo build --release --locked "$@" >&2
    echo "target/release/cachepot"
    ;;
esac
