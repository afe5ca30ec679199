"""The API's request and response shapes: pydantic models the OpenAPI document is built from."""

from datetime import datetime
from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import Field

from sekisho.api.core import Document, Email, LongText, Name, ShortText

Status = Literal["active", "disabled"]
RoleName = Literal["admin", "helpdesk", "auditor"]
Method = Literal["webauthn", "totp", "radius"]
NameFormat = Literal["basic", "uri", "unspecified"]
TargetKind = Literal["user", "group", "application"]


class Page(Schema):
    """Base of every list: the next page's cursor, or null at the end."""

    next_cursor: str | None = None


# ------------------------------------------------------------------ users


class Device(Schema):
    """One registered MFA factor (never a secret)."""

    type: str
    id: str
    name: str
    registered: datetime | None
    last_used: datetime | None
    detail: str


class User(Schema):
    """A user with everything an administrator reads."""

    username: str
    id: str
    email: str
    display_name: str
    status: str
    time_zone: str
    must_change_password: bool
    groups: list[str]
    roles: list[str]
    mfa_devices: list[Device]
    radius_username: str
    applications: list[str]
    locked: bool
    locked_until: datetime | None
    created_at: datetime | None
    last_sign_in: datetime | None


class UserSummary(Schema):
    """A user as a list shows them."""

    username: str
    id: str
    email: str
    display_name: str
    status: str
    groups: list[str]


class UserPage(Page):
    """A page of users, by username."""

    items: list[UserSummary]


class UserCreate(Schema):
    """A new user; a password given is temporary unless ``temporary`` is false."""

    username: Name
    email: Email
    display_name: ShortText | None = None
    password: ShortText | None = Field(default=None, json_schema_extra={"writeOnly": True})
    temporary: bool = True
    time_zone: ShortText = ""
    groups: list[Name] = Field(default_factory=list, max_length=100)


class UserPatch(Schema):
    """What an update may change (only the fields given)."""

    email: Email | None = None
    display_name: ShortText | None = None
    time_zone: ShortText | None = None
    # The User-Name sent to RADIUS; empty (or the username) sends the username again.
    radius_username: ShortText | None = None


class PasswordSet(Schema):
    """A new password for a user; temporary by default (changed at the next sign-in)."""

    password: ShortText = Field(json_schema_extra={"writeOnly": True})
    temporary: bool = True


class Done(Schema):
    """What an action did, in a sentence, with a count where one applies."""

    done: str
    count: int = 0


class Session(Schema):
    """A signed-in browser session (never its key)."""

    session_id: str
    username: str
    signed_in: datetime
    last_seen: datetime
    source_ip: str
    user_agent: str
    mfa: bool


class SessionPage(Page):
    """Sessions, newest first."""

    items: list[Session]


class ImportRequest(Schema):
    """A CSV file's text (see the README for its columns) and how to apply it."""

    csv: Document
    dry_run: bool = True
    skip_bad: bool = False


class ImportProblem(Schema):
    """One bad row: its line in the file, the column and why."""

    line: int
    username: str
    field: str
    code: str
    message: str


class ImportReport(Schema):
    """What an import found, and whether it changed anything."""

    dry_run: bool
    applied: bool
    rows: int
    valid: int
    bad_rows: int
    created: list[str]
    problems: list[ImportProblem]


class AccessCheck(Schema):
    """The effective IdP decision for a user, from an address, for sign-in or an application."""

    decision: str
    explanation: str
    matched: list[dict[str, Any]]


# ------------------------------------------------------------------ groups


class Group(Schema):
    """A group and its members."""

    name: str
    description: str
    members: list[str]
    created_at: datetime | None


class GroupPage(Page):
    """Groups by name."""

    items: list[Group]


class GroupCreate(Schema):
    """A new group."""

    name: Name
    description: ShortText = ""


class GroupPatch(Schema):
    """A group's description."""

    description: ShortText


# ------------------------------------------------------------------ applications


class AttributeMappingIn(Schema):
    """One attribute of the assertion: SAML Name, value expression, NameFormat."""

    name: ShortText
    value: LongText
    name_format: NameFormat = "basic"


