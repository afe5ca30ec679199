"""Security keys and passkeys (WebAuthn L3) as an MFA method, and passkey sign-in.

The ceremonies' checks are in ``sekisho.mfa.webauthn``; this module stores and finds
credentials. Throttling and audit of the MFA steps are done by ``sekisho.mfa.services``;
the passkey sign-in view does them for ``finish_passkey``.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction

from sekisho.config import get_config
from sekisho.directory import throttle
from sekisho.directory.models import User
from sekisho.mfa import errors
from sekisho.mfa import webauthn as core
from sekisho.mfa.methods import Device, MfaContext, Prompt, Verified, register
from sekisho.mfa.models import WebAuthnCredential
from sekisho.mfa.services import (
    ThrottleScope,
    allowed_method,
    audit_verification,
    current_policy,
    throttled_answer,
)

PASSKEY_PURPOSE = "passkey"


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _stored(row: WebAuthnCredential) -> core.StoredCredential:
    return core.StoredCredential(
        credential_id=row.credential_id,
        public_key=bytes(row.public_key),
        sign_count=row.sign_count,
        transports=tuple(t for t in row.transports if isinstance(t, str)),
    )


def _device(row: WebAuthnCredential) -> Device:
    return Device(
        method="webauthn",
        id=str(row.pk),
        name=row.name,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        detail=core.describe(
            discoverable=row.discoverable, backed_up=row.backed_up, transports=row.transports
        ),
    )


def _rows(user: User) -> list[WebAuthnCredential]:
    return list(WebAuthnCredential.objects.filter(user=user).order_by("created_at", "pk"))


def _challenge(user: User, ctx: MfaContext, state: Mapping[str, Any]) -> bytes:
    """The pending challenge, refused when it was issued to someone else (another sign-in)."""
    if state.get("user") != str(user.uid):
        raise errors.InvalidWebAuthnResponse(
            "no challenge is pending for this user (already used, or never issued)"
        )
    return core.challenge_from_state(state, now=ctx.clock.now())


def _assert(
    row: WebAuthnCredential,
    assertion: core.Assertion,
    ctx: MfaContext,
    *,
    challenge: bytes,
    require_user_verification: bool,
) -> core.Asserted:
    """Verify an assertion against a locked row, then store its counter and use time.

    On any refusal (CloneSuspected included) nothing is stored: a clone must not move
    the counter on for the genuine key.
    """
    asserted = core.verify_assertion(
        assertion,
        _stored(row),
        challenge=challenge,
        origin=ctx.origin,
        rp_id=ctx.rp_id,
        require_user_verification=require_user_verification,
    )
    row.sign_count = asserted.sign_count
    row.backed_up = asserted.backed_up
    row.last_used_at = ctx.clock.now()
    row.save(update_fields=["sign_count", "backed_up", "last_used_at"])
    return asserted


class WebAuthnMethod:
    """Passkeys (Touch ID, Windows Hello, a phone) and roaming security keys (USB, NFC)."""

    name = "webauthn"
    credential_type = "WEBAUTHN"
    label = "Security key or passkey"
    max_devices = core.MAX_CREDENTIALS_PER_USER
    user_selectable = True

    def available(self) -> bool:
        """Usable unless SEKISHO_BASE_URL names an IP address.

        An RP ID must be a domain (WebAuthn L3 §5.1.3 via the HTML "valid domain"):
        browsers refuse every ceremony at http://127.0.0.1, so the method is not offered
        there rather than failing at the browser.
        """
        return not _is_ip_literal(get_config().host)

    def devices(self, user: User) -> list[Device]:
        """The user's registered credentials, oldest first."""
        return [_device(row) for row in _rows(user)]

    def begin_enroll(self, user: User, ctx: MfaContext) -> Prompt:
        """Creation options for the browser, excluding the keys the user already has."""
        policy = current_policy()
        challenge, state = core.new_state(ctx.random, now=ctx.clock.now(), user=str(user.uid))
        options = core.registration_options(
            rp_id=ctx.rp_id,
            user_handle=user.uid.bytes,
            user_name=user.username,
            display_name=user.display_name,
            challenge=challenge,
            exclude=[_stored(row) for row in _rows(user)],
            user_verification=policy.user_verification,
            attestation_direct=bool(policy.aaguids),
        )
        return Prompt(data={"options": options}, state=state)

    def finish_enroll(
        self,
        user: User,
        ctx: MfaContext,
        *,
        state: Mapping[str, Any],
        form: Mapping[str, str],
        name: str,
    ) -> Device:
        """Verify the attestation (WebAuthn L3 §7.1) and store the new credential."""
        challenge = _challenge(user, ctx, state)
        parsed = core.parse_registration(form.get("credential", ""))
        policy = current_policy()
        registered = core.verify_registration(
            parsed,
            challenge=challenge,
            origin=ctx.origin,
            rp_id=ctx.rp_id,
            require_user_verification=policy.user_verification == "required",
            aaguids=policy.aaguids,
        )
        try:
            with transaction.atomic():
                # The user's row serialises two registrations racing for the last place.
                User.objects.select_for_update().filter(pk=user.pk).first()
                if WebAuthnCredential.objects.filter(user=user).count() >= self.max_devices:
                    raise errors.TooManyDevices(
                        f"at most {self.max_devices} security keys or passkeys per user"
                    )
                # WebAuthn L3 §7.1 step 25: a credential ID registered already is refused.
                if WebAuthnCredential.objects.filter(
                    credential_id=registered.credential_id
                ).exists():
                    raise errors.InvalidWebAuthnResponse("this credential is already registered")
                row = WebAuthnCredential.objects.create(
                    user=user,
                    name=name or self.label,
                    credential_id=registered.credential_id,
                    public_key=registered.public_key,
                    sign_count=registered.sign_count,
                    transports=list(registered.transports),
                    aaguid=registered.aaguid,
                    discoverable=bool(registered.discoverable),
                    backed_up=registered.backed_up,
                    created_at=ctx.clock.now(),
                )
        except IntegrityError:
            raise errors.InvalidWebAuthnResponse("this credential is already registered") from None
        return _device(row)

    def begin_verify(self, user: User, ctx: MfaContext) -> Prompt:
        """Request options listing the user's credentials with their transports."""
        challenge, state = core.new_state(ctx.random, now=ctx.clock.now(), user=str(user.uid))
        options = core.authentication_options(
            rp_id=ctx.rp_id,
            challenge=challenge,
            allow=[_stored(row) for row in _rows(user)],
            user_verification=current_policy().user_verification,
        )
        return Prompt(data={"options": options}, state=state)

    def finish_verify(
        self,
        user: User,
        ctx: MfaContext,
        *,
        state: Mapping[str, Any],
        form: Mapping[str, str],
    ) -> Verified:
        """Verify an assertion from one of the user's credentials (WebAuthn L3 §7.2)."""
        challenge = _challenge(user, ctx, state)
        assertion = core.parse_assertion(form.get("credential", ""))
        require_uv = current_policy().user_verification == "required"
        with transaction.atomic():
            row = (
                WebAuthnCredential.objects.select_for_update()
                .filter(user=user, credential_id=assertion.credential_id)
                .first()
            )
            if row is None:
                raise errors.UnknownCredential("this credential is not registered to this user")
            asserted = _assert(
                row, assertion, ctx, challenge=challenge, require_user_verification=require_uv
            )
        return Verified(
            method=self.name,
            device_id=str(row.pk),
            credential_type=self.credential_type,
            user_verified=asserted.user_verified,
        )

    def rename(self, user: User, device_id: str, name: str) -> bool:
        """Rename one of the user's credentials."""
        if not device_id.isdigit():
            return False
        return WebAuthnCredential.objects.filter(user=user, pk=int(device_id)).update(name=name) > 0

    def remove(self, user: User, device_id: str) -> bool:
        """Delete one of the user's credentials (the authenticator keeps its key, unused)."""
        if not device_id.isdigit():
            return False
        deleted, _ = WebAuthnCredential.objects.filter(user=user, pk=int(device_id)).delete()
        return deleted > 0

    def remove_all(self, user: User) -> int:
        """Delete every credential of the user."""
        deleted, _ = WebAuthnCredential.objects.filter(user=user).delete()
        return deleted


