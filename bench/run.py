"""``make bench``: r2jwt side by side with R2's samples and the HMAC floor, in one process.

Sections (each printed as a table, or all of them as one JSON document with ``--json``):

1. per-token cost: R2's Python sample as pasted (PyJWT per call); aws-secretsmanager-caching
   (against moto, in-process) + PyJWT per call; R2's Go sample (golang-jwt behind its global
   mutex, when a Go toolchain is present); ``r2jwt.generate_jwt_token``; ``signer.mint()``;
   ``signer.token()`` on a cache hit, without and with extra claims; the floor: ``hmac.digest``
   + base64url of a precomputed signing input, and the same with precomputed HMAC pad states;
   and, for reference, the two clock reads every ``token()`` call makes. Rows are timed in
   interleaved rounds (median of the rounds), and each ratio is the median of the per-round
   ratios: the machines are shared and noisy, so ratios are what to read, not absolute times.
2. threads: tokens/s with 1, 2, 4 and 8 threads sharing one Signer.
3. memory: bytes per cached token with 100k distinct merchants (tracemalloc), and the LRU bound.
4. backend calls: source reads per 10,000 tokens and per hour, one thread and 16.
5. cold start: ``r2jwt token`` against ``python -c "import jwt"``, and what ``import r2jwt``
   loads.

Then every target of the performance issue, pass or short. Speed is never a unit-test failure:
this script reports, it does not fail (exit 0 unless it cannot run at all).
"""

from __future__ import annotations

import argparse
import base64
import gc
import hashlib
import hmac
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from time import perf_counter_ns
from typing import Any

import jwt

import r2jwt
from r2jwt.testing import FakeClock, MemorySource, run_now
from r2jwt.token_cache import DEFAULT_TOKEN_CACHE_SIZE

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"  # build products (the Go binary); ignored by git

KID = "r2-bench-2026-11"
SECRET = "bench-only-secret-never-sign-real-traffic-0001"
MID, COUNTRY = "123456", "MX"
SECRET_ID = "r2/jwt"

# The exact environment of R2's samples, set before anything reads it.
os.environ["JWT_KID"] = KID
os.environ["JWT_SECRET"] = SECRET

sys.path.insert(0, str(HERE))
import r2_sample  # noqa: E402 - needs bench/ on sys.path

Loop = Callable[[int], int]  # run n calls, return elapsed nanoseconds


@dataclass
class Report:
    """Everything measured; printed as tables or dumped as JSON."""

    machine: dict[str, Any] = field(default_factory=dict)
    per_token: list[dict[str, Any]] = field(default_factory=list)
    threads: dict[str, Any] = field(default_factory=dict)
    memory: dict[str, Any] = field(default_factory=dict)
    backend: dict[str, Any] = field(default_factory=dict)
    cold_start: dict[str, Any] = field(default_factory=dict)
    targets: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def say(message: str) -> None:
    """Progress on stderr, so that stdout carries only the tables (or the JSON)."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


@contextmanager
def gc_paused() -> Iterator[None]:
    """As timeit does: a collection landing in one row's sample would be noise, not cost."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def verify(token: str, expect: dict[str, Any]) -> None:
    """Every row must produce a token R2 would accept: check it with PyJWT before timing it."""
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    got = {k: v for k, v in claims.items() if k != "exp"}
    if header.get("kid") != KID or got != expect:
        raise SystemExit(f"bench: a row produced an unexpected token: {header} {claims}")


# -- 1. per-token cost ---------------------------------------------------------------------------


def python_sample_loop() -> Loop:
    generate = r2_sample.generate_jwt_token
    verify(generate(merchant_id=MID, country=COUNTRY), {"mid": MID, "country": COUNTRY})

    def loop(n: int) -> int:
        start = perf_counter_ns()
        for _ in repeat(None, n):
            generate(merchant_id=MID, country=COUNTRY)
        return perf_counter_ns() - start

    return loop


