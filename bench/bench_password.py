"""Measure argon2id password hashing at Sekisho's parameters beside OWASP's floor, on one core.

Run: .venv/bin/python bench/bench_password.py
"""

from __future__ import annotations

import os
import statistics
import time

from argon2 import PasswordHasher, Type

ROUNDS = 7


def median_seconds(hasher: PasswordHasher, rounds: int = ROUNDS) -> float:
    """Median wall time of one hash+verify pair."""
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        digest = hasher.hash("correct horse battery staple")
        hasher.verify(digest, "correct horse battery staple")
        samples.append((time.perf_counter() - start) / 2)
    return statistics.median(samples)


def main() -> None:
    """Print both figures and their ratio."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    from sekisho.directory.hashers import SekishoArgon2PasswordHasher as Ours

    ours = PasswordHasher(
        time_cost=Ours.time_cost,
        memory_cost=Ours.memory_cost,
        parallelism=Ours.parallelism,
        type=Type.ID,
    )
    floor = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, type=Type.ID)
    ours_s = median_seconds(ours)
    floor_s = median_seconds(floor)
    print(f"argon2id OWASP floor (m=19 MiB, t=2, p=1): {floor_s * 1000:7.1f} ms per hash (median)")
    print(
        f"argon2id Sekisho (m={Ours.memory_cost // 1024} MiB, t={Ours.time_cost}, "
        f"p={Ours.parallelism}):   {ours_s * 1000:7.1f} ms per hash (median)"
    )
    print(f"cost ratio Sekisho/floor: {ours_s / floor_s:.2f}x")


if __name__ == "__main__":
    main()