METHOD = register(WebAuthnMethod())


def begin_passkey(ctx: MfaContext) -> Prompt:
    """Options for signing in with a passkey alone: no allowCredentials, so the browser
    offers the discoverable credentials it has for this RP (WebAuthn L3 §5.5)."""
    allowed_method(METHOD.name)
    challenge, state = core.new_state(ctx.random, now=ctx.clock.now(), purpose=PASSKEY_PURPOSE)
    options = core.authentication_options(
        rp_id=ctx.rp_id, challenge=challenge, allow=[], user_verification="required"
    )
    return Prompt(data={"options": options}, state=state)


def finish_passkey(
    ctx: MfaContext, *, state: Mapping[str, Any], form: Mapping[str, str]
) -> tuple[User, Verified]:
    """Who signed in with a passkey: the owner of the credential, user-verified.

    User verification is required because the passkey replaces both the password and
    the second factor (WebAuthn L3 §6.2.3).
    """
    allowed_method(METHOD.name)
    if state.get("purpose") != PASSKEY_PURPOSE:
        raise errors.InvalidWebAuthnResponse(
            "no passkey challenge is pending (already used, or never issued)"
        )
    challenge = core.challenge_from_state(state, now=ctx.clock.now())
    assertion = core.parse_assertion(form.get("credential", ""))
    with transaction.atomic():
        row = (
            WebAuthnCredential.objects.select_for_update()
            .select_related("user")
            .filter(credential_id=assertion.credential_id)
            .first()
        )
        if row is None or not row.user.is_active:
            raise errors.UnknownCredential("no active account has this passkey")
        # WebAuthn L3 §7.2 step 6: the user handle names the account the credential is for.
        if assertion.user_handle is None:
            raise errors.InvalidWebAuthnResponse(
                "credential.response.userHandle: expected the account's user handle, got none "
                "(a security key that is not a passkey needs the username first)"
            )
        if assertion.user_handle != row.user.uid.bytes:
            raise errors.InvalidWebAuthnResponse(
                "credential.response.userHandle: expected the handle of the credential's "
                "owner, got another account's"
            )
        asserted = _assert(row, assertion, ctx, challenge=challenge, require_user_verification=True)
    verified = Verified(
        method=METHOD.name,
        device_id=str(row.pk),
        credential_type=METHOD.credential_type,
        user_verified=asserted.user_verified,
    )
    return row.user, verified


