#!/usr/bin/env python3
"""cachepot's benchmark: the bare compiler, ccache, sccache and cachepot on real code.

Owns, in this order: installing the tools it compares (before any timing), preparing the
workloads (real third-party sources that crates ship, brought in with `cargo vendor`, and a
generated Makefile), measuring interleaved in one run (cold build with an empty cache, warm
build with a full cache after `make clean`, the latency of one repeated hit of a typical
translation unit; C and C++ only), and reporting (a table of medians and ratios on stdout, every raw sample
in JSON). See bench/README.md for what each figure means.

Deliberately not here: judging pass/fail (targets are printed, the exit status only says
whether the benchmark itself ran), profiling (use perf on the command the JSON records),
and any network use once timing starts (installs and `cargo vendor` come first).

Adding a workload: subclass `Workload` (prepare, clean, build_argv, hit_argv, outputs) and
register it in WORKLOADS. A C or C++ workload is a `CWorkload` with a crate, a source
directory, the compiler and flags (`Zstd`, `Lua`, `LevelDB`); the Rust workload (`Crates`)
uses `Tool.wrapper` as RUSTC_WRAPPER instead of a CC prefix, lists only the tools that wrap
rustc in `tools`, and has issue 4's targets instead of issue 3's.

Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORK = BENCH / ".work"
CARGO_ROOT = WORK / "cargo-root"
VENDOR = WORK / "vendor"
CACHES = WORK / "caches"

# sccache is pinned so that runs months apart compare against the same thing; 0.19.0 is the
# release caching-spec.md's measurements refer to. Change it here (or --sccache-version) and
# the recorded version in the JSON says which one a run used.
SCCACHE_VERSION = "0.19.0"
# A port of our own, so a developer's sccache server on the default 4226 is never touched.
SCCACHE_PORT = "42261"
# The server shuts itself down after this many idle seconds if the benchmark dies without
# stopping it; every figure is taken within a few seconds of the server's last request.
SCCACHE_IDLE_TIMEOUT = "600"

TOOL_NAMES = ("bare", "ccache", "sccache", "cachepot")
# Environment that would change how a tool behaves, removed from every measured command so
# a developer's own settings never leak into the figures.
SCRUB_PREFIXES = ("CCACHE_", "SCCACHE_", "CACHEPOT_")
SCRUB_NAMES = ("RUSTC_WRAPPER", "CARGO_BUILD_RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER",
               "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER", "MAKEFLAGS", "MFLAGS", "MAKELEVEL",
               "GNUMAKEFLAGS", "CC", "CFLAGS", "CPPFLAGS", "CXX", "CXXFLAGS",
               "CARGO_INCREMENTAL", "CARGO_BUILD_INCREMENTAL", "RUSTFLAGS",
               "CARGO_ENCODED_RUSTFLAGS", "CARGO_BUILD_RUSTFLAGS", "CARGO_TARGET_DIR",
               "CARGO_BUILD_TARGET_DIR", "CARGO_BUILD_JOBS", "RUSTC", "CARGO_BUILD_RUSTC",
               "CARGO_PROFILE_DEV_INCREMENTAL", "CARGO_HOME")

# (figure, numerator, denominator, bound): the ratio numerator/denominator of the medians
# must be at most bound. Figure "cached" compares the hit counts of the warm build instead:
# the numerator must report at least as many hits as the denominator (bound unused).
TARGETS_C = [
    # From issue 3, for C and C++ alike.
    ("hit", "cachepot", "ccache", 0.8),
    ("hit", "cachepot", "sccache", 0.5),
    ("warm", "cachepot", "ccache", 0.9),
    ("warm", "cachepot", "sccache", 0.5),
    ("cold", "cachepot", "bare", 1.05),
]
TARGETS_RUST = [
    # From issue 4.
    ("warm", "cachepot", "sccache", 0.6),
    ("cold", "cachepot", "bare", 1.05),
    ("cached", "cachepot", "sccache", None),
]
RATIOS = [("cachepot", "ccache"), ("cachepot", "sccache"), ("cachepot", "bare"),
          ("ccache", "bare"), ("sccache", "bare")]
FIGURES = [("cold", "cold build", "s"), ("warm", "warm build", "s"), ("hit", "one hit", "ms")]


# ---------------------------------------------------------------- small helpers

def say(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


class BenchError(Exception):
    """A problem that stops the benchmark: printed once, on one line, exit status 2."""


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(SCRUB_PREFIXES) and k not in SCRUB_NAMES}
    return env


def run(argv: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None,
        check: bool = True, quiet: bool = True) -> subprocess.CompletedProcess:
    """Run a command outside the timings, capturing its output."""
    p = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                       capture_output=quiet, text=True)
    if check and p.returncode != 0:
        tail = ((p.stderr or "") + (p.stdout or "")).strip().splitlines()[-15:]
        raise BenchError(f"`{shlex.join(argv)}` exited {p.returncode}"
                         + ("\n  " + "\n  ".join(tail) if tail else ""))
    return p


def first_line(argv: list[str], env: dict[str, str] | None = None) -> str:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, env=env,
                           stdin=subprocess.DEVNULL)
    except OSError as e:
        return f"unavailable ({e})"
    out = (p.stdout or p.stderr).strip().splitlines()
    return out[0] if out else ""


def rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def nice_prefix(level: int) -> list[str]:
    return ["nice", "-n", str(level)] if shutil.which("nice") else []


def median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


# ---------------------------------------------------------------- tools

class Tool:
    """One way of running the compiler. `wrapper` is the argv prefix put before `gcc` (C)
    or the RUSTC_WRAPPER value (Rust); None for the bare compiler."""

    name = "?"

    def __init__(self) -> None:
        self.wrapper: str | None = None
        self.cache_dir = CACHES / self.name

    def install(self, args: argparse.Namespace) -> None:
        """Make the tool available; may use the network. Runs before any timing."""

    def version(self) -> str:
        return ""

    def env(self) -> dict[str, str]:
        return {}

    def clear(self) -> None:
        """Empty the cache (untimed)."""
        rmtree(self.cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)

    def start(self) -> None:
        """Called before the tool's turn in a repetition (untimed)."""

    def stop(self) -> None:
        """Called after the tool's turn in a repetition and on exit (untimed)."""

    def zero_stats(self) -> None:
        pass

    def stats(self) -> dict:
        """{'summary': {'hits', 'misses', 'other'}, 'raw': what the tool printed}."""
        return {"summary": {}, "raw": None}

    def _tool_env(self) -> dict[str, str]:
        e = base_env()
        e.update(self.env())
        return e


class Bare(Tool):
    name = "bare"

    def version(self) -> str:
        return first_line(["gcc", "--version"])

    def clear(self) -> None:
        pass


