"""RADIUS MFA against a real FreeRADIUS: the client, the method via services, and the pages."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator

import pytest
from django.test import Client

from sekisho.audit.models import AuditRecord
from sekisho.audit.writer import Actor, RequestContext
from sekisho.clock import FrozenClock
from sekisho.directory.models import User
from sekisho.mfa import errors, radius, radius_admin
from sekisho.mfa import services as mfa
from sekisho.mfa.methods import Device, MfaContext, Prompt, Verified
from sekisho.mfa.models import RadiusAccount
from tests.conftest import PASSWORD, password_step, sign_in_registering
from tests.radius.conftest import (
    ALICE,
    CAROL,
    LONG,
    MALLORY,
    YAMADA,
    FreeRadius,
    code_from,
    free_udp_port,
)


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A bound UDP port that never answers (a server that is down but routable)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def dead(port: int, name: str = "dead", *, timeout: float = 0.3) -> radius.ServerConfig:
    return radius.ServerConfig(
        name=name, host="127.0.0.1", port=port, timeout=timeout, retries=1, secret=b"whatever"
    )


# ---------------------------------------------------------------- the client alone


@pytest.mark.parametrize("who", [ALICE, YAMADA, LONG], ids=["ascii", "utf8", "128-bytes"])
def test_single_step_password_and_code_is_accepted(
    freeradius: FreeRadius, who: tuple[str, str]
) -> None:
    # FreeRADIUS runs with require_message_authenticator: an accept also proves ours is valid.
    outcome = radius.authenticate([freeradius.config()], username=who[0], password=who[1])
    assert outcome == radius.Accept(server="freeradius", message="")


def test_wrong_code_is_rejected(freeradius: FreeRadius) -> None:
    outcome = radius.authenticate(
        [freeradius.config()], username=ALICE[0], password=ALICE[1][:-1] + "0"
    )
    assert outcome == radius.Reject(server="freeradius", message="")


def test_reject_carries_the_servers_reply_message(freeradius: FreeRadius) -> None:
    outcome = radius.authenticate([freeradius.config()], username=MALLORY[0], password=MALLORY[1])
    assert outcome == radius.Reject(server="freeradius", message=MALLORY[2])


def test_access_challenge_then_the_code(freeradius: FreeRadius) -> None:
    servers = [freeradius.config()]
    challenge = radius.authenticate(servers, username=CAROL[0], password=CAROL[1])
    assert isinstance(challenge, radius.Challenge) and challenge.server == "freeradius"
    assert challenge.state
    code = code_from(challenge.message)
    done = radius.authenticate(servers, username=CAROL[0], password=code, state=challenge.state)
    assert done == radius.Accept(server="freeradius", message="")


def test_a_wrong_answer_to_a_challenge_is_rejected(freeradius: FreeRadius) -> None:
    servers = [freeradius.config()]
    challenge = radius.authenticate(servers, username=CAROL[0], password=CAROL[1])
    assert isinstance(challenge, radius.Challenge)
    wrong = f"{(int(code_from(challenge.message)) + 1) % 10**6:06d}"
    outcome = radius.authenticate(servers, username=CAROL[0], password=wrong, state=challenge.state)
    assert isinstance(outcome, radius.Reject)


def test_the_challenge_users_password_alone_is_not_an_accept(freeradius: FreeRadius) -> None:
    outcome = radius.authenticate([freeradius.config()], username=CAROL[0], password="nope")
    assert isinstance(outcome, radius.Reject)


def test_nobody_listening_times_out_quickly() -> None:
    started = time.monotonic()
    with pytest.raises(errors.RadiusUnavailable, match="no RADIUS server answered"):
        radius.authenticate([dead(free_udp_port())], username="alice", password="123456")
    assert time.monotonic() - started < 2


def test_a_silent_server_times_out_after_its_retries(black_hole: int) -> None:
    started = time.monotonic()
    with pytest.raises(errors.RadiusUnavailable):
        radius.authenticate([dead(black_hole, timeout=0.2)], username="alice", password="1")
    assert 0.35 < time.monotonic() - started < 2


def test_failover_from_a_dead_server_to_the_live_one(
    freeradius: FreeRadius, black_hole: int
) -> None:
    servers = [dead(black_hole), freeradius.config("live")]
    outcome = radius.authenticate(servers, username=ALICE[0], password=ALICE[1])
    assert outcome == radius.Accept(server="live", message="")


def test_a_wrong_shared_secret_is_silence_to_us(freeradius: FreeRadius) -> None:
    # FreeRADIUS drops a request whose Message-Authenticator does not verify.
    wrong = radius.ServerConfig(
        name="wrong", host=freeradius.host, port=freeradius.port, timeout=0.3, retries=0,
        secret=b"not the shared secret",
    )  # fmt: skip
    with pytest.raises(errors.RadiusUnavailable):
        radius.authenticate([wrong], username=ALICE[0], password=ALICE[1])


# ---------------------------------------------------------------- the method, through services


@pytest.fixture
def ctx(clock: FrozenClock) -> MfaContext:
    return MfaContext(
        request=RequestContext(source_ip="127.0.0.1", user_agent="pytest"),
        workflow_id="workflow-1",
        clock=clock,
    )


@pytest.fixture
def configured(db: None, freeradius: FreeRadius, actor: Actor) -> FreeRadius:
    radius_admin.add_server(
        "freeradius",
        host=freeradius.host,
        port=freeradius.port,
        secret=freeradius.secret,
        timeout=2.0,
        retries=0,
        actor=actor,
    )
    return freeradius


def enroll(user: User, ctx: MfaContext, *answers: str) -> Device:
    prompt = mfa.begin_enroll(user, "radius", ctx)
    state = prompt.state
    result: Device | Prompt = prompt
    for answer in answers:
        result = mfa.finish_enroll(
            user, "radius", ctx, state=state, form={"code": answer}, name="token"
        )
        if isinstance(result, Prompt):
            state = result.state
    assert isinstance(result, Device), result
    return result


def audited(event: str) -> list[dict[str, object]]:
    return [r.record for r in AuditRecord.objects.filter(event_name=event).order_by("id")]


@pytest.mark.django_db
def test_enroll_and_verify_single_step(configured: FreeRadius, make_user, ctx) -> None:
    user = make_user(ALICE[0])
    assert [m.name for m in mfa.allowed_methods()].count("radius") == 1
    device = enroll(user, ctx, ALICE[1])
    assert device.method == "radius" and device.name == "token"
    assert [d.method for d in mfa.devices(user)] == ["radius"]
    mfa.begin_verify(user, "radius", ctx)
    result = mfa.finish_verify(user, "radius", ctx, state={}, form={"code": ALICE[1]})
    assert isinstance(result, Verified) and result.credential_type == "RADIUS"
    assert RadiusAccount.objects.get(user=user).last_used_at == ctx.clock.now()
    [last] = audited("CredentialVerification")[-1:]
    assert last["additionalEventData"]["CredentialType"] == "RADIUS"  # type: ignore[index]
    assert last["serviceEventDetails"]["CredentialVerification"] == "Success"  # type: ignore[index]


@pytest.mark.django_db
def test_enroll_and_verify_through_a_challenge(configured: FreeRadius, make_user, ctx) -> None:
    user = make_user(CAROL[0])
    prompt = mfa.begin_enroll(user, "radius", ctx)
    asked = mfa.finish_enroll(
        user, "radius", ctx, state=prompt.state, form={"code": CAROL[1]}, name="token"
    )
    assert isinstance(asked, Prompt) and asked.data["challenge"] is True
    assert set(asked.state) == {"radius_state", "server"} and asked.state["server"] == "freeradius"
    code = code_from(asked.data["message"])
    device = mfa.finish_enroll(
        user, "radius", ctx, state=asked.state, form={"code": code}, name="token"
    )
    assert isinstance(device, Device)
    # Sign-in: the same two steps.
    asked = mfa.finish_verify(user, "radius", ctx, state={}, form={"code": CAROL[1]})
    assert isinstance(asked, Prompt)
    code = code_from(asked.data["message"])
    done = mfa.finish_verify(user, "radius", ctx, state=asked.state, form={"code": code})
    assert isinstance(done, Verified)


@pytest.mark.django_db
def test_username_mapping_and_going_back(configured: FreeRadius, make_user, ctx, actor) -> None:
    user = make_user("alice.sato")
    with pytest.raises(errors.RadiusRejected):
        enroll(user, ctx, ALICE[1])  # FreeRADIUS knows no "alice.sato"
    assert radius_admin.set_radius_username(user, ALICE[0], actor=actor) == ALICE[0]
    enroll(user, ctx, ALICE[1])
    result = mfa.finish_verify(user, "radius", ctx, state={}, form={"code": ALICE[1]})
    assert isinstance(result, Verified)
    assert radius_admin.set_radius_username(user, "", actor=actor) == "alice.sato"
    with pytest.raises(errors.RadiusRejected):
        mfa.finish_verify(user, "radius", ctx, state={}, form={"code": ALICE[1]})
    changes = [r["requestParameters"] for r in audited("UpdateUser")]
    assert {"userName": "alice.sato", "radiusUsername": ALICE[0]} in changes
    assert {"userName": "alice.sato", "radiusUsername": None} in changes


@pytest.mark.django_db
def test_rejects_count_towards_the_lockout(configured: FreeRadius, make_user, ctx) -> None:
    user = make_user(ALICE[0])
    enroll(user, ctx, ALICE[1])
    for _ in range(5):
        with pytest.raises(errors.RadiusRejected):
            mfa.finish_verify(user, "radius", ctx, state={}, form={"code": "wrong 000000"})
    with pytest.raises(errors.MfaLocked):
        mfa.finish_verify(user, "radius", ctx, state={}, form={"code": ALICE[1]})
    reasons = [
        r["additionalEventData"].get("FailureReason")  # type: ignore[union-attr]
        for r in audited("CredentialVerification")
    ]
    assert reasons == ["mfa_radius_rejected"] * 5 + ["mfa_locked"]


@pytest.mark.django_db
def test_timeouts_do_not_count_and_are_audited(
    make_user, ctx, actor, black_hole: int, freeradius: FreeRadius
) -> None:
    radius_admin.add_server(
        "down", host="127.0.0.1", port=black_hole, secret=b"s" * 16, timeout=0.2, retries=0,
        actor=actor,
    )  # fmt: skip
    user = make_user(ALICE[0])
    RadiusAccount.objects.create(user=user, confirmed_at=ctx.clock.now(), name="token")
    for _ in range(6):
        with pytest.raises(errors.RadiusUnavailable):
            mfa.finish_verify(user, "radius", ctx, state={}, form={"code": ALICE[1]})
    reasons = {
        r["additionalEventData"].get("FailureReason")  # type: ignore[union-attr]
        for r in audited("CredentialVerification")
    }
    assert reasons == {"mfa_radius_unavailable"}
    # Six timeouts did not lock (five failures would); and with a live server second,
    # failover lets the same user in.
    radius_admin.add_server(
        "live", host=freeradius.host, port=freeradius.port, secret=freeradius.secret,
        timeout=2.0, retries=0, actor=actor,
    )  # fmt: skip
    result = mfa.finish_verify(user, "radius", ctx, state={}, form={"code": ALICE[1]})
    assert isinstance(result, Verified)


@pytest.mark.django_db
def test_a_challenge_server_removed_meanwhile_is_unavailable(
    configured: FreeRadius, make_user, ctx, actor
) -> None:
    user = make_user(CAROL[0])
    asked = mfa.finish_enroll(user, "radius", ctx, state={}, form={"code": CAROL[1]}, name="t")
    assert isinstance(asked, Prompt)
    radius_admin.remove_server("freeradius", actor=actor)
    radius_admin.add_server(
        "other", host=configured.host, port=configured.port, secret=configured.secret,
        actor=actor,
    )  # fmt: skip
    with pytest.raises(errors.RadiusUnavailable, match="no longer configured"):
        mfa.finish_enroll(user, "radius", ctx, state=asked.state, form={"code": "1"}, name="t")


@pytest.mark.django_db
def test_secrets_and_codes_are_in_no_audit_record(configured: FreeRadius, make_user, ctx) -> None:
    user = make_user(CAROL[0])
    asked = mfa.finish_enroll(user, "radius", ctx, state={}, form={"code": CAROL[1]}, name="t")
    assert isinstance(asked, Prompt)
    code = code_from(asked.data["message"])
    mfa.finish_enroll(user, "radius", ctx, state=asked.state, form={"code": code}, name="t")
    text = " ".join(str(r.record) for r in AuditRecord.objects.all())
    for secret in (configured.secret.decode(), CAROL[1], asked.state["radius_state"]):
        assert secret not in text
    # Six digits may occur inside event ids (hex): look for them standing alone.
    assert not re.search(rf"(?<![0-9a-fA-F]){code}(?![0-9a-fA-F])", text)


# ---------------------------------------------------------------- the pages


def page_message(html: str) -> str:
    match = re.search(r'id="radius-message">(.*?)</blockquote>', html, re.S)
    assert match, "no server message on the page"
    return match.group(1).strip()


def first_sign_in(client: Client, username: str) -> None:
    assert password_step(client, username) == "/signin/mfa/register"


def finish_registration(client: Client, response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.content[:800]
    done = client.post("/signin/continue")
    assert done.status_code == 302 and done["Location"] == "/apps", done.content[:500]


@pytest.mark.django_db
def test_pages_register_at_first_sign_in_and_sign_in_with_a_challenge(
    configured: FreeRadius, make_user, clock, client: Client
) -> None:
    make_user(CAROL[0])
    first_sign_in(client, CAROL[0])
    choose = client.get("/signin/mfa/register").content.decode()
    assert 'id="choose-radius"' in choose
    page = client.get("/signin/mfa/register/radius")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="code"' in html and 'type="password"' in html and 'maxlength="128"' in html
    asked = client.post("/signin/mfa/register/radius", {"code": CAROL[1], "device_name": "Fob"})
    assert asked.status_code == 200
    html = asked.content.decode()
    code = code_from(page_message(html))
    assert 'type="hidden" name="device_name" value="Fob"' in html
    finish_registration(
        client, client.post("/signin/mfa/register/radius", {"code": code, "device_name": "Fob"})
    )
    assert RadiusAccount.objects.get(user__username=CAROL[0]).name == "Fob"
    # Next sign-in: password, then RADIUS with its challenge.
    client.post("/signout")
    assert password_step(client, CAROL[0]) == "/signin/mfa"
    start = client.get("/signin/mfa")
    assert start.status_code == 302 and start["Location"] == "/signin/mfa/radius"
    assert client.get("/signin/mfa/radius").status_code == 200
    asked = client.post("/signin/mfa/radius", {"code": CAROL[1]})
    assert asked.status_code == 200
    code = code_from(page_message(asked.content.decode()))
    done = client.post("/signin/mfa/radius", {"code": code})
    assert done.status_code == 302 and done["Location"] == "/apps"


@pytest.mark.django_db
def test_pages_single_step_with_a_mapped_username(
    configured: FreeRadius, make_user, clock, client: Client, actor
) -> None:
    user = make_user("alice.sato")
    radius_admin.set_radius_username(user, ALICE[0], actor=actor)
    first_sign_in(client, "alice.sato")
    page = client.get("/signin/mfa/register/radius").content.decode()
    assert ALICE[0] in page  # "Your RADIUS username: alice"
    finish_registration(client, client.post("/signin/mfa/register/radius", {"code": ALICE[1]}))
    client.post("/signout")
    assert password_step(client, "alice.sato") == "/signin/mfa"
    done = client.post("/signin/mfa/radius", {"code": ALICE[1]})
    assert done.status_code == 302 and done["Location"] == "/apps"


@pytest.mark.django_db
def test_pages_show_reject_and_lock(configured: FreeRadius, make_user, clock, client) -> None:
    make_user(ALICE[0])
    first_sign_in(client, ALICE[0])
    for _ in range(5):
        wrong = client.post("/signin/mfa/register/radius", {"code": "wrong 000000"})
        assert wrong.status_code == 400
        assert "The one-time password was not accepted." in wrong.content.decode()
    locked = client.post("/signin/mfa/register/radius", {"code": ALICE[1]})
    assert locked.status_code == 429


@pytest.mark.django_db
def test_pages_show_timeouts_without_counting_them(
    make_user, clock, client: Client, actor, black_hole: int
) -> None:
    radius_admin.add_server(
        "down", host="127.0.0.1", port=black_hole, secret=b"s" * 16, timeout=0.2, retries=0,
        actor=actor,
    )  # fmt: skip
    make_user(ALICE[0])
    first_sign_in(client, ALICE[0])
    for _ in range(6):
        response = client.post("/signin/mfa/register/radius", {"code": ALICE[1]})
        assert response.status_code == 503
        assert "The RADIUS server did not answer." in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("typed", ["x" * 129, "12\x0034", "\u202e123456", "   "])
def test_pages_refuse_unsendable_input_clearly(
    configured: FreeRadius, make_user, clock, client: Client, typed: str
) -> None:
    make_user(ALICE[0])
    first_sign_in(client, ALICE[0])
    response = client.post("/signin/mfa/register/radius", {"code": typed})
    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()
    assert not RadiusAccount.objects.filter(confirmed_at__isnull=False).exists()


@pytest.mark.django_db
def test_add_radius_from_my_security(configured: FreeRadius, make_user, clock, client) -> None:
    make_user(CAROL[0])
    sign_in_registering(client, clock, CAROL[0])
    assert client.post("/account/verify", {"password": PASSWORD}).status_code == 302
    page = client.get("/account/security/add/radius")
    assert page.status_code == 200 and 'name="code"' in page.content.decode()
    asked = client.post("/account/security/add/radius", {"code": CAROL[1], "device_name": "Fob"})
    assert asked.status_code == 200
    code = code_from(page_message(asked.content.decode()))
    done = client.post("/account/security/add/radius", {"code": code, "device_name": "Fob"})
    assert done.status_code in (200, 302) and done.status_code != 500
    assert RadiusAccount.objects.get(user__username=CAROL[0]).confirmed_at is not None
    security = client.get("/account").content.decode()
    assert "Fob" in security
    # One RADIUS identity per user: a second registration is refused, clearly.
    again = client.get("/account/security/add/radius")
    assert again.status_code == 400 and 'role="alert"' in again.content.decode()
