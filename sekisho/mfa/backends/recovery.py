"""Recovery codes as an MFA method: generated, never registered; each works once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction

from sekisho.crypto import constant_time_equals
from sekisho.directory.models import User
from sekisho.mfa import errors, recovery
from sekisho.mfa.backends.common import box
from sekisho.mfa.methods import Device, MfaContext, Prompt, Verified, register
from sekisho.mfa.models import RecoveryCode


def _key() -> bytes:
    return box().derive("recovery-codes")


class RecoveryMethod:
    """Ten single-use codes for when no device is at hand."""

    name = "recovery"
    credential_type = "RECOVERY_CODE"
    label = "Recovery code"
    max_devices = 1  # one set at a time; generating a new set replaces it
    user_selectable = False

    def available(self) -> bool:
        """Always usable."""
        return True

    def remaining(self, user: User) -> int:
        """How many unused codes the user has."""
        return RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()

    def devices(self, user: User) -> list[Device]:
        """The user's current set, as one entry, when any code is left."""
        codes = list(RecoveryCode.objects.filter(user=user).order_by("created_at"))
        left = [c for c in codes if c.used_at is None]
        if not left:
            return []
        used = [c.used_at for c in codes if c.used_at is not None]
        return [
            Device(
                method=self.name,
                id="set",
                name=self.label,
                created_at=codes[0].created_at,
                last_used_at=max(used) if used else None,
                detail=f"{len(left)} of {len(codes)} left",
            )
        ]

    def generate(self, user: User, ctx: MfaContext) -> list[str]:
        """Replace the user's set with ten new codes; the plain codes exist only in the result."""
        codes = recovery.new_codes(ctx.random)
        key, now, uid = _key(), ctx.clock.now(), str(user.uid)
        with transaction.atomic():
            RecoveryCode.objects.filter(user=user).delete()
            RecoveryCode.objects.bulk_create(
                RecoveryCode(
                    user=user, digest=recovery.digest(c, key=key, user_uid=uid), created_at=now
                )
                for c in codes
            )
        return codes

    def begin_enroll(self, user: User, ctx: MfaContext) -> Prompt:
        """A new set of codes, shown once."""
        return Prompt(data={"codes": self.generate(user, ctx)})

    def finish_enroll(
        self,
        user: User,
        ctx: MfaContext,
        *,
        state: Mapping[str, Any],
        form: Mapping[str, str],
        name: str,
    ) -> Device:
        """Nothing to confirm: the set exists once generated."""
        found = self.devices(user)
        if not found:
            raise errors.EnrollmentExpired("no recovery codes were generated")
        return found[0]

    def begin_verify(self, user: User, ctx: MfaContext) -> Prompt:
        """Nothing to prepare: the person types one code."""
        return Prompt()

    def finish_verify(
        self,
        user: User,
        ctx: MfaContext,
        *,
        state: Mapping[str, Any],
        form: Mapping[str, str],
    ) -> Verified:
        """Accept an unused code once; it is marked used in the same transaction."""
        wanted = recovery.digest(form.get("code", ""), key=_key(), user_uid=str(user.uid))
        with transaction.atomic():
            rows = list(
                RecoveryCode.objects.select_for_update().filter(user=user, used_at__isnull=True)
            )
            # Compare against every row so the time does not tell which position matched.
            match = None
            for row in rows:
                if constant_time_equals(row.digest, wanted):
                    match = row
            if match is None:
                raise errors.RecoveryCodeInvalid()
            match.used_at = ctx.clock.now()
            match.save(update_fields=["used_at"])
        return Verified(method=self.name, device_id=str(match.pk), credential_type="RECOVERY_CODE")

    def rename(self, user: User, device_id: str, name: str) -> bool:
        """Recovery codes have no name."""
        return False

    def remove(self, user: User, device_id: str) -> bool:
        """Delete the user's set."""
        deleted, _ = RecoveryCode.objects.filter(user=user).delete()
        return deleted > 0

    def remove_all(self, user: User) -> int:
        """Delete the user's set; counts as one device."""
        return 1 if self.remove(user, "set") else 0


METHOD = register(RecoveryMethod())