class Ccache(Tool):
    name = "ccache"

    def install(self, args: argparse.Namespace) -> None:
        path = shutil.which("ccache")
        if path is None:
            say("installing ccache (Debian package)")
            if run(["apt-get", "install", "-y", "ccache"], check=False).returncode != 0:
                run(["apt-get", "update"])
                run(["apt-get", "install", "-y", "ccache"])
            path = shutil.which("ccache")
        if path is None:
            raise BenchError("ccache is not on PATH after apt-get install ccache")
        self.wrapper = path

    def version(self) -> str:
        line = first_line([self.wrapper or "ccache", "--version"])
        deb = first_line(["dpkg-query", "-W", "-f", "${Version}", "ccache"])
        return f"{line} (Debian package {deb})" if deb and "no packages" not in deb else line

    def env(self) -> dict[str, str]:
        # Defaults otherwise (direct mode on, 5 GB bound), as a user gets them.
        return {"CCACHE_DIR": str(self.cache_dir)}

    def zero_stats(self) -> None:
        run([self.wrapper, "--zero-stats"], env=self._tool_env())

    def stats(self) -> dict:
        out = run([self.wrapper, "--print-stats"], env=self._tool_env()).stdout
        raw = {}
        for line in out.splitlines():
            k, _, v = line.partition("\t")
            if v.strip().isdigit() and int(v) != 0:
                raw[k] = int(v)
        hits = raw.get("direct_cache_hit", 0) + raw.get("preprocessed_cache_hit", 0)
        other = {k: v for k, v in raw.items()
                 if k in ("uncacheable", "compile_failed", "preprocessor_error",
                          "unsupported_source_language", "unsupported_compiler_option",
                          "could_not_use_modules", "autoconf_test", "called_for_link",
                          "called_for_preprocessing", "internal_error",
                          "multiple_source_files", "no_input_file", "output_to_stdout",
                          "bad_output_file", "error_hashing_extra_file")}
        return {"summary": {"hits": hits, "misses": raw.get("cache_miss", 0),
                            "direct_hits": raw.get("direct_cache_hit", 0),
                            "non_cacheable": sum(other.values()), "other": other},
                "raw": raw}


class Sccache(Tool):
    name = "sccache"

    def install(self, args: argparse.Namespace) -> None:
        binary = CARGO_ROOT / "bin" / "sccache"
        want = args.sccache_version
        if binary.exists() and want in first_line([str(binary), "--version"]):
            self.wrapper = str(binary)
            return
        say(f"building sccache {want} with cargo install (takes minutes on 2 cores)")
        run(nice_prefix(19) + ["cargo", "install", "sccache", "--version", want, "--locked",
                               "--no-default-features", "--root", str(CARGO_ROOT)],
            quiet=False)
        if not binary.exists():
            raise BenchError(f"cargo install sccache left no {binary}")
        self.wrapper = str(binary)

    def version(self) -> str:
        return first_line([self.wrapper, "--version"])

    def env(self) -> dict[str, str]:
        # Local disk cache only (no config file, no remote); its preprocessor cache mode
        # (sccache's direct mode) is on by default for the local disk cache.
        return {"SCCACHE_DIR": str(self.cache_dir),
                "SCCACHE_CACHE_SIZE": "10G",
                "SCCACHE_CONF": str(WORK / "sccache-no-config.toml"),
                "SCCACHE_SERVER_PORT": SCCACHE_PORT,
                "SCCACHE_IDLE_TIMEOUT": SCCACHE_IDLE_TIMEOUT}

    def clear(self) -> None:
        # The server keeps the disk cache's size in memory: stop it before emptying the
        # directory, and start it again afterwards (start() is called next).
        self.stop()
        super().clear()

    def start(self) -> None:
        run([self.wrapper, "--start-server"], env=self._tool_env())

    def stop(self) -> None:
        if self.wrapper:
            run([self.wrapper, "--stop-server"], env=self._tool_env(), check=False)

    def zero_stats(self) -> None:
        run([self.wrapper, "--zero-stats"], env=self._tool_env())

    def stats(self) -> dict:
        out = run([self.wrapper, "--show-stats", "--stats-format", "json"],
                  env=self._tool_env()).stdout
        try:
            raw = json.loads(out)
        except json.JSONDecodeError:
            return {"summary": {}, "raw": out}
        s = raw.get("stats", raw)

        def total(key: str) -> int:
            v = s.get(key, {})
            return sum(v.get("counts", {}).values()) if isinstance(v, dict) else int(v or 0)

        other = {k: v for k, v in s.get("not_cached", {}).items() if v}
        for k in ("requests_not_cacheable", "requests_unsupported_compiler",
                  "non_cacheable_compilations", "cache_errors", "compile_fails"):
            if total(k):
                other[k] = total(k)
        return {"summary": {"hits": total("cache_hits"), "misses": total("cache_misses"),
                            "non_cacheable": total("requests_not_cacheable"),
                            "preprocessor_cache_mode": raw.get("use_preprocessor_cache_mode"),
                            "other": other},
                "raw": raw}


def prepare_musl() -> None:
    """What build-release.sh needs to link with musl: the Rust target and musl-gcc. Best
    effort: without them it builds with glibc, and the version line says which."""
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "aarch64"):
        return
    target = f"{platform.machine()}-unknown-linux-musl"
    if shutil.which("rustup") and target not in run(
            ["rustup", "target", "list", "--installed"], check=False).stdout.split():
        say(f"adding the Rust target {target}")
        run(["rustup", "target", "add", target], check=False)
    if shutil.which("musl-gcc") is None:
        say("installing musl-tools (Debian package)")
        if run(["apt-get", "install", "-y", "musl-tools"], check=False).returncode != 0:
            run(["apt-get", "update"], check=False)
            run(["apt-get", "install", "-y", "musl-tools"], check=False)


