"""The administration services the console, the API and the CLI share."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.test import Client

from sekisho.admin import access, dashboard, roles, tokens
from sekisho.admin import users as admin_users
from sekisho.admin.errors import InvalidToken, NotFound, RateLimited
from sekisho.admin.models import ApiToken
from sekisho.admin.roles import ROLE_PERMISSIONS, Permission, Role
from sekisho.audit.models import AuditRecord
from sekisho.audit.records import AdminChannel
from sekisho.audit.writer import Actor, RequestContext
from sekisho.clock import FrozenClock
from sekisho.directory.models import SignInThrottle
from sekisho.portal.models import SignedInSession
from tests.conftest import PASSWORD, sign_in_registering

pytestmark = pytest.mark.django_db


def test_the_three_roles() -> None:
    """admin does everything; helpdesk the lifecycle actions; auditor reads and exports only."""
    assert ROLE_PERMISSIONS[Role.ADMIN] == frozenset(Permission)
    helpdesk_writes = {p for p in ROLE_PERMISSIONS[Role.HELPDESK] if not p.read_only}
    assert helpdesk_writes == {
        Permission.USERS_DISABLE,
        Permission.USERS_UNLOCK,
        Permission.USERS_RESET_MFA,
        Permission.USERS_SET_PASSWORD,
        Permission.DEVICES_REMOVE,
        Permission.SESSIONS_REVOKE,
    }
    assert all(p.read_only for p in ROLE_PERMISSIONS[Role.AUDITOR])
    assert Permission.AUDIT_EXPORT in ROLE_PERMISSIONS[Role.AUDITOR]
    # A signed assertion could be replayed: previews are not reads.
    assert Permission.APPS_PREVIEW not in ROLE_PERMISSIONS[Role.AUDITOR]


def test_grant_and_revoke_are_audited_with_the_actor(make_user, actor: Actor) -> None:
    user = make_user("alice")
    assert roles.grant(user, Role.HELPDESK, actor=actor)
    assert not roles.grant(user, Role.HELPDESK, actor=actor)
    assert roles.roles_of(user) == {Role.HELPDESK}
    assert roles.revoke(user, Role.HELPDESK, actor=actor)
    assert not roles.revoke(user, Role.HELPDESK, actor=actor)
    events = [
        r.record for r in AuditRecord.objects.filter(event_name__in=["GrantRole", "RevokeRole"])
    ]
    assert [e["eventName"] for e in events] == ["GrantRole", "RevokeRole"]
    assert all(e["userIdentity"]["principalId"] == "test" for e in events)


def _principal(*held: Role, channel: AdminChannel = AdminChannel.WEB) -> access.Principal:
    return access.Principal(
        name="console:alice",
        channel=channel,
        roles=frozenset(held),
        context=RequestContext(source_ip="192.0.2.1", user_agent="test"),
    )


def test_every_access_decision_is_one_audited_call() -> None:
    cases = [
        (_principal(), Permission.USERS_READ, True, None, access.NOT_ADMINISTRATOR),
        (_principal(Role.AUDITOR), Permission.USERS_CREATE, True, None, access.ROLE_REFUSED),
        (_principal(Role.ADMIN), Permission.USERS_READ, False, None, access.STEP_UP_REQUIRED),
        (_principal(Role.ADMIN), Permission.KEYS_ROTATE, True, None, access.REAUTH_REQUIRED),
        (_principal(Role.ADMIN), Permission.KEYS_ROTATE, True, 601.0, access.REAUTH_REQUIRED),
        (_principal(Role.ADMIN), Permission.KEYS_ROTATE, True, 30.0, access.ALLOWED),
        (_principal(Role.HELPDESK), Permission.USERS_UNLOCK, True, None, access.ALLOWED),
        # A token proves its holder: no step-up, no re-authentication on the API.
        (
            _principal(Role.ADMIN, channel=AdminChannel.API),
            Permission.KEYS_ROTATE,
            False,
            None,
            access.ALLOWED,
        ),
    ]
    for principal, permission, mfa, age, reason in cases:
        decision = access.authorize(principal, permission, mfa=mfa, reauth_age=age, resource="/x")
        assert decision.reason == reason, (principal.roles, permission)
        record = AuditRecord.objects.order_by("-id").first().record
        assert record["eventName"] == "AdminAccess"
        assert record["additionalEventData"]["Permission"] == permission.value
        assert record["additionalEventData"]["Reason"] == reason
        assert ("errorCode" in record) == (reason != access.ALLOWED)
        assert record["readOnly"] == permission.read_only
    assert AuditRecord.objects.filter(event_name="AdminAccess").count() == len(cases)


def test_tokens_are_stored_hashed_and_shown_once(actor: Actor, caplog) -> None:
    issued = tokens.create("terraform", Role.AUDITOR, expires_days=30, actor=actor)
    assert issued.value.startswith("sek_")
    row = ApiToken.objects.get(name="terraform")
    # sek_<key id>_<secret>: the secret itself may hold "_" (base64url), the key id not.
    secret = issued.value.split("_", 2)[2]
    assert len(secret) == 43
    assert secret not in row.digest and row.key_id in issued.value
    assert tokens.authenticate(issued.value).name == "terraform"
    for bad in (
        "",
        "sek_",
        issued.value + "x",
        issued.value[:-1] + ("A" if issued.value[-1] != "A" else "B"),
    ):
        with pytest.raises(InvalidToken):
            tokens.authenticate(bad)
    tokens.revoke("terraform", actor=actor)
    with pytest.raises(InvalidToken):
        tokens.authenticate(issued.value)
    assert issued.value not in caplog.text and secret not in caplog.text
    for record in AuditRecord.objects.all():
        assert secret not in str(record.record)


def test_expired_tokens_stop_working(actor: Actor) -> None:
    clock = FrozenClock()
    issued = tokens.create("short", Role.ADMIN, expires_days=1, actor=actor, clock=clock)
    assert tokens.authenticate(issued.value, clock=clock)
    clock.advance(timedelta(days=1).total_seconds())
    with pytest.raises(InvalidToken):
        tokens.authenticate(issued.value, clock=clock)


def test_the_rate_limit_counts_in_the_database_per_minute() -> None:
    clock = FrozenClock()
    for _ in range(3):
        tokens.count_request("api-token:1", clock=clock, limit=3)
    with pytest.raises(RateLimited) as refused:
        tokens.count_request("api-token:1", clock=clock, limit=3)
    assert 1 <= refused.value.retry_after_seconds <= 61
    tokens.count_request("api-token:2", clock=clock, limit=3)  # another token: its own budget
    clock.advance(60)
    tokens.count_request("api-token:1", clock=clock, limit=3)  # a new minute


def test_unlock_lifts_password_and_mfa_locks(make_user, actor: Actor, clock: FrozenClock) -> None:
    user = make_user("alice")
    client = Client()
    for _ in range(5):
        client.post("/signin", {"username": "alice", "password": "wrong wrong wrong"})
    assert admin_users.lock_state(user, clock=clock).locked
    SignInThrottle.objects.create(
        scope=f"mfa:{user.uid}", failures=5, locked_until=clock.now() + timedelta(minutes=15)
    )
    assert admin_users.lock_state(user, clock=clock).mfa_until is not None
    assert admin_users.unlock(user, actor=actor) >= 2
    assert not admin_users.lock_state(user, clock=clock).locked
    assert AuditRecord.objects.filter(event_name="UnlockUser").exists()
    assert client.post("/signin", {"username": "alice", "password": PASSWORD}).status_code == 302


def test_sessions_are_listed_and_ended(make_user, actor: Actor, clock: FrozenClock) -> None:
    make_user("alice")
    browser = Client()
    sign_in_registering(browser, clock, "alice")
    assert browser.get("/apps").status_code == 200
    user = admin_users.get_user("alice")
    found = admin_users.active_sessions(user)
    assert len(found) == 1 and found[0].mfa and found[0].username == "alice"
    admin_users.revoke_session(found[0].session_id, actor=actor)
    assert browser.get("/apps").status_code == 302  # signed out: the session row is gone
    assert not SignedInSession.objects.exists() and not admin_users.active_sessions(user)


def test_a_session_ended_by_single_logout_is_not_listed_or_revoked_again(
    make_user, actor: Actor, clock: FrozenClock
) -> None:
    from sekisho.web.session import end_session

    make_user("alice")
    browser = Client()
    sign_in_registering(browser, clock, "alice")
    user = admin_users.get_user("alice")
    (found,) = admin_users.active_sessions(user)
    # Single logout ends Django's session by its key (saml.slo), leaving the index row.
    end_session(SignedInSession.objects.get().session_key)
    assert not Session.objects.exists() and SignedInSession.objects.exists()
    with pytest.raises(NotFound):
        admin_users.revoke_session(found.session_id, actor=actor)
    assert not AuditRecord.objects.filter(event_name="RevokeSessions").exists()
    assert not SignedInSession.objects.exists()  # the stale row went with it
    # Listing never shows such a row either (and forgets it).
    SignedInSession.objects.create(
        session_key=found.session_id + "k",
        session_id=found.session_id,
        user=user,
        created_at=found.created_at,
    )
    assert admin_users.active_sessions(user) == [] and not SignedInSession.objects.exists()


def test_disabling_ends_sessions_and_a_temporary_password_too(
    make_user, actor: Actor, clock: FrozenClock
) -> None:
    make_user("alice")
    browser = Client()
    sign_in_registering(browser, clock, "alice")
    user = admin_users.get_user("alice")
    admin_users.set_status(user, active=False, actor=actor)
    admin_users.set_status(user, active=True, actor=actor)
    assert browser.get("/apps").status_code == 302  # enabling again does not revive it
    assert not admin_users.active_sessions(user) and not Session.objects.exists()
    other = Client()
    other.post("/signin", {"username": "alice", "password": PASSWORD})
    ended = admin_users.set_password(
        user, "a new temporary passphrase", temporary=True, actor=actor
    )
    user.refresh_from_db()
    assert user.must_change_password and ended == 0


def test_dashboard_counts_the_audit_trail(
    make_user, clock: FrozenClock, connect_app, actor: Actor
) -> None:
    from sekisho.saml import assignments

    user = make_user("agent1")
    assignments.assign(connect_app, user=user, actor=actor)
    client = Client()
    client.post("/signin", {"username": "agent1", "password": "wrong wrong wrong"})
    sign_in_registering(client, clock, "agent1")
    assert client.post("/apps/connect/launch").status_code == 200
    figures = dashboard.figures(clock=clock)
    assert figures.signins_ok == 1
    assert dict(figures.refusals) == {"password": 1}
    assert dict(figures.sources) == {"127.0.0.1": 2}
    assert figures.launches == [("connect", 1, 0)]
    assert sum(h.success for h in figures.hours) == 1 and len(figures.hours) == 24


def test_dashboard_refusals_by_reason_policy_mfa_lockout(
    make_user, clock: FrozenClock, connect_app, actor: Actor
) -> None:
    """Refusals are grouped as an administrator reads them (issue 12's dashboard)."""
    import json

    from sekisho.access import policies
    from sekisho.access.policies import Target
    from sekisho.saml import assignments

    user = make_user("agent1")
    assignments.assign(connect_app, user=user, actor=actor)
    browser = Client()
    sign_in_registering(browser, clock, "agent1")
    # MFA: the password right, the code wrong.
    other = Client()
    assert other.post("/signin", {"username": "agent1", "password": PASSWORD}).status_code == 302
    other.post("/signin/mfa/totp", {"code": "000000"})
    # Policy: launching Connect is denied by an explicit Deny at the IdP.
    deny = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Deny", "Action": "sekisho:LaunchApplication", "Resource": "*"},
        ],
    }
    policies.put_policy("NoLaunch", json.dumps(deny), actor=actor)
    policies.attach("NoLaunch", Target.idp(), actor=actor)
    browser.post("/apps/connect/launch")
    # Lockout: wrong passwords until this browser is locked out, then one more try.
    make_user("bob")
    attacker = Client()
    for _ in range(6):
        attacker.post("/signin", {"username": "bob", "password": "not the password at all"})
    figures = dashboard.figures(clock=clock)
    refusals = dict(figures.refusals)
    assert refusals.get("mfa", 0) >= 1, refusals
    assert refusals.get("policy", 0) >= 1, refusals
    assert refusals.get("lockout", 0) >= 1, refusals
    assert refusals.get("password", 0) >= 1, refusals
    assert figures.launches == [("connect", 0, 1)]
