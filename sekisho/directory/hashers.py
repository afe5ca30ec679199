"""Password hashing: argon2id with parameters measured on our 2-core machines (see README)."""

from __future__ import annotations

from django.contrib.auth.hashers import Argon2PasswordHasher


class SekishoArgon2PasswordHasher(Argon2PasswordHasher):
    """argon2id, m=64 MiB, t=3, p=1: above OWASP's floor (m=19 MiB, t=2, p=1).

    Measured by bench/bench_password.py; keep one hash well under a quarter second on one
    core so sign-in stays quick while offline guessing stays expensive.
    """

    algorithm = "argon2"
    time_cost = 3
    memory_cost = 65536  # KiB
    parallelism = 1