class Cachepot(Tool):
    name = "cachepot"

    def install(self, args: argparse.Namespace) -> None:
        self.given = Path(args.cachepot).resolve() if args.cachepot else None
        if self.given:
            if not os.access(self.given, os.X_OK):
                raise BenchError(f"--cachepot {self.given} is not an executable file")
            built = self.given
            installed = WORK / "bin" / "given" / "cachepot"
        else:
            # The binary README.md tells users to install: static where the platform
            # allows, with musl where it can be had (scripts/build-release.sh says why).
            prepare_musl()
            say("building cachepot with scripts/build-release.sh")
            out = subprocess.run(
                nice_prefix(19) + ["bash", "scripts/build-release.sh", "--quiet"],
                cwd=REPO, stdout=subprocess.PIPE, text=True, check=True).stdout
            built = REPO / out.strip().splitlines()[-1]
            installed = WORK / "bin" / "cachepot"
        # Installed, as a user would (`install -m 755`, README.md), and as ccache (a
        # Debian package) and sccache (`cargo install`) are: a copy, a given binary too.
        # The linker's own output file measured 12 page faults and 0.2 ms more per lua
        # hit than a byte-identical copy (1.27-1.36 ms against 1.08 ms, perf stat).
        installed.parent.mkdir(parents=True, exist_ok=True)
        tmp = installed.with_suffix(".tmp")
        shutil.copyfile(built, tmp)
        tmp.chmod(0o755)
        tmp.replace(installed)
        self.wrapper = str(installed)

    def version(self) -> str:
        v = first_line([self.wrapper, "--version"])
        # Static glibc carries its name; musl does not.
        v += ", glibc" if b"GNU C Library" in Path(self.wrapper).read_bytes() else ", musl"
        if self.given:
            # A tree made with `git archive` has no .git: the recipe in README.md writes the
            # commit to a .commit file at its top, which is reported when found.
            rev = ""
            for d in self.given.parents:
                if (d / ".commit").is_file():
                    rev = f", git {(d / '.commit').read_text().strip()[:12]} per {d / '.commit'}"
                    break
            return f"{v} ({self.given}, given with --cachepot and run as a copy{rev})"
        head = run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, check=False)
        dirty = run(["git", "status", "--porcelain", "--", "src", "Cargo.toml", "Cargo.lock"],
                    cwd=REPO, check=False)
        rev = head.stdout.strip() if head.returncode == 0 else "?"
        if dirty.returncode == 0 and dirty.stdout.strip():
            rev += " with uncommitted changes in src/"
        return f"{v} (git {rev})"

    def env(self) -> dict[str, str]:
        return {"CACHEPOT_DIR": str(self.cache_dir),
                "CACHEPOT_CONF": str(WORK / "no-such-config.toml")}

    def zero_stats(self) -> None:
        run([self.wrapper, "--zero-stats"], env=self._tool_env())

    def stats(self) -> dict:
        out = run([self.wrapper, "--show-stats", "--stats-format", "json"],
                  env=self._tool_env()).stdout
        try:
            raw = json.loads(out)
        except json.JSONDecodeError:
            return {"summary": {}, "raw": out}
        s = raw.get("stats", {})
        other = dict(s.get("non_cacheable_reasons", {}))
        other.update({f"error:{k}": v for k, v in s.get("cache_errors_by_kind", {}).items()})
        return {"summary": {"hits": s.get("cache_hits", 0), "misses": s.get("cache_misses", 0),
                            "direct_hits": s.get("direct_hits", 0),
                            "non_cacheable": s.get("non_cacheable", 0), "other": other},
                "raw": raw}


class CachepotNoDirect(Cachepot):
    """cachepot with direct mode off (CACHEPOT_DIRECT=0): every hit runs the preprocessor.
    Not in the default set; `--tools ...,cachepot-pp` adds it to see what direct mode buys."""

    name = "cachepot-pp"

    def env(self) -> dict[str, str]:
        return {**super().env(), "CACHEPOT_DIRECT": "0"}


TOOLS = {"bare": Bare, "ccache": Ccache, "sccache": Sccache, "cachepot": Cachepot,
         "cachepot-pp": CachepotNoDirect}


# ---------------------------------------------------------------- workloads

def vendor_crates(crates: dict[str, str]) -> None:
    """`cargo vendor` the given crates (name -> exact version) into bench/.work/vendor,
    through a throwaway cargo project; skipped when every directory is already there.
    Every C/C++ workload's crate is vendored in the same call, whichever workloads were
    asked for, so that a later run with other workloads finds its crates in place."""
    crates = {**{w.crate: w.crate_version for w in WORKLOADS.values()
                 if issubclass(w, CWorkload)}, **crates}
    if all((VENDOR / f"{n}-{v}").is_dir() for n, v in crates.items()):
        return
    fetch = WORK / "fetch"
    (fetch / "src").mkdir(parents=True, exist_ok=True)
    (fetch / "src" / "lib.rs").write_text("")
    # default-features = false: only the crates' sources are wanted, nothing is built.
    deps = "\n".join(f'{n} = {{ version = "={v}", default-features = false }}'
                     for n, v in sorted(crates.items()))
    (fetch / "Cargo.toml").write_text(
        '[package]\nname = "bench-fetch"\nversion = "0.0.0"\nedition = "2021"\n'
        f'publish = false\n\n[dependencies]\n{deps}\n\n[workspace]\n')
    say(f"fetching crate sources with cargo vendor: {', '.join(sorted(crates))}")
    run(["cargo", "vendor", "--no-delete", "--versioned-dirs", str(VENDOR)], cwd=fetch)
    for n, v in crates.items():
        if not (VENDOR / f"{n}-{v}").is_dir():
            raise BenchError(f"cargo vendor did not produce {VENDOR / f'{n}-{v}'}")


class Workload:
    name = "?"
    description = ""
    tools: tuple[str, ...] = tuple(TOOLS)
    targets = TARGETS_C
    targets_from = "issue 3"
    # Warm builds timed per repetition (clean, then build), whose median is the
    # repetition's warm figure: a C warm build is 30-40 hits in 50-150 ms, where one
    # build's jitter is 10-20% of it (per-repetition ratios 0.45-0.64 in one run).
    warm_runs = 5

    def prepare(self, jobs: int) -> None:
        """Bring in sources and write build files; may use the network (before timing)."""
        raise NotImplementedError

    def clean(self) -> None:
        raise NotImplementedError

    def build_argv(self, tool: Tool) -> tuple[list[str], dict[str, str], Path]:
        """(argv, extra environment, cwd) of one full build with `tool`."""
        raise NotImplementedError

    def hit_argv(self, tool: Tool) -> tuple[list[str], Path] | None:
        """(argv, cwd) of the single compile whose repeated hit is timed; None: none."""
        return None

    def outputs(self) -> list[Path]:
        """Files whose digest must be the same whichever tool built them."""
        return []

    def info(self) -> dict:
        return {"description": self.description}


