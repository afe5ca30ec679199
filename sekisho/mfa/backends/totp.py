"""Authenticator apps (RFC 6238 TOTP) as an MFA method."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.db import transaction

from sekisho.directory.models import User
from sekisho.mfa import errors, totp
from sekisho.mfa.backends.common import box
from sekisho.mfa.methods import Device, MfaContext, Prompt, Verified, register
from sekisho.mfa.models import TotpDevice

ISSUER = "Sekisho"
PENDING_ENROLLMENT_TTL = timedelta(minutes=15)


def _secret_context(user: User) -> str:
    # Binds each sealed secret to its owner: a row copied to another user will not open.
    return f"totp-secret:{user.uid}"


def _device(row: TotpDevice) -> Device:
    return Device(
        method="totp",
        id=str(row.pk),
        name=row.name,
        created_at=row.confirmed_at or row.created_at,
        last_used_at=row.last_used_at,
        detail="authenticator app",
    )


class TotpMethod:
    """Authenticator apps: a QR code at registration, a 6-digit code at sign-in."""

    name = "totp"
    credential_type = "TOTP"
    label = "Authenticator app"
    max_devices = totp.MAX_DEVICES_PER_USER
    user_selectable = True

    def available(self) -> bool:
        """Always usable: nothing outside Sekisho is involved."""
        return True

    def devices(self, user: User) -> list[Device]:
        """The user's confirmed authenticator apps."""
        rows = TotpDevice.objects.filter(user=user, confirmed=True).order_by("created_at")
        return [_device(row) for row in rows]

    def begin_enroll(self, user: User, ctx: MfaContext) -> Prompt:
        """A new secret (or the pending one, within 15 minutes) with its URI and QR code."""
        now = ctx.clock.now()
        pending = (
            TotpDevice.objects.filter(
                user=user, confirmed=False, created_at__gte=now - PENDING_ENROLLMENT_TTL
            )
            .order_by("-created_at")
            .first()
        )
        if pending is None:
            TotpDevice.objects.filter(user=user, confirmed=False).delete()
            secret = totp.new_secret(ctx.random)
            pending = TotpDevice.objects.create(
                user=user,
                name="",
                sealed_secret=box().seal(secret.encode(), context=_secret_context(user)),
            )
        else:
            secret = box().open(pending.sealed_secret, context=_secret_context(user)).decode()
        uri = totp.provisioning_uri(secret=secret, account_name=user.username, issuer=ISSUER)
        grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
        return Prompt(
            data={"uri": uri, "secret_grouped": grouped, "secret": secret},
            state={"device_id": pending.pk},
        )

    def finish_enroll(
        self,
        user: User,
        ctx: MfaContext,
        *,
        state: Mapping[str, Any],
        form: Mapping[str, str],
        name: str,
    ) -> Device:
        """Confirm the pending app with a code it shows."""
        now = ctx.clock.now()
        device_id = state.get("device_id")
        with transaction.atomic():
            device = (
                TotpDevice.objects.select_for_update()
                .filter(pk=device_id if isinstance(device_id, int) else -1, user=user)
                .filter(confirmed=False)
                .first()
            )
            if device is None or device.created_at < now - PENDING_ENROLLMENT_TTL:
                raise errors.EnrollmentExpired("the registration expired; start again")
            secret = box().open(device.sealed_secret, context=_secret_context(user)).decode()
            step = totp.verify(
                secret=secret, code=form.get("code", ""), now=now, last_used_step=None
            )
            device.confirmed = True
            device.name = name or self.label
            device.confirmed_at = now
            device.last_used_step = step
            device.last_used_at = now
            device.save()
        return _device(device)

    def begin_verify(self, user: User, ctx: MfaContext) -> Prompt:
        """Nothing to prepare: the person types the code their app shows."""
        return Prompt()

    def finish_verify(
        self,
        user: User,
        ctx: MfaContext,
        *,
        state: Mapping[str, Any],
        form: Mapping[str, str],
    ) -> Verified:
        """Accept a fresh code from any of the user's apps (RFC 6238 §5.2: once per step)."""
        now = ctx.clock.now()
        normalized = totp.normalize_code(form.get("code", ""))
        failure: errors.MfaError = errors.InvalidCode("no authenticator app is registered")
        with transaction.atomic():
            rows = list(
                TotpDevice.objects.select_for_update()
                .filter(user=user, confirmed=True)
                .order_by("created_at")
            )
            for row in rows:
                secret = box().open(row.sealed_secret, context=_secret_context(user)).decode()
                try:
                    step = totp.verify(
                        secret=secret, code=normalized, now=now, last_used_step=row.last_used_step
                    )
                except errors.ReusedCode as exc:
                    failure = exc
                    continue
                except errors.InvalidCode as exc:
                    if not isinstance(failure, errors.ReusedCode):
                        failure = exc
                    continue
                row.last_used_step = step
                row.last_used_at = now
                row.save(update_fields=["last_used_step", "last_used_at"])
                return Verified(method=self.name, device_id=str(row.pk), credential_type="TOTP")
        raise failure

    def rename(self, user: User, device_id: str, name: str) -> bool:
        """Rename one of the user's apps."""
        if not device_id.isdigit():
            return False
        updated = TotpDevice.objects.filter(user=user, pk=int(device_id), confirmed=True).update(
            name=name
        )
        return updated > 0

    def remove(self, user: User, device_id: str) -> bool:
        """Delete one of the user's apps."""
        if not device_id.isdigit():
            return False
        deleted, _ = TotpDevice.objects.filter(user=user, pk=int(device_id)).delete()
        return deleted > 0

    def remove_all(self, user: User) -> int:
        """Delete every app of the user, pending ones included."""
        confirmed = TotpDevice.objects.filter(user=user, confirmed=True).count()
        TotpDevice.objects.filter(user=user).delete()
        return confirmed


METHOD = register(TotpMethod())
