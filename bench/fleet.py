"""Fleet simulation: many signers sharing one store, through a rotation and an outage.

Every instance is a real ``r2jwt.Signer`` (the real key cache, selection and backoff code) on a
shared fake clock, reading one shared in-memory store that counts reads. Instances start at
random moments, so their refresh phases differ, as in a real fleet. Refreshes run in the
signing thread (``spawn=run_now``) so the count of backend calls is exact.

    .venv/bin/python bench/fleet.py            # N = 1,000; prints a table
    .venv/bin/python bench/fleet.py --json

Three scenarios:
1. rotation: ops add a new key whose not_before is one refresh interval ahead; count tokens
   signed with the wrong kid on either side of the switch instant (goal: 0).
2. steady state: backend calls per instance per day at the default refresh interval.
3. outage: the store fails (transient errors) for 30 minutes; backend load with r2jwt's backoff
   versus a client that retries on every call, and how many tokens were still signed.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import r2jwt.key_cache
from r2jwt import Signer, SourceError
from r2jwt.jws import decode_unverified
from r2jwt.keys import format_time
from r2jwt.testing import FakeClock, FaultySource, MemorySource, run_now

INTERVAL = 300.0
MAX_STALE = 3600.0
T0 = 1_780_272_000.0  # 2026-06-01T00:00:00Z
OLD = {"kid": "r2-old", "secret": "old-secret-for-the-simulation-0123456789"}
NEW = {"kid": "r2-new", "secret": "new-secret-for-the-simulation-0123456789"}


def iso(t: float) -> str:
    return format_time(datetime.fromtimestamp(t, UTC))


@dataclass
class Fleet:
    size: int
    seed: int
    clock: FakeClock = field(init=False)
    store: MemorySource = field(init=False)
    source: FaultySource = field(init=False)
    signers: list[Signer] = field(default_factory=list)
    start_at: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.clock = FakeClock(wall=T0)
        self.store = MemorySource(json.dumps({"keys": [OLD]}))
        self.source = FaultySource(self.store, clock=self.clock)
        rng = random.Random(self.seed)
        # Each instance starts at a random second of the first refresh interval.
        self.start_at = sorted(rng.uniform(0, INTERVAL) for _ in range(self.size))

    def step(self, elapsed: float, sign: bool = True) -> list[str]:
        # token(), the cached path services use: a cached token must switch kid on time too.
        """Start the instances due by ``elapsed``; each running one signs once."""
        while len(self.signers) < self.size and self.start_at[len(self.signers)] <= elapsed:
            self.signers.append(
                Signer(
                    self.source,
                    clock=self.clock,
                    spawn=run_now,
                    refresh_interval=INTERVAL,
                    max_stale=MAX_STALE,
                )
            )
        return [signer.token() for signer in self.signers] if sign else []


def rotation(size: int, seed: int, lead: float) -> dict[str, Any]:
    """Ops add the new key at 600 s with not_before ``lead`` seconds later."""
    fleet = Fleet(size, seed)
    added_at = 2 * INTERVAL
    switch_at, end = added_at + lead, added_at + lead + 2 * INTERVAL
    wrong = Counter[str]()
    late: set[int] = set()
    signed = 0
    for second in range(int(end)):
        elapsed = float(second)
        if elapsed == added_at:  # ops run: r2jwt keys add --not-before +<lead>
            new = {**NEW, "not_before": iso(T0 + switch_at)}
            fleet.store.set(json.dumps({"keys": [OLD, new]}))
        for n, token in enumerate(fleet.step(elapsed)):
            kid = decode_unverified(token)[0]["kid"]
            expected = NEW["kid"] if elapsed >= switch_at else OLD["kid"]
            signed += 1
            if kid != expected:
                wrong["after" if elapsed >= switch_at else "before"] += 1
                late.add(n)
        fleet.clock.advance(1)
    return {
        "instances": size,
        "not_before_lead_s": lead,
        "tokens_signed": signed,
        "wrong_kid_after_switch": wrong["after"],
        "new_kid_before_switch": wrong["before"],
        "instances_late": len(late),
        "instances_on_new_kid_at_end": sum(
            decode_unverified(s.token())[0]["kid"] == NEW["kid"] for s in fleet.signers
        ),
    }


def steady_state(size: int, seed: int) -> dict[str, Any]:
    fleet = Fleet(size, seed)
    step = 10.0
    for n in range(int(86_400 / step)):
        fleet.step(n * step)
        fleet.clock.advance(step)
    # The first load of each instance is not a refresh; count the rest over the day.
    per_instance = (fleet.source.calls - size) / size
    return {
        "instances": size,
        "refresh_interval_s": INTERVAL,
        "calls_per_instance_per_day": round(per_instance, 1),
        # Refreshes come every refresh_interval less up to 10 %: 285 s on average.
        "expected": round(86_400 / (INTERVAL * (1 - r2jwt.key_cache.JITTER / 2))),
    }


def outage(size: int, seed: int, *, backoff: bool) -> dict[str, Any]:
    fleet = Fleet(size, seed)
    saved = r2jwt.key_cache.BACKOFF_BASE
    if not backoff:
        # No backoff: every caller that finds the refresh due retries at once.
        r2jwt.key_cache.BACKOFF_BASE = 0.0
    try:
        start, length = 2 * INTERVAL, 1800
        per_second: list[int] = []
        signed = 0
        for second in range(int(start + length + INTERVAL)):
            elapsed = float(second)
            if elapsed == start:
                fleet.source.go_down(SourceError("throttled", source="memory://", transient=True))
            if elapsed == start + length:
                fleet.source.come_back()
            before = fleet.source.calls
            tokens = fleet.step(elapsed)
            if start <= elapsed < start + length:
                per_second.append(fleet.source.calls - before)
                signed += len(tokens)
            fleet.clock.advance(1)
        recovered = sum(s.stats().incident is None for s in fleet.signers)
    finally:
        r2jwt.key_cache.BACKOFF_BASE = saved
    total = sum(per_second)
    return {
        "instances": size,
        "outage_s": length,
        "backend_calls_during_outage": total,
        "calls_per_instance": round(total / size, 1),
        "peak_calls_per_second": max(per_second),
        "mean_calls_per_second": round(statistics.fmean(per_second), 1),
        "tokens_signed_during_outage": signed,
        "tokens_refused_during_outage": size * length - signed,
        "instances_recovered_within_one_interval": recovered,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    logging.disable(logging.WARNING)  # thousands of instances each log their incident
    started = time.perf_counter()
    results = {
        "rotation_too_short": rotation(args.instances, args.seed, lead=INTERVAL * 0.8),
        "rotation_one_interval": rotation(args.instances, args.seed, lead=INTERVAL),
        "steady_state": steady_state(min(args.instances, 100), args.seed),
        "outage_with_backoff": outage(args.instances, args.seed, backoff=True),
        "outage_without_backoff": outage(args.instances, args.seed, backoff=False),
        "seconds": round(time.perf_counter() - started, 1),
    }
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    day = results["steady_state"]
    rotations = results["rotation_too_short"], results["rotation_one_interval"]
    on, off = results["outage_with_backoff"], results["outage_without_backoff"]
    print(
        f"Fleet of {args.instances} signers, refresh_interval {INTERVAL:.0f} s (-10 % jitter), "
        f"max_stale {MAX_STALE:.0f} s, random start phases (seed {args.seed})"
    )
    print()
    print("Rotation: ops add the new kid with not_before LEAD seconds ahead")
    print(f"  {'LEAD':36}" + "".join(f"{r['not_before_lead_s']:>14.0f} s" for r in rotations))
    for label, key in (
        ("tokens signed", "tokens_signed"),
        ("old kid after the switch (goal 0)", "wrong_kid_after_switch"),
        ("new kid before the switch (goal 0)", "new_kid_before_switch"),
        ("instances that switched late", "instances_late"),
        ("instances on the new kid at the end", "instances_on_new_kid_at_end"),
    ):
        print(f"  {label:36}" + "".join(f"{r[key]:>16,}" for r in rotations))
    print()
    print(f"Steady state ({day['instances']} instances over one simulated day)")
    print(
        f"  backend calls per instance per day    {day['calls_per_instance_per_day']:>12}"
        f"   (86,400 s / 285 s mean = {day['expected']}; sampled every 10 s)"
    )
    print()
    print("30-minute outage (transient errors), all instances signing once a second")
    print(f"  {'':36}{'with backoff':>14}{'retry every call':>18}")
    for label, key in (
        ("backend calls during the outage", "backend_calls_during_outage"),
        ("calls per instance", "calls_per_instance"),
        ("peak calls per second", "peak_calls_per_second"),
        ("mean calls per second", "mean_calls_per_second"),
        ("tokens signed during the outage", "tokens_signed_during_outage"),
        ("tokens refused during the outage", "tokens_refused_during_outage"),
        ("recovered within one interval", "instances_recovered_within_one_interval"),
    ):
        print(f"  {label:36}{on[key]:>14,}{off[key]:>18,}")
    print()
    print(f"({results['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
