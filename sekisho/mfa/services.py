"""MFA decisions for every method alike: settings, registration, verification, throttle, audit."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar, runtime_checkable

from django.db import transaction
from django.db.models import Q

from sekisho.audit import records
from sekisho.audit.writer import Actor, admin_audit, emit, identity_store_arn
from sekisho.clock import SYSTEM_CLOCK, Clock
from sekisho.directory import throttle
from sekisho.directory.models import SignInThrottle, User
from sekisho.directory.signin import browser_scope, load_throttle, peek_throttle, store_throttle
from sekisho.errors import ConfigError
from sekisho.mfa import errors, trust
from sekisho.mfa.methods import (
    REGISTRY,
    SELECTABLE_METHODS,
    Device,
    MfaContext,
    MfaMethod,
    MfaMode,
    MfaPolicy,
    Network,
    Prompt,
    Verified,
    WithoutDevice,
    get_method,
    ordered,
    parse_methods,
    parse_networks,
)
from sekisho.mfa.models import MfaSettings

T = TypeVar("T")


@runtime_checkable
class RecoveryCodes(MfaMethod, Protocol):
    """The recovery-code method's extra operations (a set is generated, not registered)."""

    def generate(self, user: User, ctx: MfaContext) -> list[str]:
        """Replace the user's set with new codes."""
        ...

    def remaining(self, user: User) -> int:
        """How many unused codes the user has."""
        ...


def current_policy() -> MfaPolicy:
    """The IdP-wide MFA settings, as stored."""
    row = MfaSettings.current()
    return MfaPolicy(
        mode=MfaMode(row.mode),
        without_device=WithoutDevice(row.without_device),
        methods=parse_methods(row.methods),
        trust_days=row.trust_days,
        known_networks=parse_networks(row.known_networks),
        user_verification=row.webauthn_user_verification,
        aaguids=tuple(a.strip().lower() for a in row.webauthn_aaguids.split() if a.strip()),
    )


def current_mode() -> MfaMode:
    """The IdP-wide MFA mode."""
    return MfaMode(MfaSettings.current().mode)


def password_is_only_factor() -> bool:
    """Whether a password is the only factor (MFA disabled): NIST SP 800-63B §3.1.1.2's 15."""
    return current_mode() is MfaMode.DISABLED