class CWorkload(Workload):
    """C or C++ sources from a crate, built by a generated Makefile with
    `make -jN CC="<tool> gcc"` (C) or `make -jN CXX="<tool> g++"` (C++): one
    `$(CC) $(CFLAGS) $(CPPFLAGS) -MD -c src -o obj` per file, then `ar` into a static
    library, as the project's own build would."""

    crate = ""
    crate_version = ""
    src_in_crate = ""          # directory inside the vendored crate to copy
    exclude: tuple[str, ...] = ()   # file names (not paths) left out of the library
    compiler = "gcc"           # the compiler driver, run by the tool
    cc_var = "CC"              # the make variable naming it ...
    flags_var = "CFLAGS"       # ... and the one with its flags
    suffixes: tuple[str, ...] = (".c", ".S")
    cflags: list[str] = []
    cppflags: list[str] = []
    typical_tu = ""            # relative to the copied source directory
    library = ""

    @property
    def root(self) -> Path:
        return WORK / "src" / self.name

    @property
    def srcdir(self) -> Path:
        return self.root / "src"

    def wanted(self, rel: str) -> bool:
        """Is this source file (relative to the copied directory) part of the library?"""
        p = Path(rel)
        return p.suffix in self.suffixes and p.name not in self.exclude

    def sources(self) -> list[str]:
        out = []
        for p in sorted(self.srcdir.rglob("*")):
            rel = p.relative_to(self.srcdir).as_posix()
            if p.is_file() and self.wanted(rel):
                out.append(rel)
        return out

    def obj(self, src: str) -> str:
        return "obj/" + src.rsplit(".", 1)[0] + ".o"

    def prepare(self, jobs: int) -> None:
        self.jobs = jobs
        vendor_crates({self.crate: self.crate_version})
        origin = VENDOR / f"{self.crate}-{self.crate_version}" / self.src_in_crate
        stamp = self.root / ".copied-from"
        if not (stamp.exists() and stamp.read_text() == str(origin)):
            rmtree(self.root)
            shutil.copytree(origin, self.srcdir)
            stamp.write_text(str(origin))
        srcs = self.sources()
        if not srcs:
            raise BenchError(f"{self.name}: no sources found in {self.srcdir}")
        objs = [self.obj(s) for s in srcs]
        dirs = sorted({o.rsplit("/", 1)[0] for o in objs})
        rules = []
        for suffix in self.suffixes:
            rules += [f"obj/%.o: src/%{suffix}",
                      f"\t$({self.cc_var}) $({self.flags_var}) $(CPPFLAGS) -MD -c $< -o $@"]
        lines = [
            f"# Generated by bench/bench.py for {self.crate} {self.crate_version}; "
            "do not edit.",
            f"{self.cc_var} ?= {self.compiler}",
            f"{self.flags_var} = {shlex.join(self.cflags)}",
            f"CPPFLAGS = {shlex.join(self.cppflags)}",
            "OBJS = \\\n  " + " \\\n  ".join(objs),
            "",
            f"{self.library}: $(OBJS)",
            "\tar rcs $@ $(OBJS)",
            "",
            # Order-only: directories are made once, never a shell per object.
            "$(OBJS): | " + " ".join(dirs),
            " ".join(dirs) + ":",
            "\tmkdir -p $@",
            "",
            *rules,
            "",
            ".PHONY: clean",
            "clean:",
            f"\trm -rf obj {self.library}",
            "",
            "-include $(OBJS:.o=.d)",
            "",
        ]
        (self.root / "Makefile").write_text("\n".join(lines))
        self.n_sources = len(srcs)

    def clean(self) -> None:
        rmtree(self.root / "obj")
        (self.root / self.library).unlink(missing_ok=True)

    def cc(self, tool: Tool) -> list[str]:
        return ([tool.wrapper] if tool.wrapper else []) + [self.compiler]

    def build_argv(self, tool: Tool) -> tuple[list[str], dict[str, str], Path]:
        return (["make", f"-j{self.jobs}", "--no-print-directory",
                 f"{self.cc_var}=" + shlex.join(self.cc(tool))], {}, self.root)

    def hit_argv(self, tool: Tool) -> tuple[list[str], Path]:
        # Exactly what the Makefile runs for this file.
        src = self.typical_tu
        return (self.cc(tool) + self.cflags + self.cppflags
                + ["-MD", "-c", f"src/{src}", "-o", self.obj(src)], self.root)

    def outputs(self) -> list[Path]:
        return sorted((self.root / "obj").rglob("*.o"))

    def info(self) -> dict:
        return {"description": self.description,
                "crate": f"{self.crate} {self.crate_version}",
                "sources": self.n_sources,
                "typical_tu": self.typical_tu,
                "line": f"{self.n_sources} files, make -j{self.jobs} "
                        f"{self.cc_var}=\"<tool> {self.compiler}\"; "
                        f"typical TU {self.typical_tu}",
                "make": f"make -j{self.jobs} {self.cc_var}=\"<tool> {self.compiler}\"",
                "compile": shlex.join([f"$({self.cc_var})"] + self.cflags + self.cppflags
                                      + ["-MD", "-c", "<src>", "-o", "<obj>"])}


class Zstd(CWorkload):
    name = "zstd"
    description = "zstd 1.5.7's library as the zstd-sys crate ships it (C and one .S)"
    crate = "zstd-sys"
    crate_version = "2.1.3+zstd.1.5.7"
    src_in_crate = "zstd/lib"
    # Flags as zstd-sys's build script sets them for the default features (legacy
    # formats, multithreading, dictionary builder).
    cflags = ["-O2", "-pthread"]
    cppflags = ["-Isrc", "-Isrc/common", "-Isrc/legacy", "-DZSTD_LEGACY_SUPPORT=1",
                "-DZSTD_MULTITHREAD"]
    typical_tu = "compress/zstd_compress.c"
    library = "libzstd.a"


class Lua(CWorkload):
    name = "lua"
    description = "Lua 5.4.9's core and libraries as the lua-src crate ships them"
    crate = "lua-src"
    crate_version = "551.1.0"
    src_in_crate = "lua-5.4.9"
    exclude = ("lua.c", "luac.c", "onelua.c")   # programs and the one-file amalgamation
    # Lua's own Makefile for the linux target.
    cflags = ["-std=gnu99", "-O2", "-Wall", "-Wextra"]
    cppflags = ["-DLUA_COMPAT_5_3", "-DLUA_USE_LINUX"]
    typical_tu = "lparser.c"
    library = "liblua.a"


