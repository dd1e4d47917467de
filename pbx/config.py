"""Typed configuration: YAML decoded into msgspec Structs at the edge.

Unknown keys are errors (a typo must not be silently ignored), and every
error names the key path and the file line it came from:
`config.yaml:12: $.sip.listen[0].port: Expected int, got str`.
"""

from __future__ import annotations

import ipaddress

import re
import ssl
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import yaml

from pbx.acd.queue import QueueSettings
from pbx.trunks.config import OutboundRouteConfig, TrunkConfig, reference_errors
from sdk.plugins import error_path


class ConfigError(Exception):
    """A configuration file is unreadable or invalid; the message says where and why."""


class Listen(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    transport: Literal["udp", "tcp", "tls"]
    host: str = "127.0.0.1"
    port: int = 5060
    # TLS only (RFC 3261 26.2.1, RFC 5630): our certificate chain and its key (PEM files); `ca`
    # holds the authorities we trust for peers; `verify_clients` asks phones for a certificate.
    certificate: str | None = None
    private_key: str | None = None
    ca: str | None = None
    verify_clients: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.port < 65536:
            raise ValueError(f"port {self.port} is not between 0 and 65535")
        if self.transport == "tls" and not (self.certificate and self.private_key):
            raise ValueError("a tls listener needs certificate: and private_key: (PEM files)")
        if self.transport != "tls" and (self.certificate or self.private_key or self.ca or self.verify_clients):
            raise ValueError(f"certificate, private_key, ca and verify_clients are for tls listeners, not {self.transport}")


class SipConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    listen: list[Listen] = msgspec.field(
        default_factory=lambda: [Listen("udp"), Listen("tcp")]
    )
    # Server and User-Agent: no version by default, scanners (svmap) read it to pick their exploits.
    user_agent: str = "pbx"
    # RFC 3261 17.1.1.1 timer values, in seconds.
    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0


class RegistrarConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    min_expires: int = 60
    max_expires: int = 7200
    default_expires: int = 3600
    max_bindings: int = 10

    def __post_init__(self) -> None:
        if not 0 < self.min_expires <= self.default_expires <= self.max_expires:
            raise ValueError("need 0 < min_expires <= default_expires <= max_expires")


class AuthConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    nonce_lifetime: int = 300
    # One challenge per algorithm, in this order (RFC 8760 2.4). MD5 alone by default:
    # baresip 1.0.0 gives up when offered SHA-256 too, and sipp 3.6.1 answers only the first.
    algorithms: list[Literal["MD5", "SHA-256", "SHA-512-256"]] = msgspec.field(default_factory=lambda: ["MD5"])


class RateConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """New requests per second (0: no limit) and how many may come at once."""

    invite: float
    register: float
    burst: int

    def __post_init__(self) -> None:
        if self.invite < 0 or self.register < 0 or self.burst < 1:
            raise ValueError("rates must be 0 (no limit) or positive, and burst at least 1")


class SecurityConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Bans for password guessers and rate limits for floods (pbx/sip/guard.py)."""

    ban_after: int = 5  # authentication failures from one address that ban it (0: never)
    ban_window: float = 60.0  # ... within this many seconds
    ban_seconds: float = 600.0
    # A source address may be a whole office behind NAT; a user is one person (or a stolen account).
    per_source: RateConfig = msgspec.field(default_factory=lambda: RateConfig(invite=50, register=50, burst=200))
    per_user: RateConfig = msgspec.field(default_factory=lambda: RateConfig(invite=10, register=5, burst=50))
    trusted: list[str] = []  # addresses or CIDRs never banned nor limited per source (per-user limits apply)

    def __post_init__(self) -> None:
        if self.ban_after < 0 or self.ban_window <= 0 or self.ban_seconds <= 0:
            raise ValueError("need ban_after >= 0 and positive ban_window and ban_seconds")
        for entry in self.trusted:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"trusted: {entry!r} is not an address or a CIDR (203.0.113.0/24)") from None

    @property
    def trusted_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(entry, strict=False) for entry in self.trusted)


class HostPort(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: int = 8088


class ConfiguredToken(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An API token managed with the config: only its SHA-256 is written here
    (`pbx token hash` prints it for a secret; `pbx token create` keeps tokens in the database)."""

    name: str
    role: Literal["admin", "supervisor", "agent", "read-only"]
    sha256: str
    agent: str | None = None

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[0-9a-f]{64}", self.sha256):
            raise ValueError(f"token {self.name!r}: sha256 must be 64 lowercase hex digits (`pbx token hash` prints it)")
        if (self.role == "agent") != (self.agent is not None):
            raise ValueError(f"token {self.name!r}: a token of the agent role names its agent, and only that role does")


class AdminTls(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The admin API and pages over HTTPS (and the event stream over wss:)."""

    certificate: str
    private_key: str


class AdminConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    listen: HostPort | None = msgspec.field(default_factory=HostPort)
    tls: AdminTls | None = None
    tokens: list[ConfiguredToken] = []


class LogConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["text", "json"] = "text"
    sip_trace: bool = False


class Extension(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    password: str
    name: str | None = None
    # How an INVITE from this extension is challenged: 407 (RFC 3261 22.3, the default) or
    # 401 (22.2) for phones that only answer 401, such as pyVoIP 1.6.
    invite_challenge: Literal[401, 407] = 407
    record: bool = False  # record every answered call to or from this extension
    # SRTP with SDES keys (RFC 4568) on calls the PBX places to this extension: we offer RTP/SAVP
    # and require it. Calls from it use SRTP whenever its phone offers a=crypto, whatever this says.
    srtp: bool = False
    # Outbound routes (or outbound_classes) this extension may call out on; none by default.
    outbound: list[str] = []


class CallsConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    ring_timeout: float = 30.0  # seconds of ringing before the caller hears 480 (no answer)
    # SIGTERM: seconds the PBX waits for calls in progress (new INVITEs get 503) before it ends them.
    drain_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.ring_timeout <= 0:
            raise ValueError("ring_timeout must be positive")
        if self.drain_seconds < 0:
            raise ValueError("drain_seconds must be 0 or more")


class PortRange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    low: int = 20000
    high: int = 20999

    def __post_init__(self) -> None:
        if not 1024 <= self.low < self.high < 65536:
            raise ValueError(f"need 1024 <= low < high < 65536, got {self.low}..{self.high}")


class MediaConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    rtp_host: str = "127.0.0.1"  # the address put in SDP and bound for RTP (an IP address)
    rtp_ports: PortRange = msgspec.field(default_factory=PortRange)
    prompts: str = "var/prompts/en"  # directory of <name>.wav prompts (`make prompts` renders them)
    # In-band DTMF detection on bridged legs: "auto" where the phone offered no telephone-event
    # (RFC 4733), "always", or "never". Legs the PBX answers itself always listen for tones.
    inband_dtmf: Literal["auto", "always", "never"] = "auto"
    # Seconds without RTP or RTCP from a leg of an answered call (not on hold, RFC 3264 8.4)
    # before the PBX ends the call as media_timeout; 0 turns it off.
    inactivity_timeout: float = 60.0

    def __post_init__(self) -> None:
        if self.inactivity_timeout < 0:
            raise ValueError("inactivity_timeout must be 0 (off) or more")


class TestExtensions(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Numbers the PBX answers itself to check media (null turns one off)."""

    echo: str | None = "600"
    playback: str | None = "601"
    digits: str | None = "602"


_EXTENSION_NUMBER = re.compile(r"[0-9A-Za-z_.+\-]+\Z")


class Route(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An inbound route: a called number (or an Asterisk-style `_` pattern) and where it goes."""

    match: str
    scenario: str | None = None
    queue: str | None = None
    extension: str | None = None

    def __post_init__(self) -> None:
        targets = [name for name in ("scenario", "queue", "extension") if getattr(self, name) is not None]
        if len(targets) != 1:
            raise ValueError(f"route {self.match!r} needs exactly one of scenario, queue or extension")
        from pbx.calls.inbound import compile_match

        compile_match(self.match)

    @property
    def target(self) -> tuple[str, str]:
        kind = "scenario" if self.scenario is not None else "queue" if self.queue is not None else "extension"
        return kind, getattr(self, kind)


class DefaultRoute(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    scenario: str | None = None
    queue: str | None = None
    extension: str | None = None

    def __post_init__(self) -> None:
        if sum(getattr(self, name) is not None for name in ("scenario", "queue", "extension")) != 1:
            raise ValueError("default_route needs exactly one of scenario, queue or extension")

    @property
    def target(self) -> tuple[str, str]:
        kind = "scenario" if self.scenario is not None else "queue" if self.queue is not None else "extension"
        return kind, getattr(self, kind)


class QueueMember(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An agent in a queue: lower penalty rings first; skills are proficiency levels."""

    agent: str
    penalty: int = 0
    weight: float = 1.0
    skills: dict[str, int] = {}


class QueueConfig(QueueSettings, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A queue: the ACD's rules (pbx.acd.queue.QueueSettings) and its members. The name is the key."""

    name: str = ""
    members: list[QueueMember] = []
    exit_key: str | None = None  # a key that takes a waiting caller out: back to the scenario that
    exit_to: str | None = None  # queued them, else to this scenario (callers routed straight here)
    callback_key: str | None = None  # a key that asks to be called back (needs callback.enabled)

    def __post_init__(self) -> None:
        super().__post_init__()
        for name, key in (("exit_key", self.exit_key), ("callback_key", self.callback_key)):
            if key is not None and (len(key) != 1 or key not in "0123456789*#"):
                raise ValueError(f"{name} must be one DTMF key (0-9, * or #), got {key!r}")
        if self.callback_key is not None and not self.callback.enabled:
            raise ValueError("callback_key needs callback: {enabled: true}")


class AgentConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An agent: `static` agents are logged in while their phone is registered; `dynamic` ones log
    in and out, pause and unpause with the feature codes."""

    name: str | None = None
    extension: str | None = None  # the phone that rings; the agent's key when not given
    login: Literal["static", "dynamic"] = "static"


class FeatureCodes(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Numbers an agent dials from their phone (Asterisk-style star codes)."""

    login: str = "*45"
    logout: str = "*46"
    pause: str = "*47"
    unpause: str = "*48"
    # Supervisor monitoring: the code, then the agent's extension or name (*2221002, *222alice).
    listen: str = "*222"  # hear the caller and the agent
    whisper: str = "*223"  # ... and speak to the agent only
    barge: str = "*224"  # a three-way call
    supervisors: list[str] = []  # the extensions allowed to dial them (none by default)


class RecordingConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    directory: str = "var/recordings"  # <directory>/<YYYY-MM-DD>/<call id>.wav
    layout: Literal["stereo", "mixed"] = "stereo"  # stereo: caller left, callee right
    calls: Literal["none", "all"] = "none"  # "all" records every answered call


class IvrConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    scenarios: str = "scenarios"  # every *.ivr and *.yaml in it, known by its file name (none if missing)
    prompts: str = "var/prompts"  # recorded prompts as <language>/<name>.wav
    tts_cache: str = "var/tts"  # spoken text rendered by espeak-ng, kept once per phrase
    # Functions scenarios may `invoke`, by import path ("module:callable"), until plugins register them.
    functions: dict[str, str] = {}

    def __post_init__(self) -> None:
        for name, target in self.functions.items():
            module, colon, attribute = target.partition(":")
            if not colon or not module or not attribute:
                raise ValueError(f"function {name!r}: expected 'module:callable', got {target!r}")


class PluginSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One plugin's section under `plugins:`. A built-in runs when it has a section; installed and
    `path` plugins run unless `enabled: false`. `path` loads a plugin from a .py file or package
    directory of the site's own (relative to the config file); `config` is decoded into the
    plugin's own Config Struct."""

    enabled: bool = True
    path: str | None = None
    timeout: float = 2.0  # seconds the call path waits for one of its hooks
    queue_limit: int = 10_000  # events queued for it before the oldest are dropped
    config: dict[str, Any] = {}

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")


class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    realm: str
    # Where the PBX keeps its database (pbx.sqlite) and the plugins' files; relative paths in this
    # file are taken from the directory the file is in.
    data_dir: str = "var"
    # The PBX database: None is SQLite in data_dir (pbx.sqlite); "postgresql://user@host/db" for
    # bigger sites and several nodes sharing one database (same tables, same migrations).
    database: str | None = None
    plugins: dict[str, PluginSection] = {}
    sip: SipConfig = msgspec.field(default_factory=SipConfig)
    registrar: RegistrarConfig = msgspec.field(default_factory=RegistrarConfig)
    auth: AuthConfig = msgspec.field(default_factory=AuthConfig)
    security: SecurityConfig = msgspec.field(default_factory=SecurityConfig)
    admin: AdminConfig = msgspec.field(default_factory=AdminConfig)
    log: LogConfig = msgspec.field(default_factory=LogConfig)
    calls: CallsConfig = msgspec.field(default_factory=CallsConfig)
    media: MediaConfig = msgspec.field(default_factory=MediaConfig)
    test_extensions: TestExtensions = msgspec.field(default_factory=TestExtensions)
    extensions: dict[str, Extension] = {}
    ivr: IvrConfig = msgspec.field(default_factory=IvrConfig)
    recording: RecordingConfig = msgspec.field(default_factory=RecordingConfig)
    queues: dict[str, QueueConfig] = {}
    agents: dict[str, AgentConfig] = {}
    feature_codes: FeatureCodes = msgspec.field(default_factory=FeatureCodes)
    routes: list[Route] = []  # inbound routes, first match wins
    default_route: DefaultRoute | None = None  # for called numbers no extension or route matches
    trunks: dict[str, TrunkConfig] = {}  # SIP trunks by name (docs/trunks.md)
    outbound_routes: list[OutboundRouteConfig] = []  # numbers that go out on trunks, first match wins
    outbound_classes: dict[str, list[str]] = {}  # named groups of outbound routes for `outbound:`
    # Worker processes sharing the SIP port, one core each (pbx/workers/, docs/capacity.md).
    workers: Annotated[int, msgspec.Meta(ge=1)] = 1

    def __post_init__(self) -> None:
        if self.database is not None and not self.database.startswith(("postgresql://", "postgres://")):
            raise ValueError(f"database {self.database!r} is not a postgresql://user@host/db URL "
                             "(leave it out for SQLite in data_dir)")
        for number in self.extensions:
            if not _EXTENSION_NUMBER.match(number):
                raise ValueError(f"extension {number!r} may hold only letters, digits and _.+-")
        for name, queue in self.queues.items():
            for member in queue.members:
                if member.agent not in self.agents:
                    raise ValueError(f"queue {name!r}: member {member.agent!r} is not in agents")
        for name, agent in self.agents.items():
            extension = agent.extension or name
            if extension not in self.extensions:
                raise ValueError(f"agent {name!r}: extension {extension!r} is not in extensions")
        for supervisor in self.feature_codes.supervisors:
            if supervisor not in self.extensions:
                raise ValueError(f"feature_codes.supervisors: {supervisor!r} is not in extensions")
        for route in self.routes:
            kind, target = route.target
            if kind == "queue" and target not in self.queues:
                raise ValueError(f"route {route.match!r}: no queue {target!r} in queues")


def load_config(path: str | Path) -> Config:
    """The config in `path`, its relative paths taken from the file's directory (not the
    directory the PBX was started in)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None
    config = resolve_paths(parse_config(text, str(path)), path.resolve().parent)
    check_tls_files(config, str(path))
    return config


def resolve_paths(config: Config, base: Path) -> Config:
    """Every file and directory the config names, made absolute against `base`."""
    replace = msgspec.structs.replace

    def absolute(value: str) -> str:
        return str(base / value) if value else value

    def optional(value: str | None) -> str | None:
        return absolute(value) if value else value

    plugins = {name: replace(section, path=absolute(section.path)) if section.path else section
               for name, section in config.plugins.items()}
    listen = [replace(entry, certificate=optional(entry.certificate), private_key=optional(entry.private_key),
                      ca=optional(entry.ca)) for entry in config.sip.listen]
    admin_tls = config.admin.tls and replace(config.admin.tls, certificate=absolute(config.admin.tls.certificate),
                                             private_key=absolute(config.admin.tls.private_key))
    return replace(
        config, data_dir=absolute(config.data_dir), plugins=plugins,
        sip=replace(config.sip, listen=listen), admin=replace(config.admin, tls=admin_tls),
        media=replace(config.media, prompts=absolute(config.media.prompts)),
        recording=replace(config.recording, directory=absolute(config.recording.directory)),
        ivr=replace(config.ivr, scenarios=absolute(config.ivr.scenarios), prompts=absolute(config.ivr.prompts),
                    tts_cache=absolute(config.ivr.tts_cache)),
    )  # fmt: skip


def check_tls_files(config: Config, filename: str) -> None:
    """Every certificate, key and CA file the config names can be read and loaded; else a
    ConfigError naming the key and the file (found at start, not at the first handshake)."""
    pairs: list[tuple[list[str | int], str, str]] = [
        (["sip", "listen", index], entry.certificate, entry.private_key)
        for index, entry in enumerate(config.sip.listen) if entry.certificate and entry.private_key
    ]
    if config.admin.tls is not None:
        pairs.append((["admin", "tls"], config.admin.tls.certificate, config.admin.tls.private_key))
    for path, certificate, private_key in pairs:
        where = config_line(filename, path)
        dotted = "$" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)
        for key, file in (("certificate", certificate), ("private_key", private_key)):
            _check_readable(file, f"{where}: {dotted}.{key}")
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(certificate, private_key)
        except (ssl.SSLError, ValueError) as error:
            raise ConfigError(f"{where}: {dotted}: {certificate} and {private_key} are not a PEM certificate "
                              f"and its private key: {error}") from None
    for index, entry in enumerate(config.sip.listen):
        if entry.ca:
            _check_readable(entry.ca, f"{config_line(filename, ['sip', 'listen', index])}: $.sip.listen[{index}].ca")


def _check_readable(file: str, where: str) -> None:
    try:
        with open(file, "rb"):
            pass
    except OSError as error:
        raise ConfigError(f"{where}: cannot read {file}: {error.strerror}") from None


def config_line(filename: str, path: list[str | int]) -> str:
    """`file:line` of the key at `path` in a config file (the file alone when it cannot be read)."""
    try:
        root = yaml.compose(Path(filename).read_text(), Loader=yaml.SafeLoader)
    except (OSError, yaml.YAMLError):
        return filename
    line = _line_of(root, path)
    return f"{filename}:{line}" if line else filename


def parse_config(text: str, filename: str = "<config>") -> Config:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{filename}:{mark.line + 1}:{mark.column + 1}" if mark else filename
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{filename}:1: the configuration must be a mapping of keys to values")
    # YAML reads `1001:` as an integer; extension numbers are strings.
    for section in ("extensions", "agents"):
        if isinstance(data.get(section), dict):
            data[section] = {str(key): value for key, value in data[section].items()}
    for queue in (data.get("queues") or {}).values() if isinstance(data.get("queues"), dict) else ():
        for member in queue.get("members") or () if isinstance(queue, dict) else ():
            if isinstance(member, dict) and "agent" in member:
                member["agent"] = str(member["agent"])
    try:
        config = msgspec.convert(data, Config)
    except msgspec.ValidationError as error:
        message = str(error)
        if " - at `$" not in message:
            message += " - at `$`"
        path = error_path(message)
        line = _line_of(root, path)
        where = f"{filename}:{line}" if line else filename
        raise ConfigError(f"{where}: {message}") from None
    # Trunk names, outbound routes and classes point at each other: each dangling name at its line.
    permissions = {number: extension.outbound for number, extension in config.extensions.items() if extension.outbound}
    for path, problem in reference_errors(config.trunks, config.outbound_routes, config.outbound_classes, permissions):
        line = _line_of(root, path)
        where = f"{filename}:{line}" if line else filename
        dotted = "$" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)
        raise ConfigError(f"{where}: {problem} - at `{dotted}`")
    return config


def _line_of(node: yaml.Node | None, path: list[str | int]) -> int | None:
    """The 1-based line of the YAML node at `path`, or of its deepest existing parent."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if str(key.value) == str(part):
                    # An unknown or wrong key is best shown at the key itself.
                    line = key.start_mark.line + 1
                    node = value
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line
