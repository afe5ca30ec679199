"""MFA decisions and device registration, glued to storage and the audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction

from sekisho.audit import records
from sekisho.audit.writer import RequestContext, emit, identity_store_arn
from sekisho.clock import SYSTEM_CLOCK, SYSTEM_RANDOM, Clock, Random
from sekisho.crypto import SecretBox
from sekisho.directory import throttle
from sekisho.directory.models import SignInThrottle, User
from sekisho.directory.services import Actor, admin_audit
from sekisho.directory.signin import load_throttle, store_throttle
from sekisho.instance import cached_master_key
from sekisho.mfa import errors, totp
from sekisho.mfa.methods import MfaMode, mfa_required
from sekisho.mfa.models import MfaSettings, TotpDevice

ISSUER = "Sekisho"
PENDING_ENROLLMENT_TTL = timedelta(minutes=15)


def _box() -> SecretBox:
    return SecretBox.from_master_key(cached_master_key())


def _secret_context(user: User) -> str:
    # Binds each sealed secret to its owner: a row copied to another user will not open.
    return f"totp-secret:{user.uid}"


def current_mode() -> MfaMode:
    """The IdP-wide MFA mode."""
    return MfaMode(MfaSettings.current().mode)


def set_mode(mode: MfaMode) -> None:
    """Change the IdP-wide MFA mode."""
    row = MfaSettings.current()
    row.mode = mode.value
    row.save(update_fields=["mode", "updated_at"])


def requires_mfa(user: User) -> bool:
    """Whether this sign-in needs a second factor under the current mode."""
    return mfa_required(current_mode())


def confirmed_devices(user: User) -> list[TotpDevice]:
    """The user's registered authenticator apps."""
    return list(TotpDevice.objects.filter(user=user, confirmed=True).order_by("created_at"))


@dataclass(frozen=True)
class Enrollment:
    """A pending registration shown to the user: the secret, its URI and QR code."""

    device_id: int
    secret: str
    uri: str
    qr_svg: str

    @property
    def secret_grouped(self) -> str:
        """The base32 secret in groups of four, easier to type by hand."""
        return " ".join(self.secret[i : i + 4] for i in range(0, len(self.secret), 4))


def start_totp_enrollment(
    user: User,
    *,
    context: RequestContext,
    qr_title: str = totp.DEFAULT_QR_TITLE,
    clock: Clock = SYSTEM_CLOCK,
    random: Random = SYSTEM_RANDOM,
) -> Enrollment:
    """Create (or resume) a pending authenticator app for the user; at most two per user."""
    now = clock.now()
    totp.check_can_add(len(confirmed_devices(user)))
    pending = (
        TotpDevice.objects.filter(
            user=user, confirmed=False, created_at__gte=now - PENDING_ENROLLMENT_TTL
        )
        .order_by("-created_at")
        .first()
    )
    box = _box()
    if pending is None:
        TotpDevice.objects.filter(user=user, confirmed=False).delete()
        secret = totp.new_secret(random)
        pending = TotpDevice.objects.create(
            user=user,
            name="",
            sealed_secret=box.seal(secret.encode(), context=_secret_context(user)),
        )
        emit(
            records.mfa_registration_started(
                user_uid=str(user.uid),
                identity_store_arn=identity_store_arn(),
                source_ip=context.source_ip,
                user_agent=context.user_agent,
                now=now,
            )
        )
    else:
        secret = box.open(pending.sealed_secret, context=_secret_context(user)).decode()
    uri = totp.provisioning_uri(secret=secret, account_name=user.username, issuer=ISSUER)
    return Enrollment(
        device_id=pending.pk, secret=secret, uri=uri, qr_svg=totp.qr_svg(uri, title=qr_title)
    )


def confirm_totp_enrollment(
    user: User,
    *,
    device_id: int,
    code: str,
    device_name: str,
    context: RequestContext,
    clock: Clock = SYSTEM_CLOCK,
) -> TotpDevice:
    """Confirm a pending app with a code it shows; raises an MfaError on a wrong code."""
    now = clock.now()
    name = (device_name or "").strip()[:64] or "Authenticator app"
    failure: errors.MfaError | None = None
    with transaction.atomic():
        device = (
            TotpDevice.objects.select_for_update()
            .filter(pk=device_id, user=user, confirmed=False)
            .first()
        )
        if device is None or device.created_at < now - PENDING_ENROLLMENT_TTL:
            raise errors.EnrollmentExpired("the registration expired; start again")
        totp.check_can_add(len(confirmed_devices(user)))
        _check_mfa_throttle(user, now=now)
        secret = _box().open(device.sealed_secret, context=_secret_context(user)).decode()
        try:
            step = totp.verify(secret=secret, code=code, now=now, last_used_step=None)
        except errors.MfaError as exc:
            # Counted and audited below, outside this block: raising here would roll both back.
            failure = exc
        else:
            device.confirmed = True
            device.name = name
            device.confirmed_at = now
            device.last_used_step = step
            device.last_used_at = now
            device.save()
    if failure is not None:
        with transaction.atomic():
            _record_mfa_failure(user, now=now)
    emit(
        records.mfa_registration_completed(
            user_uid=str(user.uid),
            identity_store_arn=identity_store_arn(),
            success=failure is None,
            device_name=name if failure is None else None,
            source_ip=context.source_ip,
            user_agent=context.user_agent,
            now=now,
        )
    )
    if failure is not None:
        raise failure
    return device