def configure(
    *,
    mode: MfaMode | None = None,
    without_device: WithoutDevice | None = None,
    methods: tuple[str, ...] | None = None,
    trust_days: int | None = None,
    known_networks: tuple[Network, ...] | None = None,
    user_verification: str | None = None,
    aaguids: tuple[str, ...] | None = None,
    actor: Actor | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> MfaPolicy:
    """Change the IdP-wide MFA settings (only the given ones); audited when an actor is given."""
    row = MfaSettings.current()
    changed: dict[str, object] = {}
    if mode is not None:
        row.mode = changed["mode"] = mode.value
    if without_device is not None:
        row.without_device = changed["withoutDevice"] = without_device.value
    if methods is not None:
        row.methods = ",".join(parse_methods(",".join(methods)))
        changed["methods"] = row.methods
    if trust_days is not None:
        if not 1 <= trust_days <= 365:
            raise ConfigError(f"--trust-days must be between 1 and 365, got {trust_days}")
        row.trust_days = changed["trustDays"] = trust_days
    if known_networks is not None:
        row.known_networks = "\n".join(str(net) for net in known_networks)
        changed["knownNetworks"] = [str(net) for net in known_networks]
    if user_verification is not None:
        if user_verification not in ("preferred", "required"):
            raise ConfigError(
                f"user verification must be preferred or required, got {user_verification!r}"
            )
        row.webauthn_user_verification = changed["userVerification"] = user_verification
    if aaguids is not None:
        row.webauthn_aaguids = "\n".join(aaguids)
        changed["aaguids"] = list(aaguids)
    row.save()
    if actor is not None and changed:
        admin_audit(actor, "UpdateMfaSettings", changed, clock)
    return current_policy()


def set_mode(mode: MfaMode) -> None:
    """Change the IdP-wide MFA mode."""
    configure(mode=mode)


def allowed_methods(policy: MfaPolicy | None = None) -> list[MfaMethod]:
    """The methods people may register and sign in with now, strongest first."""
    policy = policy or current_policy()
    found = []
    for name in ordered(policy.methods):
        try:
            method = get_method(name)
        except KeyError:
            continue
        if method.user_selectable and method.available():
            found.append(method)
    return found


def allowed_method(name: str, policy: MfaPolicy | None = None) -> MfaMethod:
    """The allowed method called ``name``, or MethodNotAllowed."""
    for method in allowed_methods(policy):
        if method.name == name:
            return method
    raise errors.MethodNotAllowed(f"the MFA method {name!r} is not allowed here")


def verifiable_method(name: str, policy: MfaPolicy | None = None) -> MfaMethod:
    """An allowed method, or recovery codes (always accepted in place of a device)."""
    if name == "recovery" and _known(name):
        return get_method(name)
    return allowed_method(name, policy)


def devices(user: User, *, policy: MfaPolicy | None = None, usable: bool = True) -> list[Device]:
    """The user's registered devices: of the allowed methods only, unless usable=False."""
    methods = (
        allowed_methods(policy)
        if usable
        else [get_method(name) for name in ordered(SELECTABLE_METHODS) if _known(name)]
    )
    return [device for method in methods for device in method.devices(user)]


def _known(name: str) -> bool:
    try:
        get_method(name)
    except KeyError:
        return False
    return True


def usable_methods(user: User, policy: MfaPolicy | None = None) -> list[MfaMethod]:
    """The allowed methods the user has at least one device of, strongest first."""
    return [method for method in allowed_methods(policy) if method.devices(user)]


@dataclass(frozen=True)
class ThrottleScope:
    """Where a wrong MFA answer counts, and by which policy."""

    key: str
    policy: throttle.ThrottlePolicy


def mfa_scope(user: User, ctx: MfaContext) -> ThrottleScope:
    """A browser known for this user counts on its own; any other, against the user's
    unknown-browser budget (OWASP's device cookies, as for passwords)."""
    nonce = ctx.known.nonce_for(str(user.uid)) if ctx.known is not None else None
    if nonce is not None:
        return ThrottleScope(
            browser_scope(str(user.uid), nonce, prefix="mfa-browser"), throttle.DEVICE_POLICY
        )
    return ThrottleScope(f"mfa:{user.uid}", throttle.ACCOUNT_POLICY)


def check_throttle(scope: ThrottleScope, *, now: datetime) -> None:
    """Raise MfaLocked while a throttle scope refuses answers (to offer no new challenge).

    Checked before an answer is even looked at, so a locked counter reveals nothing.
    """
    _refuse_unless_allowed(peek_throttle(scope.key), scope, now=now)


def _refuse_unless_allowed(
    state: throttle.ThrottleState, scope: ThrottleScope, *, now: datetime
) -> None:
    verdict = throttle.check(state, now=now, policy=scope.policy)
    if not verdict.allowed:
        raise errors.MfaLocked(
            f"too many wrong answers; try again in {verdict.retry_after_seconds} seconds",
            retry_after_seconds=verdict.retry_after_seconds,
        )


def throttled_answer(scope: ThrottleScope, *, now: datetime, judge: Callable[[], T]) -> T:
    """Judge one answer within ``scope``'s throttle, counting it in flight while it is judged.

    The answer is admitted (or refused with MfaLocked, unjudged) in one short transaction
    that counts it in flight, judged with no transaction open (a RADIUS server may take
    seconds), and its outcome recorded in a second: like passwords, parallel wrong answers
    then stop at the limit instead of each passing a check made before the others failed.
    An MfaError that ``counts_as_failure`` is recorded as a failure and raised again.
    """
    with transaction.atomic():
        row, state = load_throttle(scope.key)
        _refuse_unless_allowed(state, scope, now=now)
        store_throttle(row, throttle.begin_attempt(state, now=now))
    failed = False
    try:
        return judge()
    except errors.MfaError as exc:
        failed = exc.counts_as_failure
        raise
    finally:
        with transaction.atomic():
            row, state = load_throttle(scope.key)
            ended = throttle.end_attempt(state, now=now)
            if failed:
                ended, _locked = throttle.record_failure(ended, now=now, policy=scope.policy)
            store_throttle(row, ended)


def begin_enroll(user: User, method_name: str, ctx: MfaContext) -> Prompt:
    """Start registering a device of an allowed method, within the method's device limit."""
    method = allowed_method(method_name)
    if len(method.devices(user)) >= method.max_devices:
        raise errors.TooManyDevices(f"at most {method.max_devices} {method.name} devices per user")
    prompt = method.begin_enroll(user, ctx)
    emit(
        records.mfa_registration_started(
            user_uid=str(user.uid),
            identity_store_arn=identity_store_arn(),
            credential_type=method.credential_type,
            source_ip=ctx.request.source_ip,
            user_agent=ctx.request.user_agent,
            now=ctx.clock.now(),
        )
    )
    return prompt


def finish_enroll(
    user: User,
    method_name: str,
    ctx: MfaContext,
    *,
    state: Mapping[str, Any],
    form: Mapping[str, str],
    name: str,
) -> Device | Prompt:
    """Confirm a registration; wrong answers count towards the user's MFA lockout."""
    now = ctx.clock.now()
    method = allowed_method(method_name)
    if len(method.devices(user)) >= method.max_devices:
        raise errors.TooManyDevices(f"at most {method.max_devices} {method.name} devices")
    clean_name = " ".join((name or "").split())[:64] or method.label
    try:
        result = throttled_answer(
            mfa_scope(user, ctx),
            now=now,
            judge=lambda: method.finish_enroll(user, ctx, state=state, form=form, name=clean_name),
        )
    except errors.MfaError:
        _audit_registration(user, method, ctx, success=False, name=None)
        raise
    if isinstance(result, Device):
        _audit_registration(user, method, ctx, success=True, name=result.name)
    return result


def _audit_registration(
    user: User, method: MfaMethod, ctx: MfaContext, *, success: bool, name: str | None
) -> None:
    emit(
        records.mfa_registration_completed(
            user_uid=str(user.uid),
            identity_store_arn=identity_store_arn(),
            success=success,
            credential_type=method.credential_type,
            device_name=name,
            source_ip=ctx.request.source_ip,
            user_agent=ctx.request.user_agent,
            now=ctx.clock.now(),
        )
    )


def begin_verify(user: User, method_name: str, ctx: MfaContext) -> Prompt:
    """Ask for a factor of an allowed method the user has (audited as CredentialChallenge)."""
    method = verifiable_method(method_name)
    if not method.devices(user):
        raise errors.NoDevice(f"no {method.name} device is registered")
    check_throttle(mfa_scope(user, ctx), now=ctx.clock.now())
    prompt = method.begin_verify(user, ctx)
    emit(
        records.credential_challenge(
            credential_type=method.credential_type,
            workflow_id=ctx.workflow_id,
            user_uid=str(user.uid),
            identity_store_arn=identity_store_arn(),
            source_ip=ctx.request.source_ip,
            user_agent=ctx.request.user_agent,
            now=ctx.clock.now(),
        )
    )
    return prompt


def finish_verify(
    user: User,
    method_name: str,
    ctx: MfaContext,
    *,
    state: Mapping[str, Any],
    form: Mapping[str, str],
) -> Verified | Prompt:
    """The MFA sign-in decision for one answer: Verified, one more Prompt, or an MfaError.

    Wrong answers count towards the user's lockout, like wrong passwords; both outcomes
    are audited as CredentialVerification with the failure's stable code.
    """
    now = ctx.clock.now()
    method = verifiable_method(method_name)
    try:
        result = throttled_answer(
            mfa_scope(user, ctx),
            now=now,
            judge=lambda: method.finish_verify(user, ctx, state=state, form=form),
        )
    except errors.MfaError as exc:
        audit_verification(user, method.credential_type, ctx, success=False, reason=exc.code)
        raise
    if isinstance(result, Verified):
        audit_verification(user, result.credential_type, ctx, success=True, reason=None)
    return result


def audit_verification(
    user: User | None,
    credential_type: str,
    ctx: MfaContext,
    *,
    success: bool,
    reason: str | None,
) -> None:
    """Write a CredentialVerification event (finish_verify's, and the passkey sign-in's)."""
    emit(
        records.credential_verification(
            credential_type=credential_type,
            success=success,
            workflow_id=ctx.workflow_id,
            user_uid=str(user.uid) if user is not None else None,
            identity_store_arn=identity_store_arn(),
            failure_reason=reason,
            source_ip=ctx.request.source_ip,
            user_agent=ctx.request.user_agent,
            now=ctx.clock.now(),
        )
    )


def can_remove(user: User, method_name: str, policy: MfaPolicy | None = None) -> bool:
    """Whether removing one device of this method leaves MFA possible for the user.

    The last usable device cannot be removed while MFA is required: the user would be
    locked out (block) or silently downgraded (allow) at the next sign-in.
    """
    policy = policy or current_policy()
    if policy.mode is MfaMode.DISABLED:
        return True
    usable = devices(user, policy=policy)
    remaining = [d for d in usable if d.method != method_name] + [
        d for d in usable if d.method == method_name
    ][1:]
    return bool(remaining)


def remove_device(user: User, method_name: str, device_id: str, ctx: MfaContext) -> bool:
    """Delete one device (the person's own action); audited as DeleteMfaDeviceForUser.

    Refused with LastDevice when MFA would become impossible (see can_remove). A removed
    device may have been lost, so every browser trusted until now must pass MFA again.
    Returns whether the device existed.
    """
    if not can_remove(user, method_name):
        raise errors.LastDevice()
    method = get_method(method_name)
    named = next((d.name for d in method.devices(user) if d.id == device_id), None)
    if not method.remove(user, device_id):
        return False
    trust.revoke_all(user, now=ctx.clock.now())
    emit(
        records.mfa_device_deleted(
            user_uid=str(user.uid),
            identity_store_arn=identity_store_arn(),
            device_name=named,
            source_ip=ctx.request.source_ip,
            user_agent=ctx.request.user_agent,
            now=ctx.clock.now(),
        )
    )
    return True


def rename_device(user: User, method_name: str, device_id: str, name: str) -> bool:
    """Rename one of the user's devices (whitespace collapsed, 64 characters at most)."""
    clean = " ".join(name.split())[:64]
    if not clean:
        raise errors.InvalidName("a device needs a name")
    return get_method(method_name).rename(user, device_id, clean)


def _throttle_scopes(user: User) -> Q:
    """The MFA throttles of this user (unknown browsers and each known browser)."""
    return Q(scope=f"mfa:{user.uid}") | Q(scope__startswith=f"mfa-browser:{user.uid}:")


def clear_throttles(user: User) -> int:
    """Forget the user's wrong MFA answers and MFA locks (an administrator's unlock)."""
    deleted, _ = SignInThrottle.objects.filter(_throttle_scopes(user)).delete()
    return deleted


def locked_until(user: User, *, now: datetime) -> datetime | None:
    """Until when MFA answers are refused for this user (from unknown browsers), if locked."""
    return throttle.lock_end(peek_throttle(f"mfa:{user.uid}"), now)


def remove_device_by_admin(
    user: User, method_name: str, device_id: str, *, actor: Actor, clock: Clock = SYSTEM_CLOCK
) -> bool:
    """An administrator removes one of a user's devices (lost or stolen); audited.

    Unlike the person's own removal, the last device may go: the person registers a new
    one at the next sign-in, as after a reset. Trusted browsers stop being trusted.
    """
    if method_name not in SELECTABLE_METHODS or not _known(method_name):
        return False
    method = get_method(method_name)
    named = next((d.name for d in method.devices(user) if d.id == device_id), None)
    if named is None or not method.remove(user, device_id):
        return False
    trust.revoke_all(user, now=clock.now())
    admin_audit(
        actor,
        "DeleteMfaDevice",
        {"userName": user.username, "method": method_name, "deviceName": named},
        clock,
    )
    return True


def device_counts() -> dict[int, int]:
    """How many confirmed devices each user has (user id -> count), in three queries."""
    from collections import Counter

    from django.db.models import Count

    from sekisho.mfa.models import RadiusAccount, TotpDevice, WebAuthnCredential

    counts: Counter[int] = Counter()
    for query in (
        TotpDevice.objects.filter(confirmed=True),
        WebAuthnCredential.objects.all(),
        RadiusAccount.objects.filter(confirmed_at__isnull=False),
    ):
        for row in query.values("user_id").annotate(n=Count("id")):
            counts[int(row["user_id"])] += int(row["n"])
    return dict(counts)


def reset_mfa(user: User, *, actor: Actor, clock: Clock = SYSTEM_CLOCK) -> int:
    """Forget every MFA device, recovery code and trusted browser of a user (admin action)."""
    from sekisho.mfa.models import KnownAddress, TrustedDevice

    removed = 0
    for name in ordered((*SELECTABLE_METHODS, "recovery")):
        if _known(name):
            removed += get_method(name).remove_all(user)
    TrustedDevice.objects.filter(user=user).delete()
    KnownAddress.objects.filter(user=user).delete()
    SignInThrottle.objects.filter(_throttle_scopes(user)).delete()
    admin_audit(actor, "ResetMfa", {"userName": user.username, "devices": removed}, clock)
    return removed


def credential_type_of(method_name: str) -> str:
    """The audit CredentialType of a method (``"WEBAUTHN"``)."""
    return get_method(method_name).credential_type


def recovery_method() -> RecoveryCodes | None:
    """The recovery-code method, when registered."""
    method = REGISTRY.get("recovery")
    return method if isinstance(method, RecoveryCodes) else None


def generate_recovery_codes(user: User, ctx: MfaContext) -> list[str]:
    """Replace the user's recovery codes with a new set; the plain codes are returned once."""
    method = recovery_method()
    if method is None:
        raise errors.MethodNotAllowed("recovery codes are not available")
    codes = method.generate(user, ctx)
    _audit_registration(user, method, ctx, success=True, name=None)
    return codes