def aws_caching_loop(notes: list[str]) -> tuple[Loop | None, str, Callable[[], None]]:
    """What an AWS user composes: AWS's caching client (against moto in-process) + PyJWT."""
    try:
        import botocore.session
        from aws_secretsmanager_caching import SecretCache, SecretCacheConfig
        from moto import mock_aws
    except ImportError as exc:
        return (
            None,
            f"skipped: {exc.name} not installed (make bench installs the bench extra)",
            _nop,
        )
    from datetime import UTC, datetime, timedelta

    env = {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    mock = mock_aws()
    mock.start()
    client = botocore.session.get_session().create_client("secretsmanager", region_name="us-east-1")
    client.create_secret(Name=SECRET_ID, SecretString=json.dumps({"kid": KID, "secret": SECRET}))
    api_calls: list[str] = []
    client.meta.events.register("before-call", lambda **kw: api_calls.append(kw["model"].name))
    cache = SecretCache(config=SecretCacheConfig(), client=client)
    get_secret_string = cache.get_secret_string

    def generate(
        merchant_id: str | None, country: str | None, expiration_seconds: int = 600
    ) -> str:
        doc = json.loads(get_secret_string(SECRET_ID))
        now = datetime.now(UTC)
        payload: dict[str, Any] = {"exp": now + timedelta(seconds=expiration_seconds)}
        if merchant_id is not None:
            payload["mid"] = merchant_id
        if country is not None:
            payload["country"] = country
        return jwt.encode(payload, doc["secret"], algorithm="HS256", headers={"kid": doc["kid"]})

    verify(generate(merchant_id=MID, country=COUNTRY), {"mid": MID, "country": COUNTRY})

    def loop(n: int) -> int:
        start = perf_counter_ns()
        for _ in repeat(None, n):
            generate(merchant_id=MID, country=COUNTRY)
        return perf_counter_ns() - start

    def stop() -> None:
        notes.append(
            "aws-secretsmanager-caching row: get_secret_string + json.loads + jwt.encode per "
            f"call; {len(api_calls)} API calls reached moto in all ({', '.join(api_calls)}): a "
            "cache hit costs its copy.deepcopy of the cached responses, not the network."
        )
        mock.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    return loop, "", stop


def _nop() -> None:
    pass


def generate_jwt_token_loop() -> Loop:
    generate = r2jwt.generate_jwt_token
    verify(generate(merchant_id=MID, country=COUNTRY), {"mid": MID, "country": COUNTRY})

    def loop(n: int) -> int:
        start = perf_counter_ns()
        for _ in repeat(None, n):
            generate(merchant_id=MID, country=COUNTRY)
        return perf_counter_ns() - start

    return loop


def mint_loop(signer: r2jwt.Signer) -> Loop:
    verify(signer.mint(mid=MID, country=COUNTRY), {"mid": MID, "country": COUNTRY})

    def loop(n: int) -> int:
        start = perf_counter_ns()
        for _ in repeat(None, n):
            signer.mint(mid=MID, country=COUNTRY)
        return perf_counter_ns() - start

    return loop


def token_hit_loop(signer: r2jwt.Signer) -> Loop:
    verify(signer.token(mid=MID, country=COUNTRY), {"mid": MID, "country": COUNTRY})

    def loop(n: int) -> int:
        start = perf_counter_ns()
        for _ in repeat(None, n):
            signer.token(mid=MID, country=COUNTRY)
        return perf_counter_ns() - start

    return loop


def clocks_loop() -> Loop:
    """Reference: the two clock reads every token() call makes (wall for exp, monotonic for the
    refresh deadline)."""
    wall, monotonic = time.time, time.monotonic

    def loop(n: int) -> int:
        start = perf_counter_ns()
        for _ in repeat(None, n):
            wall()
            monotonic()
        return perf_counter_ns() - start

    return loop


def token_extra_hit_loop(signer: r2jwt.Signer) -> Loop:
    extra = {"scope": "reports"}
    verify(
        signer.token(mid=MID, country=COUNTRY, extra=extra),
        {"mid": MID, "country": COUNTRY, **extra},
    )

    def loop(n: int) -> int:
        start = perf_counter_ns()
        for _ in repeat(None, n):
            signer.token(mid=MID, country=COUNTRY, extra=extra)
        return perf_counter_ns() - start

    return loop


def _signing_input() -> bytes:
    """header.claims of a real token, computed once: the floors only sign and encode."""
    token = r2_sample.generate_jwt_token(merchant_id=MID, country=COUNTRY)
    return token.rsplit(".", 1)[0].encode("ascii")


def hmac_floor_loop() -> Loop:
    """The floor the issue names: raw ``hmac.digest`` + base64url, signing input precomputed."""
    signing_input, secret = _signing_input(), SECRET.encode()
    digest, b64 = hmac.digest, base64.urlsafe_b64encode
    expected = r2_sample.generate_jwt_token(merchant_id=MID, country=COUNTRY).rsplit(".", 1)[1]
    if b64(digest(secret, signing_input, "sha256")).rstrip(b"=").decode() != expected:
        raise SystemExit("bench: the floor does not compute PyJWT's signature")

    def loop(n: int) -> int:
        start = perf_counter_ns()
        for _ in repeat(None, n):
            b64(digest(secret, signing_input, "sha256")).rstrip(b"=")
        return perf_counter_ns() - start

    return loop


def pads_floor_loop() -> Loop:
    """A lower floor: HMAC-SHA256 from precomputed inner/outer pad states (RFC 2104 §4), which
    skips the per-call key setup that ``hmac.digest`` pays."""
    signing_input, secret = _signing_input(), SECRET.encode().ljust(64, b"\0")
    inner0 = hashlib.sha256(bytes(b ^ 0x36 for b in secret))
    outer0 = hashlib.sha256(bytes(b ^ 0x5C for b in secret))
    b64 = base64.urlsafe_b64encode

    def loop(n: int) -> int:
        start = perf_counter_ns()
        for _ in repeat(None, n):
            inner = inner0.copy()
            inner.update(signing_input)
            outer = outer0.copy()
            outer.update(inner.digest())
            b64(outer.digest()).rstrip(b"=")
        return perf_counter_ns() - start

    return loop


def go_sample(notes: list[str]) -> tuple[Path | None, str]:
    """Build bench/r2_sample.go in GOPATH mode against Debian's golang-jwt; (binary, why not)."""
    go = shutil.which("go")
    if go is None:
        return (
            None,
            "skipped: no Go toolchain (apt-get install golang-go golang-github-golang-jwt-jwt-dev)",
        )
    OUT.mkdir(exist_ok=True)
    binary = OUT / "r2_sample"
    source = HERE / "r2_sample.go"
    if binary.exists() and binary.stat().st_mtime >= source.stat().st_mtime:
        return binary, ""
    gopath = os.pathsep.join(p for p in (os.environ.get("GOPATH"), "/usr/share/gocode") if p)
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": gopath,
        "GOCACHE": os.environ.get("GOCACHE") or str(OUT / "go-build"),
        "GOFLAGS": "",
    }
    say("building bench/r2_sample.go (golang-jwt, GOPATH mode)")
    proc = subprocess.run(
        [go, "build", "-o", str(binary), str(source)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        first = (proc.stderr.strip().splitlines() or ["unknown error"])[0]
        return None, f"skipped: go build failed ({first})"
    version = subprocess.run([go, "version"], capture_output=True, text=True, check=False)
    notes.append(f"Go sample built with {version.stdout.strip()} against Debian's golang-jwt.")
    return binary, ""


def run_go(binary: Path, iterations: int) -> float:
    proc = subprocess.run(
        [str(binary), "-n", str(iterations), "-reps", "3", "-mid", MID, "-country", COUNTRY],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    fields = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if " " in line)
    verify(fields["token"], {"mid": MID, "country": COUNTRY})
    return float(fields["ns_per_token"])


def calibrate(loop: Loop, sample_ns: int) -> int:
    """Calls per sample so that one sample takes about ``sample_ns``."""
    n = 16
    while True:
        with gc_paused():
            elapsed = loop(n)
        if elapsed >= sample_ns // 4 or n >= 1 << 24:
            return max(16, int(n * sample_ns / max(elapsed, 1)))
        n *= 4


def per_token(report: Report, rounds: int, sample_ms: float) -> r2jwt.Signer:
    notes = report.notes
    signer = r2jwt.Signer("env://")
    aws_loop, aws_skip, aws_stop = aws_caching_loop(notes)
    go_binary, go_skip = go_sample(notes)
    rows: list[tuple[str, str, Loop | None, str]] = [
        ("sample", "R2 Python sample (PyJWT per call)", python_sample_loop(), ""),
        ("aws_caching", "aws-secretsmanager-caching + PyJWT", aws_loop, aws_skip),
        ("go_sample", "R2 Go sample (golang-jwt, global mutex)", None, go_skip),
        ("generate_jwt_token", "r2jwt.generate_jwt_token", generate_jwt_token_loop(), ""),
        ("mint", "signer.mint()", mint_loop(signer), ""),
        ("token_hit", "signer.token() cache hit", token_hit_loop(signer), ""),
        ("token_extra_hit", "signer.token(extra=…) cache hit", token_extra_hit_loop(signer), ""),
        ("floor", "floor: hmac.digest + base64url", hmac_floor_loop(), ""),
        ("pads_floor", "floor, precomputed HMAC pads", pads_floor_loop(), ""),
        ("clocks", "ref: time.time() + time.monotonic()", clocks_loop(), ""),
    ]
    sample_ns = int(sample_ms * 1e6)
    sizes = {key: calibrate(loop, sample_ns) for key, _, loop, _ in rows if loop is not None}
    samples: dict[str, list[float]] = {key: [] for key, *_ in rows}
    say(f"per-token cost: {rounds} interleaved rounds of {len(sizes)} rows")
    for r in range(rounds):
        timed = [(key, loop) for key, _, loop, _ in rows if loop is not None]
        shift = r % len(timed)  # rotate the order so no row always runs first or last
        for key, loop in timed[shift:] + timed[:shift]:
            with gc_paused():
                samples[key].append(loop(sizes[key]) / sizes[key])
        if go_binary is not None:
            samples["go_sample"].append(run_go(go_binary, max(1000, sample_ns // 5000)))
    aws_stop()

    for key, label, _, skipped in rows:
        values = samples[key]
        row: dict[str, Any] = {"key": key, "label": label}
        if not values:
            row["skipped"] = skipped or "skipped"
        else:
            row["ns_per_token"] = statistics.median(values)
            row["tokens_per_s"] = 1e9 / row["ns_per_token"]
            row["x_faster_than_sample"] = statistics.median(
                s / v for s, v in zip(samples["sample"], values, strict=True)
            )
            row["x_floor"] = statistics.median(
                v / f for v, f in zip(values, samples["floor"], strict=True)
            )
            row["spread_pct"] = 100 * (max(values) - min(values)) / row["ns_per_token"]
        report.per_token.append(row)
    return signer


# -- 2. threads ----------------------------------------------------------------------------------


def threads(report: Report, seconds: float, rounds: int) -> None:
    signer = r2jwt.Signer(MemorySource(json.dumps({"kid": KID, "secret": SECRET})))
    mids = [str(100_000 + i) for i in range(64)]
    for mid in mids:
        signer.token(mid=mid, country=COUNTRY)

    def run(method: str, count: int) -> float:
        call = getattr(signer, method)
        done = [0] * count
        start_line = threading.Barrier(count + 1)
        deadline = 0.0

        def work(slot: int) -> None:
            start_line.wait()
            n = 0
            while time.perf_counter() < deadline:
                for mid in mids:
                    call(mid=mid, country=COUNTRY)
                n += len(mids)
            done[slot] = n

        workers = [threading.Thread(target=work, args=(i,)) for i in range(count)]
        for w in workers:
            w.start()
        deadline = time.perf_counter() + seconds
        began = time.perf_counter()
        start_line.wait()
        for w in workers:
            w.join()
        return sum(done) / (time.perf_counter() - began)

    counts = (1, 2, 4, 8)
    results: dict[str, dict[int, list[float]]] = {
        m: {c: [] for c in counts} for m in ("token", "mint")
    }
    say(f"threads: {rounds} rounds x 2 methods x {len(counts)} thread counts x {seconds} s")
    for r in range(rounds):
        for method in results:
            for count in counts[r % 4 :] + counts[: r % 4]:  # rotate: noise hits every count
                results[method][count].append(run(method, count))
    report.threads = {
        "cpus": os.cpu_count(),
        "seconds_per_run": seconds,
        "tokens_per_s": {
            m: {str(c): statistics.median(v) for c, v in by_count.items()}
            for m, by_count in results.items()
        },
    }


# -- 3. memory -----------------------------------------------------------------------------------


def fill(size: int, merchants: int) -> tuple[int, int]:
    """Cache ``merchants`` distinct tokens in a Signer of ``size``; (bytes it retains, entries)."""
    source = MemorySource(json.dumps({"kid": KID, "secret": SECRET}))
    signer = r2jwt.Signer(source, clock=FakeClock(), token_cache_size=size)
    signer.token()  # load the keyset first: only the cached tokens are counted
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(merchants):
        # A fresh string per call, as str(merchant.id) would make: the cache keeps it alive.
        signer.token(mid=str(100_000 + i), country=COUNTRY)
    gc.collect()
    retained = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    entries = signer.stats().token_cache_size
    signer.close()
    return retained, entries


def memory(report: Report) -> None:
    say("memory: 100k distinct merchants under tracemalloc")
    big, big_entries = fill(100_000, 100_000)
    default, default_entries = fill(DEFAULT_TOKEN_CACHE_SIZE, 100_000)
    over, over_entries = fill(100_000, 150_000)
    # Where the bytes of one entry go: the token string and the merchant id it is cached under
    # are unavoidable while the cache returns stored tokens; the rest is the cache's structure.
    token = r2jwt.generate_jwt_token(merchant_id=str(100_000 + 99_999), country=COUNTRY)
    token_bytes = sys.getsizeof(token)
    mid_bytes = sys.getsizeof(str(100_000 + 99_999))
    report.memory = {
        "token_chars": len(token),
        "per_token_breakdown": {
            "token_str": token_bytes,
            "merchant_id_str": mid_bytes,
            "cache_structure": big / big_entries - token_bytes - mid_bytes,
        },
        "cache_100k": {
            "entries": big_entries,
            "bytes": big,
            "bytes_per_token": big / big_entries,
        },
        "default_size_after_100k_merchants": {
            "entries": default_entries,
            "bound": DEFAULT_TOKEN_CACHE_SIZE,
            "bytes": default,
        },
        "size_100k_after_150k_merchants": {
            "entries": over_entries,
            "bound": 100_000,
            "bytes": over,
        },
    }


# -- 4. backend calls ----------------------------------------------------------------------------


def backend(report: Report) -> None:
    say("backend calls: MemorySource + FakeClock, refreshes run inline (spawn=run_now)")
    document = json.dumps({"kid": KID, "secret": SECRET})
    mids = [str(100_000 + i) for i in range(1_000)]

    def one_thread(hour: bool) -> int:
        source, clock = MemorySource(document), FakeClock()
        signer = r2jwt.Signer(source, clock=clock, spawn=run_now)
        step = 3600 / 10_000 if hour else 0.0
        for i in range(10_000):
            signer.token(mid=mids[i % len(mids)], country=COUNTRY)
            clock.advance(step)
        return source.reads

    def sixteen_threads(hour: bool) -> int:
        source, clock = MemorySource(document), FakeClock()
        # Cold: the first load is raced for. Background refreshes run in the signing thread that
        # starts them (spawn=run_now): a fake hour passes faster than a real thread would start.
        signer = r2jwt.Signer(source, clock=clock, spawn=run_now)
        start_line = threading.Barrier(16)
        step = 3600 / 160_000 if hour else 0.0

        def work() -> None:
            start_line.wait()
            for i in range(10_000):
                signer.token(mid=mids[i % len(mids)], country=COUNTRY)
                if step:
                    clock.advance(step)

        workers = [threading.Thread(target=work) for _ in range(16)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        return source.reads

    report.backend = {
        "refresh_interval_s": 300,
        "one_thread_10k_tokens": one_thread(hour=False),
        "one_thread_10k_tokens_over_1h": one_thread(hour=True),
        "16_threads_x_10k_tokens": sixteen_threads(hour=False),
        "16_threads_x_10k_tokens_over_1h": sixteen_threads(hour=True),
    }


# -- 5. cold start -------------------------------------------------------------------------------


def cold_start(report: Report, runs: int) -> None:
    say(f"cold start: {runs} interleaved runs of each command")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "JWT_KID": KID,
        "JWT_SECRET": SECRET,
        "PYTHONDONTWRITEBYTECODE": "",
    }
    script = Path(sys.executable).with_name("r2jwt")
    r2jwt_token = (
        [str(script), "token"] if script.exists() else [sys.executable, "-m", "r2jwt", "token"]
    )
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        'python -c "import jwt"': [sys.executable, "-c", "import jwt"],
        "import jwt, PyJWT alone": [
            sys.executable,
            "-c",
            "import sys; sys.modules['cryptography'] = None; import jwt",
        ],
        "r2jwt token": r2jwt_token,
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for argv in commands.values():  # warm the page cache and the bytecode caches
        subprocess.run(argv, env=env, capture_output=True, check=True, timeout=60)
    for _ in range(runs):
        for name, argv in commands.items():
            start = perf_counter_ns()
            subprocess.run(argv, env=env, capture_output=True, check=True, timeout=60)
            times[name].append((perf_counter_ns() - start) / 1e6)

    probe = (
        "import sys, json\n"
        "before = set(sys.modules)\n"
        "import r2jwt\n"
        "r2jwt.Signer('env://').token(mid='1', country='MX')\n"
        "r2jwt.generate_jwt_token(merchant_id='1', country='MX')\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    loaded: list[str] = json.loads(proc.stdout)
    top = sorted({m.split(".")[0] for m in loaded})
    heavy = ["boto3", "botocore", "hvac", "requests", "httpx", "jwt", "cryptography"]
    report.cold_start = {
        "ms_median": {name: statistics.median(v) for name, v in times.items()},
        "runs": runs,
        "modules_loaded_by_import_and_env_signing": len(loaded),
        "top_level_packages": top,
        "heavy_loaded": [m for m in heavy if m in top],
    }


# -- targets -------------------------------------------------------------------------------------


def targets(report: Report) -> None:
    rows = {row["key"]: row for row in report.per_token}
    cold = report.cold_start["ms_median"]
    jwt_alone = cold["import jwt, PyJWT alone"]
    mem = report.memory["cache_100k"]["bytes"]
    checks: list[tuple[str, float, str, bool]] = []

    def ratio(key: str, field_: str) -> float:
        return float(rows[key].get(field_, float("nan")))

    checks.append(
        (
            "token() hit >= 25x faster than the sample (aim 100x)",
            ratio("token_hit", "x_faster_than_sample"),
            "x",
            ratio("token_hit", "x_faster_than_sample") >= 25,
        )
    )
    checks.append(
        (
            "mint() >= 4x faster than the sample",
            ratio("mint", "x_faster_than_sample"),
            "x",
            ratio("mint", "x_faster_than_sample") >= 4,
        )
    )
    checks.append(
        (
            "mint() within 1.5x of the HMAC floor",
            ratio("mint", "x_floor"),
            "x floor",
            ratio("mint", "x_floor") <= 1.5,
        )
    )
    checks.append(
        (
            "generate_jwt_token >= 3x faster than the sample",
            ratio("generate_jwt_token", "x_faster_than_sample"),
            "x",
            ratio("generate_jwt_token", "x_faster_than_sample") >= 3,
        )
    )
    checks.append(
        ("100k cached merchants < 16 MB", mem / 1e6, "MB", mem < 16e6),
    )
    checks.append(
        (
            'cold start <= 2x python -c "import jwt" (PyJWT alone)',
            cold["r2jwt token"] / jwt_alone,
            "x",
            cold["r2jwt token"] <= 2 * jwt_alone,
        )
    )
    reads = report.backend["16_threads_x_10k_tokens"]
    checks.append(("16 threads x 10,000 tokens -> one source read", reads, "reads", reads == 1))
    checks.append(
        (
            "env signing imports no boto3, botocore, hvac, requests",
            len(report.cold_start["heavy_loaded"]),
            "loaded",
            not set(report.cold_start["heavy_loaded"]) & {"boto3", "botocore", "hvac", "requests"},
        )
    )
    if "ns_per_token" in rows["go_sample"]:
        go_ns, mint_ns = rows["go_sample"]["ns_per_token"], rows["mint"]["ns_per_token"]
        checks.append(("mint() cheaper than R2's Go sample", go_ns / mint_ns, "x", mint_ns < go_ns))
    hit_ns, clocks_ns = rows["token_hit"]["ns_per_token"], rows["clocks"]["ns_per_token"]
    report.notes.append(
        f"token() hit: its two clock reads alone take {clocks_ns:.0f} ns here, "
        f"{100 * clocks_ns / hit_ns:.0f}% of the {hit_ns:.0f} ns a hit costs."
    )
    unavoidable = (
        report.memory["per_token_breakdown"]["token_str"]
        + report.memory["per_token_breakdown"]["merchant_id_str"]
    )
    report.notes.append(
        f"memory: 16 MB / 100k is 160 B per cached token; the token string and its merchant id "
        f"alone take {unavoidable} B."
    )
    report.targets = [
        {"target": name, "value": value, "unit": unit, "status": "pass" if ok else "short"}
        for name, value, unit, ok in checks
    ]


# -- output --------------------------------------------------------------------------------------


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        out = [cells[0].ljust(widths[0])]
        out += [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "| " + " | ".join(out) + " |"

    rule = "| " + " | ".join(["-" * widths[0]] + ["-" * (w - 1) + ":" for w in widths[1:]]) + " |"
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def render(report: Report) -> str:
    m = report.machine
    parts = [
        f"r2jwt {m['r2jwt']} · Python {m['python']} · PyJWT {m['pyjwt']} · {m['cpus']} CPUs · "
        f"{m['platform']}",
        "",
        "Per-token cost (median of interleaved rounds; ratios are medians of per-round ratios)",
        "",
    ]
    rows = []
    for row in report.per_token:
        if "skipped" in row:
            rows.append([row["label"], row["skipped"], "", "", ""])
            continue
        if row["key"] == "clocks":
            rows.append([row["label"], f"{row['ns_per_token'] / 1000:.2f} µs", "", "", ""])
            continue
        rows.append(
            [
                row["label"],
                f"{row['ns_per_token'] / 1000:.2f} µs",
                f"{row['tokens_per_s']:,.0f}",
                f"{row['x_faster_than_sample']:.1f}x",
                f"{row['x_floor']:.2f}x",
            ]
        )
    parts.append(table(["", "per token", "tokens/s", "vs sample", "vs floor"], rows))

    t = report.threads["tokens_per_s"]
    parts += ["", f"Threads sharing one Signer (tokens/s; {report.threads['cpus']} CPUs)", ""]
    counts = list(t["token"])
    parts.append(
        table(
            ["threads", *counts],
            [
                ["token() hit", *(f"{t['token'][c]:,.0f}" for c in counts)],
                ["mint()", *(f"{t['mint'][c]:,.0f}" for c in counts)],
            ],
        )
    )

    mem = report.memory
    big = mem["cache_100k"]
    d = mem["default_size_after_100k_merchants"]
    o = mem["size_100k_after_150k_merchants"]
    parts += [
        "",
        "Memory (tracemalloc: what the Signer retains, merchant-id strings included)",
        "",
        table(
            ["", "entries", "retained", "per token"],
            [
                [
                    "100k merchants, token_cache_size=100_000",
                    f"{big['entries']:,}",
                    f"{big['bytes'] / 1e6:.1f} MB",
                    f"{big['bytes_per_token']:.0f} B",
                ],
                [
                    f"100k merchants, default size ({d['bound']:,})",
                    f"{d['entries']:,}",
                    f"{d['bytes'] / 1e6:.1f} MB",
                    f"{d['bytes'] / max(d['entries'], 1):.0f} B",
                ],
                [
                    "150k merchants, token_cache_size=100_000",
                    f"{o['entries']:,}",
                    f"{o['bytes'] / 1e6:.1f} MB",
                    f"{o['bytes'] / max(o['entries'], 1):.0f} B",
                ],
            ],
        ),
    ]
    split = mem["per_token_breakdown"]
    parts.append(
        f"\none cached token: token string {split['token_str']} B ({mem['token_chars']} chars)"
        f" + merchant id {split['merchant_id_str']} B + the cache's own structures "
        f"{split['cache_structure']:.0f} B (key tuple, entry, reuse deadline, ordered-dict slot)"
    )

    b = report.backend
    parts += [
        "",
        f"Source reads (default refresh_interval={b['refresh_interval_s']} s, less up to 10% "
        "jitter; fake clock, refreshes run inline)",
        "",
        table(
            ["", "10,000 tokens", "10,000 tokens over 1 h"],
            [
                [
                    "1 thread",
                    str(b["one_thread_10k_tokens"]),
                    str(b["one_thread_10k_tokens_over_1h"]),
                ],
                [
                    "16 threads x 10,000 tokens",
                    str(b["16_threads_x_10k_tokens"]),
                    str(b["16_threads_x_10k_tokens_over_1h"]),
                ],
            ],
        ),
    ]

    c = report.cold_start
    parts += [
        "",
        f"Cold start (median of {c['runs']} runs, ms)",
        "",
        table(["command", "ms"], [[k, f"{v:.0f}"] for k, v in c["ms_median"].items()]),
        "",
        f"import r2jwt + env:// signing loads {c['modules_loaded_by_import_and_env_signing']} "
        f"modules: {', '.join(c['top_level_packages'])}",
        "",
        "Targets",
        "",
    ]
    parts.append(
        table(
            ["target", "measured", "status"],
            [[t["target"], f"{t['value']:.3g} {t['unit']}", t["status"]] for t in report.targets],
        )
    )
    if report.notes:
        parts += ["", "Notes", *(f"- {n}" for n in report.notes)]
    return "\n".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--rounds", type=int, default=11, help="interleaved rounds (default 11)")
    parser.add_argument(
        "--sample-ms", type=float, default=20.0, help="time per row per round (default 20 ms)"
    )
    args = parser.parse_args()
    started = time.perf_counter()

    report = Report()
    report.machine = {
        "r2jwt": r2jwt.__version__,
        "python": platform.python_version(),
        "pyjwt": jwt.__version__,
        "cpus": os.cpu_count(),
        "platform": platform.platform(terse=True),
    }
    per_token(report, args.rounds, args.sample_ms)
    threads(report, seconds=0.2, rounds=5)
    memory(report)
    backend(report)
    cold_start(report, runs=7)
    targets(report)
    report.machine["bench_seconds"] = round(time.perf_counter() - started, 1)

    if args.json:
        json.dump(report.__dict__, sys.stdout, indent=2)
        print()
    else:
        print(render(report))
        print(f"\n(make bench, {report.machine['bench_seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