def _mfa_scope(user: User) -> str:
    return f"mfa:{user.uid}"


def _check_mfa_throttle(user: User, *, now: datetime) -> None:
    """Refuse to even check a code while the user's MFA counter is locked."""
    _row, state = load_throttle(_mfa_scope(user))
    verdict = throttle.check(state, now=now, policy=throttle.ACCOUNT_POLICY)
    if not verdict.allowed:
        raise errors.MfaLocked(
            f"too many wrong codes; try again in {verdict.retry_after_seconds} seconds"
        )


def _record_mfa_failure(user: User, *, now: datetime) -> None:
    row, state = load_throttle(_mfa_scope(user))
    new_state, _locked = throttle.record_failure(state, now=now, policy=throttle.ACCOUNT_POLICY)
    store_throttle(row, new_state)


def verify_totp(
    user: User,
    *,
    code: str,
    context: RequestContext,
    workflow_id: str,
    clock: Clock = SYSTEM_CLOCK,
) -> TotpDevice:
    """The TOTP sign-in decision: accept a fresh code from any of the user's apps, or raise.

    A code's time step is never accepted twice for a device (RFC 6238 §5.2); wrong codes
    count towards a lockout like wrong passwords do. Both outcomes are audited.
    """
    now = clock.now()
    emit(
        records.credential_challenge(
            credential_type="TOTP",
            workflow_id=workflow_id,
            user_name=None,
            user_uid=str(user.uid),
            identity_store_arn=identity_store_arn(),
            source_ip=context.source_ip,
            user_agent=context.user_agent,
            now=now,
        )
    )
    failure: errors.MfaError | None = None
    matched: TotpDevice | None = None
    with transaction.atomic():
        try:
            _check_mfa_throttle(user, now=now)
            normalized = totp.normalize_code(code)
            box = _box()
            devices = list(
                TotpDevice.objects.select_for_update()
                .filter(user=user, confirmed=True)
                .order_by("created_at")
            )
            for device in devices:
                secret = box.open(device.sealed_secret, context=_secret_context(user)).decode()
                try:
                    step = totp.verify(
                        secret=secret,
                        code=normalized,
                        now=now,
                        last_used_step=device.last_used_step,
                    )
                except errors.ReusedCode as exc:
                    failure = exc
                    continue
                except errors.InvalidCode as exc:
                    failure = failure or exc
                    continue
                device.last_used_step = step
                device.last_used_at = now
                device.save(update_fields=["last_used_step", "last_used_at"])
                matched = device
                break
            if matched is None and failure is None:
                failure = errors.InvalidCode("no authenticator app is registered")
        except errors.MfaError as exc:
            failure = exc
        if matched is None and not isinstance(failure, errors.MfaLocked):
            _record_mfa_failure(user, now=now)
    emit(
        records.credential_verification(
            credential_type="TOTP",
            success=matched is not None,
            workflow_id=workflow_id,
            user_uid=str(user.uid),
            identity_store_arn=identity_store_arn(),
            source_ip=context.source_ip,
            user_agent=context.user_agent,
            now=now,
        )
    )
    if matched is None:
        assert failure is not None
        raise failure
    return matched


def remove_device(
    user: User, device_id: int, *, context: RequestContext, clock: Clock = SYSTEM_CLOCK
) -> bool:
    """Delete one of the user's apps; returns whether it existed."""
    deleted, _ = TotpDevice.objects.filter(user=user, pk=device_id).delete()
    if deleted:
        emit(
            records.mfa_device_deleted(
                user_uid=str(user.uid),
                identity_store_arn=identity_store_arn(),
                source_ip=context.source_ip,
                user_agent=context.user_agent,
                now=clock.now(),
            )
        )
    return deleted > 0


def reset_mfa(user: User, *, actor: Actor, clock: Clock = SYSTEM_CLOCK) -> int:
    """Forget every authenticator app of a user (admin action); returns how many."""
    deleted, _ = TotpDevice.objects.filter(user=user).delete()
    SignInThrottle.objects.filter(scope=_mfa_scope(user)).delete()
    admin_audit(actor, "ResetMfa", {"userName": user.username, "devices": deleted}, clock)
    return deleted
