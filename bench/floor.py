#!/usr/bin/env python3
"""The floor under a warm build: how fast could any cache that runs one process per
compile rebuild a whole C or C++ project after `make clean`?

`copycc` (bench/copycc.c, built here as a static binary) stands in for a perfect cache:
it hashes nothing, looks nothing up and counts nothing; it only copies the object and dep
file a bare build made before (copy_file_range, then a rename). A warm build with it costs
what make, the process start-ups, the copies and `ar` cost by themselves. So floor/sccache
is the best warm-build ratio against sccache that a per-process cache can reach on this
machine, and (cachepot - floor) is what cachepot's own work adds to the build.

Only warm builds, interleaved (floor, ccache, sccache, cachepot, the order rotated each
repetition), each after `make clean` and sync(2), with every cache filled by one untimed
cold build first. Reuses bench.py's workloads, tools and measuring helpers; run bench.py
once first (it installs sccache and vendors the sources), then:

    python3 bench/floor.py [--reps 15] [--workloads zstd,lua,leveldb] [--cachepot PATH]

Prints a table of medians and ratios; writes bench/.work/floor.json. Python 3.11
standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as B  # noqa: E402


class Floor(B.Tool):
    """copycc as the compiler prefix, copying from a bare build's outputs."""

    name = "floor"

    def install(self, args: argparse.Namespace) -> None:
        out = B.WORK / "bin" / "copycc"
        out.parent.mkdir(parents=True, exist_ok=True)
        # Linked as cachepot's release binary is: with musl where build-release.sh
        # can use it (glibc's start-up alone costs about 0.18 ms per process here).
        self.cc = "musl-gcc" if shutil.which("musl-gcc") else "gcc"
        B.run([self.cc, "-O2", "-static", "-o", str(out), str(B.BENCH / "copycc.c")])
        self.wrapper = str(out)
        self.source: Path | None = None

    def version(self) -> str:
        return f"bench/copycc.c, {self.cc} -O2 -static"

    def env(self) -> dict[str, str]:
        return {"COPYCC_FROM": str(self.source)}

    def clear(self) -> None:
        pass


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=15)
    p.add_argument("--workloads", default="zstd,lua,leveldb")
    p.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 2)
    p.add_argument("--cachepot", help="this cachepot binary instead of building one")
    p.add_argument("--sccache-version", default=B.SCCACHE_VERSION)
    args = p.parse_args(argv)
    names = ["floor", "ccache", "sccache", "cachepot"]
    tools = {"floor": Floor(), "ccache": B.Ccache(), "sccache": B.Sccache(),
             "cachepot": B.Cachepot()}
    for t in tools.values():
        t.install(args)
    results: dict = {"reps": args.reps, "jobs": args.jobs,
                     "load_average_before": os.getloadavg(),
                     "versions": {n: t.version() for n, t in tools.items()},
                     "workloads": {}}
    try:
        for wname in args.workloads.split(","):
            wl = B.WORKLOADS[wname]()
            if not isinstance(wl, B.CWorkload):
                raise B.BenchError(f"{wname}: floor.py measures C and C++ workloads only")
            wl.prepare(args.jobs)
            results["workloads"][wname] = measure(wl, tools, names, args.reps)
    finally:
        for t in tools.values():
            t.stop()
    results["load_average_after"] = os.getloadavg()
    out = B.WORK / "floor.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(render(results, names))
    print(f"\nRaw samples: {out}")
    return 0


def measure(wl: B.CWorkload, tools: dict, names: list[str], reps: int) -> dict:
    # The bare build whose outputs copycc hands out, and the digest every tool must match.
    bare = B.Bare()
    argv, extra, cwd = wl.build_argv(bare)
    wl.clean()
    B.timed(argv, cwd, {**B.base_env(), **extra})
    want = B.digest(wl.outputs(), wl.root)
    source = B.WORK / "floor" / wl.name
    B.rmtree(source)
    source.mkdir(parents=True)
    shutil.copytree(wl.root / "obj", source / "obj")
    tools["floor"].source = source

    # Fill every cache (untimed). sccache's server stays up from here to the last warm
    # build, as in bench.py, where its warm build follows its cold one on one server.
    for n in names:
        t = tools[n]
        t.clear()
        t.start()
        wl.clean()
        B.timed(*env_argv(wl, t))

    samples: dict[str, list[float]] = {n: [] for n in names}
    for rep in range(reps):
        k = rep % len(names)
        for n in names[k:] + names[:k]:
            wl.clean()
            B.settle()
            samples[n].append(B.timed(*env_argv(wl, tools[n])))
            got = B.digest(wl.outputs(), wl.root)
            if got != want:
                raise B.BenchError(f"{wl.name}: {n}'s warm build made other outputs")
        B.say(f"{wl.name}: repetition {rep + 1}/{reps} done")
    for t in tools.values():
        t.stop()
    return {"sources": len(wl.sources()), "samples": samples}


def env_argv(wl: B.CWorkload, t: B.Tool) -> tuple[list[str], Path, dict[str, str]]:
    argv, extra, cwd = wl.build_argv(t)
    return argv, cwd, {**B.base_env(), **t.env(), **extra}


def render(results: dict, names: list[str]) -> str:
    jobs = results["jobs"]
    lines = [f"Warm builds after `make clean`, -j{jobs}, median of {results['reps']} "
             "interleaved repetitions", "",
             "| workload | " + " | ".join(f"{n} (ms)" for n in names)
             + " | floor/sccache | cachepot/sccache | floor/ccache | cachepot/ccache"
             " | cachepot above floor, per compile (ms) |",
             "|---|" + "---:|" * (len(names) + 5)]
    for wname, r in results["workloads"].items():
        med = {n: statistics.median(r["samples"][n]) for n in names}
        per = (med["cachepot"] - med["floor"]) * jobs / r["sources"]
        lines.append(
            f"| {wname} ({r['sources']} files) | "
            + " | ".join(f"{1000 * med[n]:.1f}" for n in names)
            + f" | {med['floor'] / med['sccache']:.2f} | {med['cachepot'] / med['sccache']:.2f}"
            f" | {med['floor'] / med['ccache']:.2f} | {med['cachepot'] / med['ccache']:.2f}"
            f" | {1000 * per:.2f} |")
    lines.append("")
    lines.append("Versions: " + "; ".join(f"{n}: {v}" for n, v in results["versions"].items()))
    lines.append("Load average before: %.1f, %.1f, %.1f; after: %.1f, %.1f, %.1f"
                 % (*results["load_average_before"], *results["load_average_after"]))
    return "\n".join(lines)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except B.BenchError as e:
        print(f"floor: {e}", file=sys.stderr)
        sys.exit(2)