NameIdFormat = Literal["unspecified", "emailAddress", "persistent", "transient"]
EncryptMode = Literal["auto", "always", "never"]
EncryptionAlgorithm = Literal["auto", "aes256-gcm", "aes128-gcm", "aes256-cbc", "aes128-cbc"]


class NameIdSettings(Schema):
    """The NameID an assertion carries: its format (a URN), value mapping, formats allowed."""

    format: str
    value: str
    allowed_formats: list[str]


class EncryptionSettings(Schema):
    """Whether assertions are encrypted: the mode, the algorithm, what the SP's metadata offers."""

    mode: str
    algorithm: EncryptionAlgorithm
    algorithm_uri: str | None
    sp_key: bool
    sp_methods: list[str]


class MetadataSource(Schema):
    """Where the SP's metadata came from: a URL (refreshable) or a document (url empty)."""

    url: str
    signature_required: bool
    valid_until: datetime | None
    refreshed_at: datetime | None
    refresh_error: str


class Application(Schema):
    """A SAML service provider."""

    name: str
    display_name: str
    kind: str
    entity_id: str
    acs: list[dict[str, Any]]
    relay_state: str
    name_id: NameIdSettings
    attributes: list[dict[str, str]]
    sign_response: bool
    require_mfa: bool
    require_signed_requests: bool
    encryption: EncryptionSettings
    single_logout: list[dict[str, Any]]
    metadata: MetadataSource
    preset: dict[str, Any]
    assigned_users: list[str]
    assigned_groups: list[str]


class ApplicationPage(Page):
    """Applications by name."""

    items: list[Application]


class ConnectCreate(Schema):
    """An Amazon Connect instance from the preset."""

    kind: Literal["amazon-connect"]
    name: Name
    display_name: ShortText | None = None
    region: Name
    instance_id: Name
    account_id: Name
    role_name: Name
    provider_name: Name
    destination: ShortText | None = None
    acs: Literal["global", "regional"] = "global"
    session_duration: int | None = Field(default=None, ge=900, le=43200)
    signin_url: LongText | None = None
    console_url: LongText | None = None
    # The instance's /connect/logout, requested by Sekisho's sign-out (no SAML SLO).
    logout_url: LongText | None = None


class ConsoleCreate(Schema):
    """The AWS Management Console from the preset."""

    kind: Literal["aws-console"]
    name: Name
    display_name: ShortText | None = None
    account_id: Name
    role_name: Name
    provider_name: Name
    region: Name | None = None
    relay_state: LongText | None = None
    session_duration: int | None = Field(default=None, ge=900, le=43200)
    signin_url: LongText | None = None


class SamlCreate(Schema):
    """Any SAML 2.0 SP, from its metadata (the document, or a URL to fetch it from)."""

    kind: Literal["saml"]
    name: Name
    display_name: ShortText | None = None
    metadata_xml: Document | None = None
    metadata_url: LongText | None = None
    # PEM: the metadata must carry a valid signature by it (now and at every refresh).
    metadata_certificate: Document | None = None
    entity_id: LongText | None = None
    # None: the first format the SP's metadata declares that Sekisho issues.
    name_id_format: NameIdFormat | None = None
    name_id: ShortText | None = None
    attributes: list[AttributeMappingIn] = Field(default_factory=list, max_length=50)
    relay_state: LongText = ""
    sign_response: bool = False
    require_signed_requests: bool = False
    encrypt_assertions: EncryptMode = "auto"


ApplicationCreate = Annotated[
    ConnectCreate | ConsoleCreate | SamlCreate, Field(discriminator="kind")
]


class ApplicationPatch(Schema):
    """What an update may change (only the fields given)."""

    display_name: ShortText | None = None
    relay_state: LongText | None = None
    name_id: ShortText | None = None
    attributes: list[AttributeMappingIn] | None = Field(default=None, max_length=50)
    sign_response: bool | None = None
    require_mfa: bool | None = None
    name_id_format: NameIdFormat | None = None
    # Formats a NameIDPolicy may ask for besides the default and persistent/transient.
    allowed_name_id_formats: list[NameIdFormat] | None = Field(
        default=None, min_length=1, max_length=4
    )
    encrypt_assertions: EncryptMode | None = None
    encryption_algorithm: EncryptionAlgorithm | None = None