def passkey_owner(form: Mapping[str, str]) -> User | None:
    """The account a (possibly refused) passkey answer names, for the audit trail."""
    try:
        assertion = core.parse_assertion(form.get("credential", ""))
    except errors.MfaError:
        return None
    row = (
        WebAuthnCredential.objects.select_related("user")
        .filter(credential_id=assertion.credential_id)
        .first()
    )
    return row.user if row is not None else None


def passkey_scope(ctx: MfaContext) -> ThrottleScope:
    """The throttle scope of passkey sign-in, before anybody is named.

    A known browser (one that completed a sign-in) counts on its own; any other browser
    counts against its source address with the address budget, which a whole office's
    mistakes do not exhaust.
    """
    nonce = ctx.known.any_nonce() if ctx.known is not None else None
    if nonce is not None:
        digest = hashlib.sha256(nonce.encode()).hexdigest()[:32]
        return ThrottleScope(f"passkey-browser:{digest}", throttle.DEVICE_POLICY)
    return ThrottleScope(f"passkey:{ctx.request.source_ip}", throttle.ADDRESS_POLICY)


def sign_in_with_passkey(
    ctx: MfaContext, *, state: Mapping[str, Any], form: Mapping[str, str]
) -> tuple[User, Verified]:
    """The passkey sign-in decision: throttled per source address, audited either way.

    Raises the MfaError of a refusal after counting it (when it counts) and writing a
    CredentialVerification failure against the credential's owner, if one is named.
    """
    now = ctx.clock.now()
    scope = passkey_scope(ctx)
    try:
        user, verified = throttled_answer(
            scope, now=now, judge=lambda: finish_passkey(ctx, state=state, form=form)
        )
    except errors.MfaError as exc:
        owner = None if isinstance(exc, errors.MfaLocked) else passkey_owner(form)
        audit_verification(owner, METHOD.credential_type, ctx, success=False, reason=exc.code)
        raise
    audit_verification(user, verified.credential_type, ctx, success=True, reason=None)
    return user, verified
