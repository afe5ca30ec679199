"""Directory storage: users, groups and sign-in throttles."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import connection, models


class UserManager(BaseUserManager["User"]):
    """Creates users; passwords are always hashed by the configured Argon2 hasher."""

    def create_user(
        self, username: str, email: str, display_name: str = "", password: str | None = None
    ) -> User:
        """Create and save a user (an unusable password if none is given)."""
        user = self.model(username=username, email=email, display_name=display_name or username)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user


class User(AbstractBaseUser):
    """A person who signs in to Sekisho."""

    STATUS_ACTIVE = "active"
    STATUS_DISABLED = "disabled"
    STATUS_CHOICES: ClassVar[list[tuple[str, str]]] = [
        (STATUS_ACTIVE, "active"),
        (STATUS_DISABLED, "disabled"),
    ]

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    username = models.CharField(max_length=128, unique=True)
    # Case-folded NFC form: "Alice" and "alice" cannot both exist, and either signs in.
    username_key = models.CharField(max_length=128, unique=True)
    email = models.CharField(max_length=254)
    display_name = models.CharField(max_length=256)
    status = models.CharField(max_length=16, choices=STATUS_CHOICES, default=STATUS_ACTIVE)
    must_change_password = models.BooleanField(default=False)
    # An IANA zone name ("Asia/Tokyo") for the times this person sees; empty: the IdP's.
    time_zone = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    USERNAME_FIELD = "username"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = ["email"]

    objects: ClassVar[UserManager] = UserManager()

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        """Disabled users cannot sign in."""
        return self.status == self.STATUS_ACTIVE

    def memberships(self) -> tuple[tuple[int, str], ...]:
        """(id, name) of the groups the user belongs to, by name; read once per instance.

        A request reads them for its policy decision, its assignment check and the
        assertion's attributes: one query. directory.services' membership changes
        forget the memo of the instance they were given.
        """
        cached: tuple[tuple[int, str], ...] | None = self.__dict__.get("_memberships")
        if cached is None:
            # Plain SQL: read on every launch and sign-in, where the ORM's compilation of
            # this join cost more than running it.
            through = Group.members.through._meta.db_table
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT g.id, g.name FROM {Group._meta.db_table} g JOIN {through} m"  # noqa: S608 - table names are ours
                    " ON m.group_id = g.id WHERE m.user_id = %s",
                    [self.pk],
                )
                rows = cursor.fetchall()
            # Sorted here, not by the database: the same order whatever its collation.
            cached = tuple(sorted(((int(pk), str(name)) for pk, name in rows), key=lambda r: r[1]))
            self.__dict__["_memberships"] = cached
        return cached

    def forget_memberships(self) -> None:
        """Drop the memo (after this instance's groups changed)."""
        self.__dict__.pop("_memberships", None)

    def group_ids(self) -> tuple[int, ...]:
        """Ids of the groups the user belongs to."""
        return tuple(pk for pk, _name in self.memberships())

    def group_names(self) -> tuple[str, ...]:
        """Names of the groups the user belongs to, sorted."""
        return tuple(name for _pk, name in self.memberships())

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Keep username_key in step with username."""
        from sekisho.directory.rules import username_key

        self.username_key = username_key(self.username)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "username" in update_fields:
            kwargs["update_fields"] = {*update_fields, "username_key"}
        super().save(*args, **kwargs)

    def set_password(self, raw_password: str | None) -> None:
        """Hash the NFKC-normalised password (so every keyboard's form of it matches)."""
        from sekisho.directory.rules import normalize_password

        super().set_password(None if raw_password is None else normalize_password(raw_password))

    def check_password(self, raw_password: str | None) -> bool:
        """Check the NFKC-normalised password."""
        from sekisho.directory.rules import normalize_password

        if raw_password is None:
            return False
        return super().check_password(normalize_password(raw_password))

    def __str__(self) -> str:
        return self.username


class Group(models.Model):
    """A named set of users, assignable to applications."""

    name = models.CharField(max_length=128, unique=True)
    description = models.CharField(max_length=512, blank=True, default="")
    members = models.ManyToManyField(User, related_name="groups_joined", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class DirectorySettings(models.Model):
    """Directory-wide settings (one row): the time zone pages show times in by default."""

    singleton = models.BooleanField(default=True, unique=True)
    time_zone = models.CharField(max_length=64, default="UTC")
    updated_at = models.DateTimeField(auto_now=True)

    @classmethod
    def current(cls) -> DirectorySettings:
        """The settings row, created with the defaults on first use."""
        row, _ = cls.objects.get_or_create(singleton=True)
        return row


class SignInThrottle(models.Model):
    """Failed sign-in counters for one scope: an account or a source address."""

    scope = models.CharField(max_length=300, unique=True)
    failures = models.IntegerField(default=0)
    window_started = models.DateTimeField(null=True)
    locked_until = models.DateTimeField(null=True)
    lockouts = models.IntegerField(default=0)
    # Attempts admitted and still being verified (throttle.begin_attempt).
    in_flight = models.IntegerField(default=0)
    in_flight_since = models.DateTimeField(null=True)
