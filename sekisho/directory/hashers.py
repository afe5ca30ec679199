"""Password hashing: argon2id with SEKISHO_PASSWORD_HASH's parameters (see README)."""

from __future__ import annotations

from django.contrib.auth.hashers import Argon2PasswordHasher

from sekisho.config import get_config


class SekishoArgon2PasswordHasher(Argon2PasswordHasher):
    """argon2id with the configured parameters; default m=64 MiB, t=3, p=1.

    Django rehashes a stored password whose parameters differ from these at its next
    successful check (must_update), so changing SEKISHO_PASSWORD_HASH upgrades every
    account at its owner's next sign-in. bench/bench_password.py measures the cost.
    """

    algorithm = "argon2"

    @property
    def time_cost(self) -> int:  # type: ignore[override]
        """Iterations (t)."""
        return get_config().password_hash.time_cost

    @property
    def memory_cost(self) -> int:  # type: ignore[override]
        """Memory in KiB (m)."""
        return get_config().password_hash.memory_kib

    @property
    def parallelism(self) -> int:  # type: ignore[override]
        """Lanes (p)."""
        return get_config().password_hash.parallelism