class LevelDB(CWorkload):
    name = "leveldb"
    description = "LevelDB 1.22's library (C++) as the leveldb-sys crate ships it"
    crate = "leveldb-sys"
    crate_version = "2.0.9"
    src_in_crate = "deps/leveldb-1.22"
    compiler = "g++"
    cc_var = "CXX"
    flags_var = "CXXFLAGS"
    suffixes = (".cc",)
    # The 38 files of LevelDB's CMake target `leveldb` on a POSIX system: db/, table/,
    # util/ and helpers/memenv/ without tests, benchmarks, tools and the Windows env.
    dirs = ("db/", "table/", "util/", "helpers/memenv/")
    exclude = ("leveldbutil.cc", "testharness.cc", "testutil.cc", "histogram.cc",
               "env_windows.cc")
    cflags = ["-std=c++17", "-O2", "-pthread"]
    # What LevelDB's CMakeLists.txt defines for the library, with the answers of its
    # configure checks on Linux given as -D (HAVE_* and LEVELDB_IS_BIG_ENDIAN are what
    # port_config.h would hold; LEVELDB_HAS_PORT_CONFIG_H=0 says there is none), so no
    # configure step runs. No snappy and no crc32c: leveldb-sys's default features.
    cppflags = ["-Isrc", "-Isrc/include", "-DLEVELDB_COMPILE_LIBRARY",
                "-DLEVELDB_PLATFORM_POSIX=1", "-DLEVELDB_HAS_PORT_CONFIG_H=0",
                "-DHAVE_FDATASYNC=1", "-DHAVE_FULLFSYNC=0", "-DHAVE_CRC32C=0",
                "-DHAVE_SNAPPY=0", "-DLEVELDB_IS_BIG_ENDIAN=0"]
    typical_tu = "db/db_impl.cc"
    library = "libleveldb.a"

    def wanted(self, rel: str) -> bool:
        return (super().wanted(rel) and rel.startswith(self.dirs)
                and not rel.endswith(("_test.cc", "_bench.cc")))


# The Rust workload's crate graph: popular registry crates with their exact versions (the
# rest of the graph is resolved once by `cargo fetch` and then kept in Cargo.lock).
RUST_DEPS = """\
anyhow = "=1.0.105"
base64 = "=0.22.1"
chrono = "=0.4.45"
clap = { version = "=4.6.9", features = ["derive"] }
env_logger = "=0.11.12"
itertools = "=0.14.0"
log = "=0.4.35"
rand = "=0.9.5"
regex = "=1.13.2"
semver = "=1.0.28"
serde = { version = "=1.0.229", features = ["derive"] }
serde_json = "=1.0.154"
sha2 = "=0.10.9"
tempfile = "=3.27.0"
thiserror = "=2.0.21"
toml = "=0.9.12"
walkdir = "=2.5.1"
"""

# The workspace crate: a library that uses every dependency a little, and a binary on top,
# so that the graph ends in one cacheable workspace lib and one non-cacheable bin.
RUST_LIB = """\
//! Generated by bench/bench.py: a small library over the benchmark's crate graph.
use base64::Engine;
use itertools::Itertools;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use sha2::Digest;

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    pub path: String,
    pub size: u64,
    pub digest: String,
    pub tags: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bad version {0}")]
    Version(#[from] semver::Error),
    #[error("bad config: {0}")]
    Config(#[from] toml::de::Error),
}

#[derive(Debug, Deserialize)]
pub struct Config {
    pub min_version: String,
    pub pattern: String,
}

pub fn parse_config(text: &str) -> Result<Config, Error> {
    let cfg: Config = toml::from_str(text)?;
    semver::Version::parse(&cfg.min_version)?;
    Ok(cfg)
}

pub fn scan(root: &std::path::Path, pattern: &str) -> anyhow::Result<Vec<Entry>> {
    let re = regex::Regex::new(pattern)?;
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(root).sort_by_file_name() {
        let e = e?;
        let name = e.path().display().to_string();
        if !e.file_type().is_file() || !re.is_match(&name) {
            continue;
        }
        let bytes = std::fs::read(e.path())?;
        let digest = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&bytes));
        let tags = name.split('/').filter(|s| !s.is_empty()).map(str::to_owned).collect_vec();
        log::debug!("{name}: {} bytes", bytes.len());
        out.push(Entry { path: name, size: bytes.len() as u64, digest, tags });
    }
    Ok(out)
}

pub fn report(entries: &[Entry]) -> anyhow::Result<String> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let sample = entries.iter().filter(|_| rng.random_bool(0.5)).count();
    let json = serde_json::to_string_pretty(&serde_json::json!({
        "when": chrono::DateTime::<chrono::Utc>::from_timestamp(0, 0).map(|t| t.to_rfc3339()),
        "entries": entries,
        "sample": sample,
        "largest": entries.iter().map(|e| e.size).max(),
    }))?;
    Ok(json)
}

pub fn scratch_report(entries: &[Entry]) -> anyhow::Result<u64> {
    let dir = tempfile::tempdir()?;
    let p = dir.path().join("report.json");
    std::fs::write(&p, report(entries)?)?;
    Ok(std::fs::metadata(&p)?.len())
}
"""

RUST_MAIN = """\
//! Generated by bench/bench.py.
use clap::Parser;

#[derive(Parser)]
struct Args {
    /// Directory to scan.
    root: std::path::PathBuf,
    /// Regular expression on paths.
    #[arg(long, default_value = ".")]
    pattern: String,
}

fn main() -> anyhow::Result<()> {
    env_logger::init();
    let args = Args::parse();
    let entries = bench_crates::scan(&args.root, &args.pattern)?;
    println!("{}", bench_crates::report(&entries)?);
    Ok(())
}
"""


