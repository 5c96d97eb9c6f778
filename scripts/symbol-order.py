#!/usr/bin/env python3
"""Regenerate scripts/symbol-order.txt: the functions a cached compile's hit runs, which
scripts/build-release.sh asks the linker (lld) to place first and together in .text.

Why: every cached compile is a new cachepot process, and its code pages come in by page
faults, each mapping the 16 pages around the faulting address. With the hit's code
scattered over 4 MB of .text a lua hit took 87 page faults, packed together 71
(docs/direct-mode.md, "Process start-up").

How: builds the release binary (the same flags as the installed one, without the order
file), runs a few hits, pass-throughs and probes in a scratch directory with that binary,
each traced one instruction at a time (scripts/symbol-order/step.c, built here with gcc),
and maps the addresses to the binary's symbols. Variants of a function that another CPU
would pick (glibc's memcpy for AVX2 rather than AVX-512, BLAKE3's SSE4.1 code) are added
beside the one this machine ran. Takes a few minutes (a minute per traced run); run it
after changing the hit path or the Rust toolchain (symbol names carry hashes that a new
rustc changes).

    python3 scripts/symbol-order.py [--jobs 2]

It orders the binary build-release.sh builds (musl where it can, see there) and writes
that build's list: scripts/symbol-order.txt for glibc, symbol-order-musl.txt for musl;
CACHEPOT_LIBC=glibc makes the glibc one when musl is installed.

Linux x86_64 only. Python 3.11 standard library.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from bisect import bisect_right
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def out_file(binary: Path) -> Path:
    """The list build-release.sh reads for this binary: musl builds have their own (the
    C library's functions and Rust's symbol hashes differ)."""
    # Read off the binary, not its path: static glibc carries its name, musl does not.
    libc = "" if b"GNU C Library" in binary.read_bytes() else "-musl"
    return ROOT / "scripts" / f"symbol-order{libc}.txt"

C_SRC = '#include <stdio.h>\n#include <string.h>\n#include "a.h"\n' \
        'int main(void) { char b[16]; strcpy(b, GREETING); puts(b); return 0; }\n'
C_HDR = '#define GREETING "hello"\n'
CXX_SRC = '#include <string>\n#include <vector>\n' \
          'std::vector<std::string> v() { return {"a", "b"}; }\n'
RS_LIB = 'pub fn answer() -> u32 { 42 }\n'

# A symbol's name up to its first instruction-set token: glibc's `__memmove_avx512_...`,
# `__memmove_sse2_unaligned_erms` and `__memcpy_sse2_unaligned` are all `__memmove` or
# `__memcpy`; BLAKE3's `blake3_hash_many_sse41`, zstd's `..._bmi2` likewise.
ISA = re.compile(r"_(?:sse2|sse3|ssse3|sse4_1|sse4_2|sse41|avx512[a-z0-9]*|avx2|avx|"
                 r"evex[0-9]*|bmi2|erms)(?=[_.]|$)")


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kw)


def build_binary() -> Path:
    env = {**os.environ, "CACHEPOT_NO_SYMBOL_ORDER": "1",
           "CARGO_TARGET_DIR": str(ROOT / "target" / "symbol-order")}
    out = run(["bash", str(ROOT / "scripts" / "build-release.sh")], env=env,
              stdout=subprocess.PIPE, text=True).stdout.strip().splitlines()[-1]
    path = Path(out)
    return path if path.is_absolute() else ROOT / path


def scenarios() -> list[tuple[str, list[str], list[str]]]:
    """(name, command after the binary, outputs to remove before the traced run); a name
    ending in "hit" must be one."""
    rustc_lib = ["rustc", "--crate-name", "demo", "--edition=2021", "src/lib.rs",
                 "--error-format=json", "--json=diagnostic-rendered-ansi,artifacts",
                 "--crate-type", "lib", "--emit=dep-info,metadata,link",
                 "-C", "embed-bitcode=no", "-C", "debuginfo=2", "-C", "metadata=5eed",
                 "-C", "extra-filename=-5eed", "--out-dir", "deps",
                 "-L", "dependency=deps"]
    return [
        ("gcc hit, outputs removed",
         ["gcc", "-O2", "-MD", "-c", "src/a.c", "-o", "obj/a.o"], ["obj/a.o", "obj/a.d"]),
        ("gcc hit, outputs present",
         ["gcc", "-O2", "-MD", "-c", "src/a.c", "-o", "obj/a.o"], []),
        ("g++ hit", ["g++", "-O2", "-c", "src/b.cpp", "-o", "obj/b.o"], ["obj/b.o"]),
        ("clang hit", ["clang", "-O2", "-c", "src/a.c", "-o", "obj/c.o"], ["obj/c.o"]),
        ("rustc hit", rustc_lib,
         ["deps/libdemo-5eed.rlib", "deps/libdemo-5eed.rmeta", "deps/demo-5eed.d"]),
        ("rustc probe (pass-through)", ["rustc", "-vV"], []),
        ("gcc compile and link (pass-through)", ["gcc", "src/a.c", "-o", "prog"], []),
    ]


def prepare(work: Path) -> None:
    for rel, text in {"src/a.c": C_SRC, "src/a.h": C_HDR, "src/b.cpp": CXX_SRC,
                      "src/lib.rs": RS_LIB}.items():
        p = work / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    (work / "obj").mkdir(exist_ok=True)
    (work / "deps").mkdir(exist_ok=True)


def text_symbols(binary: Path) -> tuple[list[int], list[tuple[int, int, str]]]:
    # Addresses as traced only match the file's own for a non-PIE executable.
    header = run(["readelf", "-h", str(binary)], stdout=subprocess.PIPE, text=True).stdout
    if not re.search(r"Type:\s+EXEC", header):
        raise SystemExit(f"symbol-order: {binary} is not a non-PIE executable "
                         "(build it with scripts/build-release.sh)")
    lines = run(["nm", "-n", "-S", "--defined-only", str(binary)],
                stdout=subprocess.PIPE, text=True).stdout.splitlines()
    syms = []
    for line in lines:
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tTwWi":
            syms.append((int(parts[0], 16), int(parts[1], 16), parts[3]))
        elif len(parts) == 3 and parts[1] in "tTwWi":
            syms.append((int(parts[0], 16), 0, parts[2]))
    syms.sort()
    if len(syms) < 1000:
        raise SystemExit(f"symbol-order: {binary} has {len(syms)} function symbols "
                         "(stripped?)")
    return [s[0] for s in syms], syms


def names_for(rips: list[int], starts: list[int], syms: list[tuple[int, int, str]]) -> list[str]:
    """The symbols containing these addresses, first-executed first, aliases included."""
    out: list[str] = []
    seen_start: set[int] = set()
    for rip in rips:
        i = bisect_right(starts, rip) - 1
        if i < 0:
            continue
        start = starts[i]
        if start in seen_start:
            continue
        # the last symbol at or below rip; every alias at that address
        j = i
        while j >= 0 and starts[j] == start:
            j -= 1
        group = syms[j + 1:i + 1]
        size = max(s[1] for s in group)
        end = start + size if size else (starts[i + 1] if i + 1 < len(starts) else start)
        if rip >= end:
            continue
        seen_start.add(start)
        out.extend(s[2] for s in group)
    return out


def with_variants(names: list[str], syms: list[tuple[int, int, str]]) -> list[str]:
    by_stem: dict[str, list[str]] = {}
    for _, _, name in syms:
        m = ISA.search(name)
        if m:
            by_stem.setdefault(name[:m.start()], []).append(name)
    out: list[str] = []
    have: set[str] = set()
    for name in names:
        m = ISA.search(name)
        group = by_stem.get(name[:m.start()], [name]) if m else [name]
        for n in [name] + group:
            if n not in have:
                have.add(n)
                out.append(n)
    return out


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    p.add_argument("--binary", help="an already built release binary (unordered)")
    args = p.parse_args(argv)
    binary = Path(args.binary).resolve() if args.binary else build_binary()
    with tempfile.TemporaryDirectory(prefix="cachepot-order-") as tmp:
        tmp_path = Path(tmp)
        step = tmp_path / "step"
        # named cachepot: under any other name it would take itself for a compiler's link
        (tmp_path / "bin").mkdir()
        traced = Path(shutil.copy2(binary, tmp_path / "bin" / "cachepot"))
        run(["gcc", "-O2", "-o", str(step), str(ROOT / "scripts" / "symbol-order" / "step.c")])
        env = {k: v for k, v in os.environ.items() if not k.startswith("CACHEPOT_")}
        plan = scenarios()

        def trace(index: int) -> list[int]:
            name, cmd, remove = plan[index]
            work = tmp_path / f"s{index}"
            prepare(work)
            e = {**env, "CACHEPOT_DIR": str(work / "cache")}
            for _ in range(2):  # a miss, then a hit that settles anything written lazily
                run([str(traced)] + cmd, cwd=work, env=e, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)
            for rel in remove:
                (work / rel).unlink()
            rips_file = work / "rips.txt"
            done = subprocess.run([str(step), str(rips_file), str(traced)] + cmd, cwd=work,
                                  env=e, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  text=True)
            if done.returncode:
                raise SystemExit(f"symbol-order: {name} failed:\n{done.stderr}")
            print(f"{name}: {done.stderr.strip().splitlines()[-1]}", file=sys.stderr)
            if name.endswith("hit"):
                stats = json.loads(run([str(traced), "--show-stats", "--stats-format", "json"],
                                       env=e, stdout=subprocess.PIPE, text=True).stdout)
                if stats["stats"]["cache_hits"] < 2:  # the untraced second run, and this
                    raise SystemExit(f"symbol-order: {name} was not a hit: {stats['stats']}")
            return [int(x, 16) for x in rips_file.read_text().split()]

        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            traces = list(pool.map(trace, range(len(plan))))
    starts, syms = text_symbols(binary)
    names: list[str] = []
    have: set[str] = set()
    for rips in traces:
        for n in names_for(rips, starts, syms):
            if n not in have:
                have.add(n)
                names.append(n)
    ordered = with_variants(names, syms)
    rustc = run(["rustc", "-V"], stdout=subprocess.PIPE, text=True).stdout.strip()
    header = [
        "# Functions that cachepot's hits, probes and pass-throughs run, in the order",
        "# first run; scripts/build-release.sh hands this file to lld",
        "# (--symbol-ordering-file) so that they sit together at the start of .text.",
        "# Generated by scripts/symbol-order.py; regenerate after changing the hit path",
        f"# or the toolchain. Built with: {rustc}. Names that no longer exist are ignored.",
    ]
    out = out_file(binary)
    out.write_text("\n".join(header + ordered) + "\n")
    print(f"{out.relative_to(ROOT)}: {len(ordered)} symbols "
          f"({len(names)} run, {len(ordered) - len(names)} variants for other CPUs)",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (subprocess.CalledProcessError, OSError) as e:
        print(f"symbol-order: {e}", file=sys.stderr)
        sys.exit(1)
