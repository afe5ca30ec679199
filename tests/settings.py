"""Test settings: a throwaway data directory and the OWASP-floor hasher for speed."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("SEKISHO_DATA", tempfile.mkdtemp(prefix="sekisho-test-"))

from sekisho.settings import *  # noqa: F403

# OWASP's floor (m=19 MiB, t=2, p=1): production parameters are higher, tests need speed.
PASSWORD_HASHERS = ["tests.hashers.FloorArgon2PasswordHasher"]
