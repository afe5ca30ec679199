"""A cheaper argon2id hasher for the test suite only."""

from sekisho.directory.hashers import SekishoArgon2PasswordHasher


class FloorArgon2PasswordHasher(SekishoArgon2PasswordHasher):
    """argon2id at OWASP's floor: m=19 MiB, t=2, p=1."""

    time_cost = 2
    memory_cost = 19456
    parallelism = 1
