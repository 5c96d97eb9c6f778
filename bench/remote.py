#!/usr/bin/env python3
"""Warm builds from a remote-only cache: cachepot against sccache, same backend (issue 5).

For each backend (Redis, S3) started here on 127.0.0.1 (redis-server from Debian, moto's
S3 server from the venv that scripts/setup.sh makes), each repetition and each tool, in
turn:

1. populate: empty the remote (a fresh Redis database / S3 key prefix), empty the local
   cache, build the workload once (misses: every entry goes to the remote);
2. warm: delete the objects and the local cache (cachepot's CACHEPOT_DIR; sccache has no
   local tier with a remote, and its server is restarted so nothing is held in memory),
   then time `make -jN` — every hit comes over loopback from the remote.

It prints medians and the ratio cachepot/sccache per backend (issue 5's target: at most
0.7), checks that every tool's objects are identical to the bare compiler's, and writes
every sample to JSON. sccache must have its redis and s3 features: it is built once with
`cargo install sccache --no-default-features --features redis,s3` into
bench/.work/cargo-root-remote (several minutes on 2 cores).

Run from the repository root: `python3 bench/remote.py` (see bench/README.md). The C
workload's sources are prepared by bench.py's own code (one registry download, before any
timing). Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (the sibling script: workloads, tools, helpers)
from bench import BenchError, WORK, base_env, digest, median, run, say, timed  # noqa: E402

CARGO_ROOT_REMOTE = WORK / "cargo-root-remote"
TOOLS_DIR = Path(os.environ.get("CACHEPOT_TEST_TOOLS")
                 or Path.home() / ".cache" / "cachepot-test-tools")
LOCALHOST = "127.0.0.1"
BUCKET = "bench"
TARGET = 0.7


def free_port() -> int:
    s = socket.socket()
    s.bind((LOCALHOST, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port: int, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{what} exited with {proc.returncode} before it was ready")
        try:
            socket.create_connection((LOCALHOST, port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise BenchError(f"{what} not ready on {LOCALHOST}:{port} after 20 s")


class Server:
    """A backend on 127.0.0.1, started and stopped here."""

    name = "?"

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.dir = tmp / self.name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen | None = None
        self.generation = 0

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def fresh(self) -> None:
        """A new, empty namespace for the next populate build."""
        self.generation += 1


class Redis(Server):
    name = "redis"

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", LOCALHOST, "--save", "",
             "--appendonly", "no", "--protected-mode", "no", "--databases", "256",
             "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, self.proc, "redis-server")

    def url(self) -> str:
        return f"redis://{LOCALHOST}:{self.port}/{self.generation % 256}"

    def cachepot_env(self) -> dict[str, str]:
        return {"CACHEPOT_REDIS": self.url()}

    def sccache_env(self) -> dict[str, str]:
        return {"SCCACHE_REDIS_ENDPOINT": f"redis://{LOCALHOST}:{self.port}",
                "SCCACHE_REDIS_DB": str(self.generation % 256)}


class S3(Server):
    name = "s3"

    def start(self) -> None:
        binary = TOOLS_DIR / "venv" / "bin" / "moto_server"
        if not binary.exists():
            raise BenchError(f"{binary} missing: run scripts/setup.sh")
        self.proc = subprocess.Popen(
            [str(binary), "-H", LOCALHOST, "-p", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, self.proc, "moto_server")
        # Create the bucket (moto needs no signature for that).
        with socket.create_connection((LOCALHOST, self.port), timeout=10) as s:
            s.sendall(f"PUT /{BUCKET} HTTP/1.1\r\nHost: {LOCALHOST}:{self.port}\r\n"
                      "Content-Length: 0\r\nConnection: close\r\n\r\n".encode())
            reply = s.recv(4096).decode(errors="replace")
        if " 200 " not in reply.split("\r\n", 1)[0]:
            raise BenchError(f"creating the S3 bucket failed: {reply[:200]}")

    def common(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret",
                "AWS_EC2_METADATA_DISABLED": "true"}

    def prefix(self) -> str:
        return f"gen{self.generation}/"

    def cachepot_env(self) -> dict[str, str]:
        return {**self.common(), "CACHEPOT_BUCKET": BUCKET,
                "CACHEPOT_ENDPOINT": f"http://{LOCALHOST}:{self.port}",
                "CACHEPOT_REGION": "us-east-1", "CACHEPOT_S3_KEY_PREFIX": self.prefix()}

    def sccache_env(self) -> dict[str, str]:
        return {**self.common(), "SCCACHE_BUCKET": BUCKET,
                "SCCACHE_ENDPOINT": f"http://{LOCALHOST}:{self.port}",
                "SCCACHE_S3_USE_SSL": "false", "SCCACHE_REGION": "us-east-1",
                "SCCACHE_S3_KEY_PREFIX": self.prefix()}


# Own cache dirs and sccache port: bench.py may be running at the same time, and must
# never see this script empty its caches or restart its sccache server.
REMOTE_CACHES = WORK / "caches-remote"
SCCACHE_REMOTE_PORT = "42262"


class RemoteCachepot(bench.Cachepot):
    def __init__(self, server: Server) -> None:
        super().__init__()
        self.server = server
        self.cache_dir = REMOTE_CACHES / self.name

    def env(self) -> dict[str, str]:
        return {**super().env(), **self.server.cachepot_env()}

    def remote_hits(self) -> int:
        return int(self.stats()["raw"].get("stats", {}).get("remote_hits", 0))


class RemoteSccache(bench.Sccache):
    def __init__(self, server: Server) -> None:
        super().__init__()
        self.server = server
        self.cache_dir = REMOTE_CACHES / self.name

    def install(self, args: argparse.Namespace) -> None:
        binary = CARGO_ROOT_REMOTE / "bin" / "sccache"
        want = args.sccache_version
        if not (binary.exists() and want in bench.first_line([str(binary), "--version"])):
            say(f"building sccache {want} with its redis and s3 features (minutes)")
            run(bench.nice_prefix(19) + [
                "cargo", "install", "sccache", "--version", want, "--locked",
                "--no-default-features", "--features", "redis,s3",
                "--root", str(CARGO_ROOT_REMOTE)], quiet=False)
        self.wrapper = str(binary)

    def env(self) -> dict[str, str]:
        return {**super().env(), **self.server.sccache_env(),
                "SCCACHE_SERVER_PORT": SCCACHE_REMOTE_PORT}


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=5, help="repetitions (default 5)")
    p.add_argument("--workload", default="lua", choices=sorted(bench.WORKLOADS),
                   help="a C or C++ workload of bench.py (default lua)")
    p.add_argument("--backends", default="redis,s3", help="comma-separated: redis,s3")
    p.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 2)
    p.add_argument("--cachepot", help="cachepot binary (default: scripts/build-release.sh)")
    p.add_argument("--sccache-version", default=bench.SCCACHE_VERSION)
    p.add_argument("--json", type=Path, default=WORK / "results-remote.json")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    wl = bench.WORKLOADS[args.workload]()
    if not isinstance(wl, bench.CWorkload):
        raise BenchError("the remote benchmark runs a C or C++ workload")
    wl.prepare(args.jobs)
    tmp = WORK / "remote-servers"
    bench.rmtree(tmp)
    servers = {"redis": Redis, "s3": S3}
    backends = [servers[b.strip()](tmp) for b in args.backends.split(",") if b.strip()]

    bare = bench.Bare()
    wl.clean()
    a, extra, cwd = wl.build_argv(bare)
    timed(a, cwd, {**base_env(), **extra})  # warms the page cache, gives the reference
    reference = digest(wl.outputs(), cwd)

    results: dict = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join(["bench/remote.py"] + argv),
        "machine": bench.machine_info(),
        "workload": wl.info(),
        "load_average_before": os.getloadavg(),
        "backends": {},
    }
    try:
        for srv in backends:
            srv.start()
            tools = [RemoteCachepot(srv), RemoteSccache(srv)]
            for t in tools:
                t.install(args)
            res = {"samples": {t.name: [] for t in tools}, "populate": {t.name: [] for t in tools},
                   "hits": {t.name: [] for t in tools}, "identical": {t.name: True for t in tools},
                   "versions": {t.name: t.version() for t in tools}}
            for rep in range(args.reps):
                order = tools if rep % 2 == 0 else tools[::-1]
                for t in order:
                    argv_, _, cwd = wl.build_argv(t)
                    # (1) populate the remote
                    srv.fresh()
                    env = {**base_env(), **t.env()}
                    t.clear()
                    t.start()
                    wl.clean()
                    res["populate"][t.name].append(timed(argv_, cwd, env))
                    # (2) warm from the remote only
                    t.clear()          # local cache emptied (sccache: server stopped first)
                    t.start()
                    wl.clean()
                    t.zero_stats()
                    warm = timed(argv_, cwd, env)
                    st = t.stats()
                    hits = st["summary"].get("hits", 0)
                    res["samples"][t.name].append(warm)
                    res["hits"][t.name].append(hits)
                    if digest(wl.outputs(), cwd) != reference:
                        res["identical"][t.name] = False
                    t.stop()
                    say(f"{srv.name} rep {rep + 1} {t.name:<9} warm from remote "
                        f"{warm:6.2f}s ({hits} hits)")
            cp = median(res["samples"]["cachepot"])
            sc = median(res["samples"]["sccache"])
            res["median"] = {"cachepot": cp, "sccache": sc}
            res["ratio"] = cp / sc if cp and sc else None
            results["backends"][srv.name] = res
            srv.stop()
    finally:
        for srv in backends:
            srv.stop()
    results["load_average_after"] = os.getloadavg()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")

    print(f"\n### Warm {wl.name} build from a remote-only cache "
          f"({wl.n_sources} files, make -j{args.jobs}), {args.reps} repetitions\n")
    print("| backend | sccache (s) | cachepot (s) | cachepot/sccache | target | hits (sccache / cachepot) | objects identical |")
    print("|---|---:|---:|---:|---|---|---|")
    for name, r in results["backends"].items():
        ratio = r["ratio"]
        verdict = "met" if ratio is not None and ratio <= TARGET else "**NOT met**"
        print(f"| {name} | {r['median']['sccache']:.2f} | {r['median']['cachepot']:.2f} | "
              f"{ratio:.2f} | <= {TARGET} {verdict} | "
              f"{min(r['hits']['sccache'])}-{max(r['hits']['sccache'])} / "
              f"{min(r['hits']['cachepot'])}-{max(r['hits']['cachepot'])} | "
              f"{'yes' if all(r['identical'].values()) else 'NO: ' + str(r['identical'])} |")
    print(f"\nLoad average before {results['load_average_before']}, after "
          f"{results['load_average_after']}. Raw samples: {args.json}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BenchError as e:
        print(f"remote bench: {e}", file=sys.stderr)
        sys.exit(2)