class Crates(Workload):
    """A real crate graph from the crate registry, built with `cargo build -jN --offline` (dev
    profile) and the tool as RUSTC_WRAPPER, CARGO_INCREMENTAL=0 for every tool. The
    sources come from one `cargo fetch` into bench/.work/cargo-home before any timing."""

    name = "crates"
    description = ("a registry crate graph (17 popular crates and their dependencies), "
                   "`cargo build` of a workspace lib + bin over them")
    tools = ("bare", "sccache", "cachepot", "cachepot-pp")
    # A warm cargo build takes seconds: one per repetition.
    warm_runs = 1
    targets = TARGETS_RUST
    targets_from = "issue 4"
    min_crates = 50

    root = WORK / "src" / "crates"
    cargo_home = WORK / "cargo-home"

    def cargo_env(self) -> dict[str, str]:
        # Own CARGO_HOME: the registry sources the build reads are ours, and no config.toml
        # of the caller's (a rustc-wrapper, say) applies. CARGO_INCREMENTAL=0 so that the
        # workspace crate is an ordinary, cacheable compile for both caches.
        return {"CARGO_HOME": str(self.cargo_home), "CARGO_INCREMENTAL": "0",
                "CARGO_TERM_COLOR": "never"}

    def prepare(self, jobs: int) -> None:
        self.jobs = jobs
        files = {
            "Cargo.toml": ('[package]\nname = "bench-crates"\nversion = "0.0.0"\n'
                           'edition = "2021"\npublish = false\n\n'
                           f'[dependencies]\n{RUST_DEPS}\n[workspace]\n'),
            "src/lib.rs": RUST_LIB,
            "src/main.rs": RUST_MAIN,
        }
        for rel, text in files.items():
            p = self.root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            if not p.exists() or p.read_text() != text:
                p.write_text(text)
        env = {**base_env(), **self.cargo_env()}
        # The only network use: resolves Cargo.lock the first time, then only downloads
        # what the lock names and the local registry lacks.
        say("crates: cargo fetch (network, before any timing)")
        run(["cargo", "fetch"], cwd=self.root, env=env)
        tree = run(["cargo", "tree", "--offline", "--prefix", "none", "-e", "normal,build"],
                   cwd=self.root, env=env).stdout
        pkgs = set()
        for line in tree.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] != "bench-crates":
                pkgs.add((parts[0], parts[1]))
        self.crates = sorted(f"{n} {v}" for n, v in pkgs)
        if len(self.crates) < self.min_crates:
            raise BenchError(f"crates: the graph has {len(self.crates)} crates, "
                             f"fewer than {self.min_crates}")
        lock = (self.root / "Cargo.lock").read_bytes()
        self.lock_digest = hashlib.sha256(lock).hexdigest()[:16]

    def clean(self) -> None:
        run(["cargo", "clean", "--offline"], cwd=self.root,
            env={**base_env(), **self.cargo_env()})

    def build_argv(self, tool: Tool) -> tuple[list[str], dict[str, str], Path]:
        env = self.cargo_env()
        if tool.wrapper:
            env["RUSTC_WRAPPER"] = tool.wrapper
        return (["cargo", "build", f"-j{self.jobs}", "--offline"], env, self.root)

    def outputs(self) -> list[Path]:
        # Every library crate's rlib (build scripts and proc-macros are not cached by any
        # tool and are always built, so they are left out).
        return sorted((self.root / "target" / "debug" / "deps").glob("*.rlib"))

    def info(self) -> dict:
        return {"description": self.description,
                "crates": len(self.crates),
                "crate_list": self.crates,
                "cargo_lock_sha256_16": self.lock_digest,
                "line": f"{len(self.crates)} crates besides the workspace crate (cargo tree, "
                        f"normal and build dependencies); cargo build -j{self.jobs} --offline, "
                        f"RUSTC_WRAPPER=<tool>, CARGO_INCREMENTAL=0, dev profile",
                "build": f"cargo build -j{self.jobs} --offline",
                "rustc": first_line(["rustc", "--version"]),
                "cargo": first_line(["cargo", "--version"])}


WORKLOADS = {"zstd": Zstd, "lua": Lua, "leveldb": LevelDB, "crates": Crates}


# ---------------------------------------------------------------- measuring

def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    p = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        tail = (p.stderr + p.stdout).decode(errors="replace").strip().splitlines()[-15:]
        raise BenchError(f"`{shlex.join(argv)}` in {cwd} exited {p.returncode}\n  "
                         + "\n  ".join(tail))
    return dt


def settle() -> None:
    """Write back dirty pages before a timed build (sync(2), untimed): otherwise the
    writeback of what the previous build wrote (its objects, its cache entries) runs
    during the next one and lands on whichever tool comes next. Measured here: writes
    of 19 MB took 3.5 ms with no writeback running and about 45 ms with one running."""
    os.sync()


def digest(paths: list[Path], root: Path) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.relative_to(root).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def tool_env(wl: Workload, tool: Tool) -> dict[str, str]:
    env = base_env()
    env.update(tool.env())
    env.update(wl.build_argv(tool)[1])
    return env


def warm_runs(wl: Workload, args: argparse.Namespace) -> int:
    return args.warm_runs or wl.warm_runs


def measure_builds(wl: Workload, tool: Tool, rep: int, res: dict,
                   args: argparse.Namespace) -> None:
    """One tool's builds in one repetition: cold, then warm (the median of the workload's
    warm runs). Leaves the tool started and its cache full for the hit loop."""
    samples = res["samples"][tool.name]
    env = tool_env(wl, tool)
    argv, _, cwd = wl.build_argv(tool)

    # (1) cold: empty cache, no objects.
    tool.clear()
    tool.start()   # sccache's server starts here, outside the timings
    wl.clean()
    tool.zero_stats()
    settle()
    cold = timed(argv, cwd, env)
    samples["cold"].append(cold)
    res["stats"][tool.name].append({"rep": rep, "phase": "cold", **tool.stats()})

    # (2) warm: full cache, after a clean. The bare compiler has no cache, so its warm
    # build would be a second cold one: its cold sample stands for both, which saves a
    # full build per repetition (about a fifth of the run).
    line = f"rep {rep + 1} {wl.name:<5} {tool.name:<11} cold {cold:7.2f}s"
    if tool.wrapper is None:
        warm = cold
        samples["warm_runs"].append([cold])
    else:
        # Each warm build after its own clean, its statistics zeroed first; the counts
        # recorded are the last build's (every build should give the same).
        runs = []
        for _ in range(warm_runs(wl, args)):
            wl.clean()
            tool.zero_stats()
            settle()
            runs.append(timed(argv, cwd, env))
        warm = statistics.median(runs)
        samples["warm_runs"].append(runs)
        st = tool.stats()
        res["stats"][tool.name].append({"rep": rep, "phase": "warm", **st})
        s = st["summary"]
        line += (f"  warm {warm:6.2f}s  ({s.get('hits', '?')} hits, "
                 f"{s.get('misses', '?')} misses)")
    samples["warm"].append(warm)
    res["digests"].setdefault(tool.name, []).append(digest(wl.outputs(), cwd))
    say(line)


def measure_hits(wl: Workload, tools: list[Tool], rep: int, args: argparse.Namespace,
                 res: dict) -> None:
    """(3) The typical TU compiled again and again with every cache full. The runs are
    interleaved too (run i of every tool, then run i+1), so a busy second on the machine
    lands on all tools rather than on one tool's whole loop."""
    plan = []
    for tool in tools:
        hit = wl.hit_argv(tool)
        if hit is None:
            continue
        runs = args.bare_hit_runs if tool.wrapper is None else args.hit_runs
        plan.append((tool, hit[0], hit[1], tool_env(wl, tool), runs, []))
    if not plan:
        return
    for tool, argv, cwd, env, _, _ in plan:
        for _ in range(args.hit_warmup):
            timed(argv, cwd, env)
        tool.zero_stats()
    for i in range(max(p[4] for p in plan)):
        for tool, argv, cwd, env, runs, per_run in plan:
            if i < runs:
                per_run.append(timed(argv, cwd, env))
    parts = []
    for tool, _, _, _, _, per_run in plan:
        samples = res["samples"][tool.name]
        samples["hit_runs"].append(per_run)
        samples["hit"].append(statistics.median(per_run))
        res["stats"][tool.name].append({"rep": rep, "phase": "hit", **tool.stats()})
        parts.append(f"{tool.name} {statistics.median(per_run) * 1000:.1f}ms")
    say(f"rep {rep + 1} {wl.name:<5} one hit: " + ", ".join(parts))


