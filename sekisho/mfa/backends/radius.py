"""RADIUS one-time passwords (RFC 2865 PAP, single-step or Access-Challenge) as an MFA method."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction

from sekisho.directory.models import User
from sekisho.memo import remembered
from sekisho.mfa import errors, radius
from sekisho.mfa.methods import Device, MfaContext, Prompt, Verified, register
from sekisho.mfa.models import SERVERS_MEMO, RadiusAccount, RadiusServer
from sekisho.mfa.radius_admin import radius_username, server_configs


def _device(row: RadiusAccount) -> Device:
    return Device(
        method="radius",
        id=str(row.pk),
        name=row.name or RadiusMethod.label,
        created_at=row.confirmed_at,
        last_used_at=row.last_used_at,
        detail="RADIUS one-time password",
    )


def _challenge_prompt(outcome: radius.Challenge) -> Prompt:
    """The server's question; the State goes back to the same server with the next code."""
    return Prompt(
        data={"challenge": True, "message": outcome.message},
        state={"radius_state": radius.encode_state(outcome.state), "server": outcome.server},
    )


def exchange(user: User, *, state: Mapping[str, Any], code: str) -> radius.Outcome:
    """One Access-Request for this user: a fresh one, or the answer to a kept challenge."""
    servers = server_configs()
    radius_state = radius.decode_state(state.get("radius_state"))
    if radius_state is not None:
        # The State means something only to the server that issued it: no failover.
        servers = [server for server in servers if server.name == state.get("server")]
        if not servers:
            raise errors.RadiusUnavailable(
                "the RADIUS server that asked for this code is no longer configured"
            )
    return radius.authenticate(
        servers, username=radius_username(user), password=code, state=radius_state
    )


class RadiusMethod:
    """A code checked by the organisation's RADIUS server (token, SMS or push gateway)."""

    name = "radius"
    credential_type = "RADIUS"
    label = "RADIUS one-time password"
    max_devices = 1
    user_selectable = True

    def available(self) -> bool:
        """Usable once an administrator added a server (`sekisho radius add`)."""
        return remembered(SERVERS_MEMO, RadiusServer.objects.exists)

    def devices(self, user: User) -> list[Device]:
        """The user's RADIUS identity, once a first exchange confirmed it."""
        rows = RadiusAccount.objects.filter(user=user, confirmed_at__isnull=False)
        return [_device(row) for row in rows]

    def begin_enroll(self, user: User, ctx: MfaContext) -> Prompt:
        """Nothing to generate: the person proves they hold the RADIUS token once."""
        return Prompt(data={"message": "", "username": radius_username(user)})

    def finish_enroll(
        self,
        user: User,
        ctx: MfaContext,
        *,
        state: Mapping[str, Any],
        form: Mapping[str, str],
        name: str,
    ) -> Device | Prompt:
        """One accepted exchange confirms the RADIUS identity as the user's device."""
        outcome = exchange(user, state=state, code=form.get("code", ""))
        if isinstance(outcome, radius.Challenge):
            return _challenge_prompt(outcome)
        if isinstance(outcome, radius.Reject):
            raise errors.RadiusRejected()
        now = ctx.clock.now()
        with transaction.atomic():
            account, _ = RadiusAccount.objects.select_for_update().get_or_create(user=user)
            account.name = name or self.label
            account.confirmed_at = now
            account.last_used_at = now
            account.save(update_fields=["name", "confirmed_at", "last_used_at"])
        return _device(account)

    def begin_verify(self, user: User, ctx: MfaContext) -> Prompt:
        """Nothing to prepare: the person types the code (or password and code)."""
        return Prompt(data={"message": ""})

    def finish_verify(
        self,
        user: User,
        ctx: MfaContext,
        *,
        state: Mapping[str, Any],
        form: Mapping[str, str],
    ) -> Verified | Prompt:
        """Accept, ask again on Access-Challenge, or raise RadiusRejected/RadiusUnavailable."""
        account = RadiusAccount.objects.filter(user=user, confirmed_at__isnull=False).first()
        if account is None:
            raise errors.NoDevice("no RADIUS identity is registered")
        outcome = exchange(user, state=state, code=form.get("code", ""))
        if isinstance(outcome, radius.Challenge):
            return _challenge_prompt(outcome)
        if isinstance(outcome, radius.Reject):
            raise errors.RadiusRejected()
        RadiusAccount.objects.filter(pk=account.pk).update(last_used_at=ctx.clock.now())
        return Verified(method=self.name, device_id=str(account.pk), credential_type="RADIUS")

    def rename(self, user: User, device_id: str, name: str) -> bool:
        """Rename the user's RADIUS entry."""
        if not device_id.isdigit():
            return False
        updated = RadiusAccount.objects.filter(
            user=user, pk=int(device_id), confirmed_at__isnull=False
        ).update(name=name)
        return updated > 0

    def remove(self, user: User, device_id: str) -> bool:
        """Unregister it; the administrator's username mapping stays for a later registration."""
        if not device_id.isdigit():
            return False
        updated = RadiusAccount.objects.filter(
            user=user, pk=int(device_id), confirmed_at__isnull=False
        ).update(confirmed_at=None, last_used_at=None, name="")
        return updated > 0

    def remove_all(self, user: User) -> int:
        """Unregister it (admin reset), keeping the username mapping."""
        return RadiusAccount.objects.filter(user=user, confirmed_at__isnull=False).update(
            confirmed_at=None, last_used_at=None, name=""
        )


METHOD = register(RadiusMethod())
