"""SEKISHO_SCOPE and the metadata settings: read once, validated, one-line errors."""

from __future__ import annotations

import pytest

from sekisho.config import ContactSettings, OrganizationSettings, load_config
from sekisho.errors import ConfigError


def _load(**env: str):  # type: ignore[no-untyped-def]
    return load_config({"SEKISHO_DATA": "/tmp/sekisho-config-test-nonexistent", **env})


def test_defaults() -> None:
    config = _load()
    assert config.scope == "localhost"
    assert config.metadata.sign is False
    assert config.metadata.valid_days is None and config.metadata.cache_seconds is None
    assert config.metadata.organization is None and config.metadata.contacts == ()
    assert _load(SEKISHO_BASE_URL="https://idp.example.org").scope == "idp.example.org"
    assert _load(SEKISHO_BASE_URL="http://127.0.0.1:8000").scope == "localhost"


def test_everything_set() -> None:
    config = _load(
        SEKISHO_SCOPE="Example.ORG",
        SEKISHO_METADATA_SIGN="true",
        SEKISHO_METADATA_VALID_DAYS="14",
        SEKISHO_METADATA_CACHE_SECONDS="21600",
        SEKISHO_ORG_NAME="Example",
        SEKISHO_ORG_DISPLAY_NAME="Example Contact Centre",
        SEKISHO_ORG_URL="https://www.example.org/",
        SEKISHO_CONTACT_TECHNICAL="IdP Operations <idp-ops@example.org>",
        SEKISHO_CONTACT_SUPPORT="help@example.org",
    )
    assert config.scope == "example.org"
    assert (config.metadata.sign, config.metadata.valid_days, config.metadata.cache_seconds) == (
        True,
        14,
        21600,
    )
    assert config.metadata.organization == OrganizationSettings(
        "Example", "Example Contact Centre", "https://www.example.org/"
    )
    assert config.metadata.contacts == (
        ContactSettings("technical", "idp-ops@example.org", "IdP Operations"),
        ContactSettings("support", "help@example.org", ""),
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SEKISHO_SCOPE": "exa mple.org"}, "SEKISHO_SCOPE must be a DNS domain"),
        ({"SEKISHO_SCOPE": "@example.org"}, "SEKISHO_SCOPE"),
        ({"SEKISHO_SCOPE": "-x.example.org"}, "SEKISHO_SCOPE"),
        ({"SEKISHO_METADATA_SIGN": "maybe"}, "SEKISHO_METADATA_SIGN must be true or false"),
        ({"SEKISHO_METADATA_VALID_DAYS": "0"}, "SEKISHO_METADATA_VALID_DAYS must be a whole"),
        ({"SEKISHO_METADATA_VALID_DAYS": "7d"}, "SEKISHO_METADATA_VALID_DAYS"),
        ({"SEKISHO_METADATA_CACHE_SECONDS": "5"}, "from 60 to"),
        ({"SEKISHO_ORG_NAME": "Example"}, "must be set together"),
        ({"SEKISHO_ORG_URL": "https://x.example"}, "must be set together"),
        ({"SEKISHO_ORG_NAME": "E", "SEKISHO_ORG_URL": "ftp://x"}, "SEKISHO_ORG_URL must be"),
        ({"SEKISHO_ORG_NAME": "E\nvil", "SEKISHO_ORG_URL": "https://x"}, "printable"),
        ({"SEKISHO_CONTACT_TECHNICAL": "not an address"}, "SEKISHO_CONTACT_TECHNICAL must be"),
        ({"SEKISHO_CONTACT_SUPPORT": "Help <nobody>"}, "SEKISHO_CONTACT_SUPPORT must be"),
    ],
)
def test_bad_values_stop_start_up_with_one_line(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        _load(**env)
    assert "\n" not in str(info.value)