def machine_info() -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) // (1024 * 1024)} GiB"
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu_model": cpu, "memory": mem,
            "kernel": platform.release(), "os": first_line(["sh", "-c",
                                                            ". /etc/os-release; echo $PRETTY_NAME"]),
            "python": platform.python_version()}


def summarize(res: dict, tools: list[str], targets_spec: list) -> None:
    med: dict[str, dict[str, float | None]] = {}
    for fig, _, _ in FIGURES:
        med[fig] = {t: median(res["samples"][t][fig]) for t in tools}
    ratios: dict[str, dict[str, float | None]] = {}
    for fig, _, _ in FIGURES:
        ratios[fig] = {}
        for a, b in RATIOS:
            x, y = med[fig].get(a), med[fig].get(b)
            if x is not None and y:
                ratios[fig][f"{a}/{b}"] = x / y
    # Hits each tool reported for its warm builds (median over repetitions).
    warm_hits = {}
    for t in tools:
        hs = [x["summary"].get("hits") for x in res["stats"][t]
              if x["phase"] == "warm" and isinstance(x["summary"].get("hits"), int)]
        if hs:
            warm_hits[t] = statistics.median(hs)
    res["warm_hits"] = warm_hits
    targets = []
    for fig, a, b, bound in targets_spec:
        if fig == "cached":
            if a in warm_hits and b in warm_hits:
                targets.append({"figure": "cached", "ratio": f"{a}/{b}", "bound": None,
                                "value": [warm_hits[a], warm_hits[b]],
                                "met": warm_hits[a] >= warm_hits[b]})
            continue
        r = ratios[fig].get(f"{a}/{b}")
        if r is not None:
            targets.append({"figure": fig, "ratio": f"{a}/{b}", "bound": bound,
                            "value": r, "met": r <= bound})
    ref = res["digests"].get("bare", [None])[0]
    res["objects_match_bare"] = ({t: all(d == ref for d in ds)
                                  for t, ds in res["digests"].items()} if ref else None)
    res["medians"] = med
    res["ratios"] = ratios
    res["targets"] = targets
    # Cold builds paired within each repetition (a tool's cold build against the bare
    # one of the same repetition): the machine's speed drifts between repetitions, and
    # a ratio of two medians carries that drift. Shown beside the verdict, not used by it.
    def paired(fig: str, a: str, b: str) -> list[float]:
        x = res["samples"].get(a, {}).get(fig, [])
        y = res["samples"].get(b, {}).get(fig, [])
        return [p / q for p, q in zip(x, y) if q] if x and len(x) == len(y) else []

    res["cold_per_rep"] = {f"{t}/bare": paired("cold", t, "bare")
                           for t in tools if t != "bare" and "bare" in tools}
    # The same pairing for warm builds, cachepot against each other cache.
    res["warm_per_rep"] = {f"cachepot/{t}": paired("warm", "cachepot", t)
                           for t in tools if t not in ("bare", "cachepot")
                           and "cachepot" in tools}


def fmt(v: float | None, unit: str) -> str:
    if v is None:
        return "-"
    return f"{v * 1000:.1f}" if unit == "ms" else f"{v:.2f}"


def render(results: dict) -> str:
    out = []
    s = results["settings"]
    out.append(f"cachepot benchmark, {results['date']}, {results['machine']['nproc']} cores "
               f"({results['machine']['cpu_model']}), {s['reps']} repetitions, "
               f"hit = median of {s['hit_runs']} runs ({s['bare_hit_runs']} for bare)")
    for name, wl in results["workloads"].items():
        tools = wl["tools"]
        out.append("")
        i = wl["info"]
        out.append(f"## {name}: {i['description']}")
        if "line" in i:
            out.append(f"   {i['line']}")
        if wl.get("warm_runs", 1) > 1:
            out.append(f"   warm build = median of {wl['warm_runs']} builds per repetition, "
                       "each after its own clean")
        out.append("")
        out.append("| median | " + " | ".join(tools) + " |")
        out.append("|---|" + "---:|" * len(tools))
        figures = [f for f in FIGURES
                   if any(wl["medians"][f[0]][t] is not None for t in tools)]
        for fig, label, unit in figures:
            out.append(f"| {label} ({unit}) | "
                       + " | ".join(fmt(wl["medians"][fig][t], unit) for t in tools) + " |")
        cols = [f"{a}/{b}" for a, b in RATIOS if a in tools and b in tools]
        if cols:
            out.append("")
            out.append("| ratio | " + " | ".join(cols) + " |")
            out.append("|---|" + "---:|" * len(cols))
            for fig, label, _ in figures:
                out.append(f"| {label} | " + " | ".join(
                    f"{wl['ratios'][fig][c]:.2f}" if c in wl["ratios"][fig] else "-"
                    for c in cols) + " |")
        out.append("")
        for t in tools:
            if t == "bare":
                continue
            warm = [x["summary"] for x in wl["stats"][t] if x["phase"] == "warm"]
            hit = [x["summary"] for x in wl["stats"][t] if x["phase"] == "hit"]
            if warm and warm[-1]:
                w = warm[-1]
                extra = f", {w['direct_hits']} direct" if "direct_hits" in w else ""
                nc = (f", {w['non_cacheable']} non-cacheable"
                      if w.get("non_cacheable") is not None else "")
                other = f" (other: {w['other']})" if w.get("other") else ""
                hs = ""
                if hit and hit[-1]:
                    hs = f"; hit loop: {hit[-1].get('hits')} hits, {hit[-1].get('misses')} misses"
                out.append(f"- {t} after the warm build: {w.get('hits')} hits{extra}, "
                           f"{w.get('misses')} misses{nc}{other}{hs}")
        for fig in ("cold", "warm"):
            for pair, rs in (wl.get(f"{fig}_per_rep") or {}).items():
                if rs:
                    out.append(f"- {fig} {pair} per repetition: "
                               + ", ".join(f"{r:.2f}" for r in rs)
                               + f" (median {statistics.median(rs):.2f})")
        m = wl.get("objects_match_bare")
        if m:
            bad = [t for t, ok in m.items() if not ok]
            out.append("- objects identical to the bare build's: "
                       + ("all tools" if not bad else "NO for " + ", ".join(bad)))
        if wl["targets"]:
            out.append(f"- targets ({wl['targets_from']}): " + "; ".join(
                (f"crates cached {t['ratio']} {t['value'][0]:g} >= {t['value'][1]:g}"
                 if t["figure"] == "cached" else
                 f"{t['figure']} {t['ratio']} {t['value']:.2f} <= {t['bound']}")
                + (" met" if t["met"] else " NOT met") for t in wl["targets"]))
    out.append("")
    lb, la = results["load_average_before"], results.get("load_average_after", ["?"] * 3)
    out.append(f"Load average (1, 5, 15 min) before: {', '.join(f'{x:.1f}' for x in lb)}; "
               f"after: {', '.join(f'{x:.1f}' if isinstance(x, float) else x for x in la)}"
               f" (above {results['machine']['nproc']}: other work shared the cores)")
    out.append("Versions: " + "; ".join(f"{k}: {v}" for k, v in results["versions"].items()))
    for n in results["notes"]:
        out.append(f"Note: {n}")
    return "\n".join(out)