class Assignments(Schema):
    """Who may launch an application: users and groups assigned directly."""

    users: list[str]
    groups: list[str]


class Preview(Schema):
    """The assertion a launch would post now, decoded (its signature broken on purpose)."""

    xml: str


# ------------------------------------------------------------------ policies


class Policy(Schema):
    """A stored IdP policy and where it is attached."""

    name: str
    description: str
    document: dict[str, Any]
    attached_to: list[str]
    updated_at: datetime | None


class PolicyPage(Page):
    """Policies by name."""

    items: list[Policy]


class PolicyPut(Schema):
    """A policy document (IAM JSON) and its description."""

    document: dict[str, Any]
    description: ShortText = ""


class PolicyProblem(Schema):
    """One problem of a document: its JSON path and what is wrong."""

    path: str
    message: str


class Validation(Schema):
    """Whether a document is valid, and every problem with its JSON path."""

    valid: bool
    problems: list[PolicyProblem]


class ValidateRequest(Schema):
    """A document to check, as a JSON object or as text."""

    document: dict[str, Any] | Document


class SimulateRequest(Schema):
    """Would ``user`` from ``source_ip`` sign in (no application) or open ``application``."""

    user: Name
    source_ip: Name
    application: Name | None = None
    mfa: bool = False


# ------------------------------------------------------------------ MFA, RADIUS, keys, settings


class MfaSettings(Schema):
    """The IdP-wide MFA settings."""

    mode: str
    without_device: str
    methods: list[str]
    trust_days: int
    known_networks: list[str]
    webauthn_user_verification: str
    webauthn_aaguids: list[str]


class MfaSettingsPatch(Schema):
    """The MFA settings to change (only those given)."""

    mode: Literal["context-aware", "always", "disabled"] | None = None
    without_device: Literal["require-registration", "block", "allow"] | None = None
    methods: list[Method] | None = Field(default=None, min_length=1, max_length=3)
    trust_days: int | None = Field(default=None, ge=1, le=365)
    known_networks: list[Name] | None = Field(default=None, max_length=100)
    webauthn_user_verification: Literal["preferred", "required"] | None = None
    webauthn_aaguids: list[Name] | None = Field(default=None, max_length=100)


class RadiusServer(Schema):
    """A RADIUS server, in failover order (never its secret)."""

    order: int
    name: str
    host: str
    port: int
    timeout: float
    retries: int
    created_at: datetime | None


class RadiusServerCreate(Schema):
    """A RADIUS server to add at the end of the failover order."""

    name: Name
    host: Name
    port: int = Field(default=1812, ge=1, le=65535)
    timeout: float = Field(default=5.0, ge=0.1, le=60.0)
    retries: int = Field(default=1, ge=0, le=10)
    secret: ShortText = Field(min_length=1, json_schema_extra={"writeOnly": True})


class RadiusTest(Schema):
    """A test Access-Request for a user (the password or code is sent, never recorded)."""

    username: Name
    password: ShortText = Field(json_schema_extra={"writeOnly": True})
    server: Name | None = None


class RadiusTestResult(Schema):
    """What came back: accept, reject, challenge, no_answer or bad_authenticator."""

    result: str
    server: str
    message: str
    seconds: float


class SigningKey(Schema):
    """A signing key's certificate (the private key never leaves the server)."""

    role: str
    sha256: str
    subject: str
    not_before: datetime
    not_after: datetime
    certificate_pem: str


class Settings(Schema):
    """The IdP's own settings."""

    time_zone: str


class SettingsPatch(Schema):
    """The settings to change."""

    time_zone: ShortText | None = None


# ------------------------------------------------------------------ audit, dashboard


class AuditPage(Page):
    """Audit records (CloudTrail's record shape), newest first."""

    items: list[dict[str, Any]]


class Dashboard(Schema):
    """The last 24 hours, counted from the audit trail."""

    since: datetime
    until: datetime
    signins_ok: int
    signins_refused: int
    hours: list[dict[str, Any]]
    refusals: dict[str, int]
    sources: dict[str, int]
    launches: list[dict[str, Any]]
