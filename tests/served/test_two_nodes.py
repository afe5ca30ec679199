"""Two nodes, one database: any node serves any step, and every guard is shared.

Two `sekisho serve` processes on different ports share one database (the suite's
PostgreSQL in its PostgreSQL pass; one SQLite file otherwise), each with its own data
directory holding copies of the keys, as a second host would. Behind a load balancer
both answer at the same base URL; the browser here picks the node for each request.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.served.client import Browser
from tests.served.conftest import PASSWORD, make_user
from tests.servers import Instance, served_instance
from tests.web.saml_helpers import SP_ACS, authn_request, sp_metadata
from tests.webauthn_authenticator import SoftAuthenticator

A, B = 0, 1


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    """Node A (the first data directory) and node B (a second one, keys copied)."""
    with served_instance(Path(tmp_path_factory.mktemp("two-nodes"))) as made:
        made.start(workers=2)
        made.start(workers=2, data=made.node_data("node-b"))
        metadata = made.root / "sp-metadata.xml"
        metadata.write_bytes(sp_metadata())
        made.cli("app", "create-saml", "sp", "--metadata", str(metadata))
        yield made


def browser(instance: Instance, node: int) -> Browser:
    return Browser(instance.nodes[node].url, origin=instance.base_url)


def nodes(instance: Instance) -> tuple[str, str]:
    return instance.nodes[A].url, instance.nodes[B].url


def test_password_on_a_mfa_on_b_launch_on_a(instance: Instance) -> None:
    a, b = nodes(instance)
    make_user(instance, "hopper")
    instance.cli("app", "assign", "sp", "--user", "hopper")
    client = browser(instance, A)
    assert client.password("hopper", PASSWORD) == "/signin/mfa/register"
    client.at(b).register_totp()
    launched = client.at(a).launch("sp")
    assert launched.status_code == 200, launched.text[:500]
    acs, fields = client.saml_post(launched.text)
    assert acs == SP_ACS and fields["SAMLResponse"]
    assert client.at(b).get("/apps").status_code == 200


def test_a_totp_code_used_on_a_is_refused_on_b(instance: Instance) -> None:
    make_user(instance, "lovelace")
    first = browser(instance, A)
    first.password("lovelace", PASSWORD)
    secret, _codes = first.register_totp()
    step = datetime.now(UTC) + timedelta(seconds=30)
    on_a = browser(instance, A)
    assert on_a.password("lovelace", PASSWORD) == "/signin/mfa"
    done = on_a.totp(secret, at=step)
    assert done.status_code == 302 and done.headers["Location"] == "/apps", done.text[:300]
    on_b = browser(instance, B)
    assert on_b.password("lovelace", PASSWORD) == "/signin/mfa"
    assert on_b.totp(secret, at=step).status_code == 401


def test_a_webauthn_challenge_from_a_is_answered_at_b(instance: Instance) -> None:
    a, b = nodes(instance)
    make_user(instance, "turing")
    key = SoftAuthenticator(origin=instance.base_url)
    first = browser(instance, A)
    first.password("turing", PASSWORD)
    first.register_key(key)
    client = browser(instance, A)
    client.get("/signin")
    options = client.get("/signin/passkey/options").json()["options"]
    from tests.webauthn_authenticator import as_form

    client.at(b)
    client.get("/signin")
    done = client.post("/signin/passkey", {**as_form(key.assert_(options)), "next": "/apps"})
    assert done.status_code == 302 and done.headers["Location"] == "/apps", done.text[:300]
    # The challenge was used up: the same answer again, at A, is refused.
    replay = client.at(a).post("/signin/passkey", as_form(key.assert_(options)), page="/apps")
    assert replay.status_code == 400, replay.text[:300]


def test_wrong_passwords_on_both_nodes_add_up(instance: Instance) -> None:
    make_user(instance, "knuth")
    statuses = []
    for attempt in range(6):
        client = browser(instance, A if attempt % 2 else B)
        response = client.post(
            "/signin", {"username": "knuth", "password": "not the password"}, page="/signin"
        )
        statuses.append(response.status_code)
    assert statuses[:5] == [401] * 5 and statuses[5] == 429


def test_an_authn_request_answered_by_a_is_refused_by_b(instance: Instance) -> None:
    xml = authn_request(
        destination=f"{instance.base_url}/saml/sso",
        request_id="_two-nodes-1",
        now=datetime.now(UTC),
    )
    query = urlencode({"SAMLRequest": base64.b64encode(zlib.compress(xml)[2:-4]).decode()})
    first = browser(instance, A).get(f"/saml/sso?{query}")
    assert first.status_code == 302
    assert browser(instance, B).get(f"/saml/sso?{query}").status_code == 400


def test_an_assertion_redeemed_at_a_is_refused_at_b(instance: Instance) -> None:
    out = instance.cli("demo", "--no-serve")
    password = next(
        line.split()[1] for line in out.splitlines() if line.strip().startswith("password")
    )
    client = browser(instance, A)
    client.password("agent1", password)
    client.register_totp(new_password="agent one's own passphrase")
    acs, fields = client.saml_post(client.launch("amazon-connect").text)
    assert acs == f"{instance.base_url}/aws/saml"
    assert client.submit("/aws/saml", fields).status_code == 303
    replayed = client.at(instance.nodes[B].url).submit("/aws/saml", fields)
    assert replayed.status_code in (400, 403) and "connect-user" not in replayed.text


def test_a_policy_changed_anywhere_applies_at_once_on_every_node(instance: Instance) -> None:
    """Nodes cache compiled policies; the database's change token keeps them honest."""
    make_user(instance, "hamilton")
    instance.cli("app", "assign", "sp", "--user", "hamilton")
    client = browser(instance, A)
    client.password("hamilton", PASSWORD)
    client.register_totp()
    for node in (A, B):  # both nodes decide (and cache) once
        assert client.at(instance.nodes[node].url).launch("sp").status_code == 200
    deny = instance.root / "deny-sp.json"
    deny.write_text(
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Deny",'
        ' "Action": "sekisho:LaunchApplication", "Resource": "arn:sekisho:::application/sp"}]}'
    )
    instance.cli("policy", "put", "DenySp", str(deny))
    instance.cli("policy", "attach", "DenySp", "--idp")
    try:
        for node in (A, B):
            refused = client.at(instance.nodes[node].url).launch("sp")
            assert refused.status_code == 403, (node, refused.text[:300])
    finally:
        instance.cli("policy", "detach", "DenySp", "--idp")
    assert client.at(instance.nodes[A].url).launch("sp").status_code == 200