# ---------------------------------------------------------------- main

def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Benchmark cachepot against the bare compiler, ccache and sccache "
                    "(cold build, warm build, one repeated hit), interleaved in one run.")
    p.add_argument("--quick", action="store_true",
                   help="2 repetitions and 10 hit runs instead of 5 and 20")
    p.add_argument("--reps", type=int, help="repetitions of every figure (default 5)")
    p.add_argument("--hit-runs", type=int, help="timed runs of the repeated hit (default 20, 10 with --quick)")
    p.add_argument("--bare-hit-runs", type=int, default=None,
                   help="timed runs of the bare compile of the typical TU (default 5, 3 with --quick: each "
                        "is a full compile)")
    p.add_argument("--warm-runs", type=int, default=None,
                   help="warm builds timed per repetition, each after its own clean; the "
                        "repetition's figure is their median (default 5 for the C and C++ "
                        "workloads, 1 for crates)")
    p.add_argument("--hit-warmup", type=int, default=2,
                   help="untimed runs before the hit loop (default 2)")
    p.add_argument("--tools", default=",".join(TOOL_NAMES),
                   help=f"comma-separated, from {','.join(TOOLS)} (default "
                        f"{','.join(TOOL_NAMES)}; cachepot-pp is cachepot with "
                        "CACHEPOT_DIRECT=0)")
    p.add_argument("--workloads", default=",".join(WORKLOADS),
                   help=f"comma-separated, from {','.join(WORKLOADS)} (default all)")
    p.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 2,
                   help="make -j (default: the number of cores)")
    p.add_argument("--json", type=Path, default=WORK / "results.json",
                   help="where to write every raw sample (default bench/.work/results.json)")
    p.add_argument("--cachepot", help="use this cachepot binary instead of building one "
                   "with scripts/build-release.sh")
    p.add_argument("--sccache-version", default=SCCACHE_VERSION,
                   help=f"sccache release to cargo install (default {SCCACHE_VERSION})")
    a = p.parse_args(argv)
    a.reps = a.reps or (2 if a.quick else 5)
    a.hit_runs = a.hit_runs or (10 if a.quick else 20)
    a.bare_hit_runs = a.bare_hit_runs or (3 if a.quick else 5)
    a.tool_list = [t.strip() for t in a.tools.split(",") if t.strip()]
    a.workload_list = [w.strip() for w in a.workloads.split(",") if w.strip()]
    for t in a.tool_list:
        if t not in TOOLS:
            p.error(f"unknown tool {t!r}; known: {', '.join(TOOLS)}")
    for w in a.workload_list:
        if w not in WORKLOADS:
            p.error(f"unknown workload {w!r}; known: {', '.join(WORKLOADS)}")
    if a.reps < 1 or a.hit_runs < 1 or (a.warm_runs is not None and a.warm_runs < 1):
        p.error("--reps, --hit-runs and --warm-runs must be at least 1")
    return a


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    tools = {n: TOOLS[n]() for n in args.tool_list}
    workloads = [WORKLOADS[n]() for n in args.workload_list]

    # Everything that may use the network happens here, before any timing.
    for t in tools.values():
        t.install(args)
    for wl in workloads:
        wl.prepare(args.jobs)
    for prog in ("make", "gcc", "g++", "ar", "cargo", "rustc"):
        if shutil.which(prog) is None:
            raise BenchError(f"{prog} is not on PATH")

    results: dict = {
        "schema": 2,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": shlex.join([os.path.relpath(sys.argv[0])] + argv),
        "machine": machine_info(),
        "versions": {"gcc": Bare().version(), "g++": first_line(["g++", "--version"]),
                     "make": first_line(["make", "--version"]),
                     "rustc": first_line(["rustc", "--version"]),
                     "cargo": first_line(["cargo", "--version"]),
                     **{n: t.version() for n, t in tools.items() if n != "bare"}},
        "settings": {"reps": args.reps, "hit_runs": args.hit_runs,
                     "bare_hit_runs": args.bare_hit_runs, "hit_warmup": args.hit_warmup,
                     "jobs": args.jobs, "tools": args.tool_list,
                     "niceness": os.nice(0)},
        "load_average_before": os.getloadavg(),
        "notes": [
            "sccache: the server is started before each of its turns and stopped after, "
            "outside the timings; its start-up cost is not in any figure.",
            "bare has no cache: its warm-build figure is its cold build (not run twice).",
            "Tools are interleaved: each repetition runs every tool's cold and warm build "
            "in turn, the order rotated by one each repetition, then the hit runs "
            "round-robin across tools.",
            "Every timed build starts after sync(2) (untimed), so that no build pays for "
            "the writeback of the one before it.",
        ],
        "workloads": {},
    }
    for wl in workloads:
        names = [n for n in args.tool_list if n in wl.tools]
        results["workloads"][wl.name] = {
            "info": wl.info(), "tools": names, "targets_from": wl.targets_from,
            "samples": {n: {"cold": [], "warm": [], "warm_runs": [], "hit": [], "hit_runs": []}
                        for n in names},
            "warm_runs": warm_runs(wl, args),
            "stats": {n: [] for n in names}, "digests": {},
        }

    # Warm the page cache with one untimed bare build per workload, so the first measured
    # tool does not pay for reading sources and headers from disk.
    bare = tools.get("bare") or Bare()
    for wl in workloads:
        say(f"{wl.name}: untimed warm-up build with the bare compiler")
        wl.clean()
        a, extra, cwd = wl.build_argv(bare)
        timed(a, cwd, {**base_env(), **extra})

    try:
        for rep in range(args.reps):
            for wl in workloads:
                res = results["workloads"][wl.name]
                names = res["tools"]
                k = rep % len(names)
                order = [tools[n] for n in names[k:] + names[:k]]
                for t in order:
                    measure_builds(wl, t, rep, res, args)
                measure_hits(wl, order, rep, args, res)
                for t in order:
                    t.stop()
    finally:
        for t in tools.values():
            t.stop()

    results["load_average_after"] = os.getloadavg()
    for wl in workloads:
        r = results["workloads"][wl.name]
        summarize(r, r["tools"], wl.targets)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(render(results))
    print(f"\nRaw samples: {args.json}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BenchError as e:
        print(f"bench: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
