"""Scenarios and the config on the admin API: validate, upload, list, show, reload.

    POST /api/scenarios/validate   {"name", "format": "dsl" | "yaml", "source"}  the checker's messages
    GET  /api/scenarios            every scenario file, with its status
    GET  /api/scenarios/{name}     one scenario's source
    PUT  /api/scenarios/{name}     {"format", "source"}: checked, written, loaded (400 with the messages)
    POST /api/scenarios/reload     read the scenario directory again, as SIGHUP does
    POST /api/config/reload        read the config file again: apply what can change live

Reads are for READERS, changes for ADMINS (the admin API audits them). A scenario's name is its
file's name without the extension (`support` is support.ivr or support.yaml): letters, digits,
`_` and `-`, so a name is never a path (a 400 naming the field otherwise). An upload is checked
as the reload will check it (scenario_check.py, against the queues, functions and prompts the
PBX has), written to a temporary file in the scenario directory and renamed over the old one
(POSIX rename is atomic: a reload, a SIGHUP or a crash sees the old file or the new, never half
of one), then the directory is reloaded. A scenario has one form: uploading `support` as YAML
while support.ivr exists is a 409 (delete or replace the .ivr).

The config reload reads the file with the same command-line overrides as at start
(AdminContext.load_config), and applies what pbx/config_reload.py calls live: queue rules, new
agents, routes and the scenario directory; the answer lists what was applied and what needs a
restart. An invalid config is a 400 naming file:line and the key, and changes nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from pbx.admin.context import AdminContext
from pbx.admin.scenario_check import SUFFIX, CheckMessage, Form, check_text
from pbx.config import ConfigError
from pbx.ivr.library import SUFFIXES
from sdk.admin import ADMINS, READERS, Answer, ApiRequest, Endpoint, bad_input, conflict, endpoint, not_found

__all__ = ["scenario_endpoints"]

NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$")
MAX_SOURCE = 1_000_000  # characters: a scenario is a few kilobytes
TAGS = ("scenarios",)
ScenarioName = Annotated[str, Meta(pattern=NAME.pattern, description="letters, digits, _ and - (the file's name)")]
Source = Annotated[str, Meta(max_length=MAX_SOURCE, description="the scenario's text, in the form given")]
_FIELD_PATH = re.compile(r"at `\$\.?([^`]*)`")


class ScenarioText(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A scenario to check: its name, its form (the DSL, or YAML) and its text."""

    name: ScenarioName
    format: Form = "dsl"
    source: Source


class ScenarioUpload(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A scenario's new text, in the DSL or in YAML."""

    format: Form = "dsl"
    source: Source


class Validation(msgspec.Struct, frozen=True, kw_only=True):
    """What the checker says of a scenario: valid when it has no errors (warnings are worth a look)."""

    name: str
    file: str  # the file it would be: support.ivr
    valid: bool
    errors: int
    warnings: int
    messages: list[CheckMessage]


class ScenarioRefused(msgspec.Struct, frozen=True, kw_only=True):
    """An upload the checker refused: an error body (code, message, field) with every message."""

    code: str
    message: str
    field: str | None
    messages: list[CheckMessage]


class ReloadResult(msgspec.Struct, frozen=True, kw_only=True):
    """A reload of the scenario directory: what is now in service, what was refused (the version
    already in service, if any, stays) and why, what was removed."""

    ok: bool
    loaded: list[str]
    unchanged: list[str]
    refused: dict[str, str]  # name -> its errors, formatted
    removed: list[str]
    warnings: dict[str, str]


class Uploaded(msgspec.Struct, frozen=True, kw_only=True):
    """An upload written and loaded: its file, the version now in service, the checker's
    warnings, and the reload it caused."""

    name: str
    file: str
    version: int | None  # None if the reload did not take it (see reload.refused)
    warnings: list[CheckMessage]
    reload: ReloadResult


class ScenarioStatus(msgspec.Struct, frozen=True, kw_only=True):
    """A scenario file and where it stands:
    - loaded: the file is the version in service;
    - modified: the file differs from the version in service (or is new) and is valid: a reload loads it;
    - invalid: the file fails the checker (the version in service, if any, stays);
    - ignored: another file defines the same name (the .ivr wins over the .yaml);
    - removed: in service, but its file is gone (a reload takes it out)."""

    name: str
    file: str
    format: Form
    status: Literal["loaded", "modified", "invalid", "ignored", "removed"]
    title: str | None  # the scenario's own name, of the version in service
    version: int | None  # the version in service (1, then +1 for each change loaded)
    errors: int
    warnings: int


class ScenarioSource(msgspec.Struct, frozen=True, kw_only=True):
    """A scenario file's text, and the version in service."""

    name: str
    file: str
    format: Form
    source: str
    version: int | None


class ConfigReloaded(msgspec.Struct, frozen=True, kw_only=True):
    """A config reload: the changes applied live and those that need a restart (key paths, as
    in the file: "queues.sales", "agents.1003", "sip"), and the scenarios read again."""

    applied: list[str]
    restart_needed: list[str]
    scenarios: ReloadResult


def _form(path: Path) -> Form:
    return "dsl" if path.suffix == ".ivr" else "yaml"


def _checked_name(name: str, field: str = "name") -> str:
    if not NAME.match(name):
        raise bad_input("a scenario's name is 1 to 64 letters, digits, _ or - (not starting with -): "
                        f"{name[:80]!r} is not one", field)
    return name


def _write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same directory and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _reload_result(report: Any) -> ReloadResult:
    return ReloadResult(ok=report.ok, loaded=report.loaded, unchanged=report.unchanged, refused=report.refused,
                        removed=report.removed, warnings=report.warnings)


def scenario_endpoints(context: AdminContext) -> list[Endpoint]:
    checked: dict[tuple[str, str], tuple[int, int]] = {}  # (path, digest) -> (errors, warnings)

    def library() -> Any:
        scenarios = getattr(context.app, "scenarios", None)
        if scenarios is None:
            raise not_found("scenarios are not available on this PBX")
        return scenarios

    def files(directory: Path) -> dict[str, list[Path]]:
        """Each name's files, the one a reload uses first (.ivr before .yaml)."""
        found: dict[str, list[Path]] = {}
        paths = [path for path in directory.glob("*") if path.suffix in SUFFIXES] if directory.is_dir() else []
        for path in sorted(paths, key=lambda p: (p.stem, SUFFIXES.index(p.suffix))):
            if NAME.match(path.stem):
                found.setdefault(path.stem, []).append(path)
        return found

    def check_file(path: Path, scenarios: Any) -> tuple[str, int, int]:
        text = path.read_text(encoding="utf-8", errors="replace")
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        if (str(path), digest) not in checked:
            if len(checked) > 1000:  # edited files leave old digests behind
                checked.clear()
            messages = check_text(text, _form(path), path, scenarios.context())
            errors = sum(message.severity == "error" for message in messages)
            checked[(str(path), digest)] = (errors, len(messages) - errors)
        return digest, *checked[(str(path), digest)]

    def statuses(scenarios: Any) -> list[ScenarioStatus]:
        rows = []
        on_disk = files(scenarios.directory)
        for name, paths in on_disk.items():
            current = scenarios.get(name)
            for index, path in enumerate(paths):
                digest, errors, warnings = check_file(path, scenarios)
                if index > 0:
                    status = "ignored"
                elif errors:
                    status = "invalid"
                elif current is not None and current.digest == digest and current.path == str(path):
                    status = "loaded"
                else:
                    status = "modified"
                rows.append(ScenarioStatus(name=name, file=path.name, format=_form(path), status=status,
                                           title=current.title if current else None,
                                           version=current.version if current else None, errors=errors,
                                           warnings=warnings))
        for name, current in scenarios.scenarios.items():
            if name not in on_disk:
                path = Path(current.path)
                rows.append(ScenarioStatus(name=name, file=path.name, format=_form(path), status="removed",
                                           title=current.title, version=current.version, errors=0, warnings=0))
        return sorted(rows, key=lambda row: (row.name, row.status == "ignored", row.file))

    def reload() -> ReloadResult:
        if context.reload_scenarios is None:
            raise not_found("scenarios are not available on this PBX")
        return _reload_result(context.reload_scenarios())

    @endpoint("POST", "/api/scenarios/validate", summary="Check a scenario without loading it", roles=READERS,
              body=ScenarioText, response=Validation, tags=TAGS)
    async def validate(request: ApiRequest) -> Validation:
        """Parses and checks the text as a reload would (against the queues, functions and prompts
        this PBX has): every error and warning with its line and column. Nothing is written."""
        body: ScenarioText = request.body
        scenarios = library()
        path = scenarios.directory / f"{body.name}{SUFFIX[body.format]}"
        messages = await asyncio.to_thread(check_text, body.source, body.format, path, scenarios.context())
        errors = sum(message.severity == "error" for message in messages)
        return Validation(name=body.name, file=path.name, valid=not errors, errors=errors,
                          warnings=len(messages) - errors, messages=messages)

    @endpoint("GET", "/api/scenarios", summary="The scenarios and their status", roles=READERS,
              response=list[ScenarioStatus], tags=TAGS)
    async def listing(request: ApiRequest) -> list[ScenarioStatus]:
        """Every scenario file of the scenario directory, and every scenario in service, with where
        each stands (loaded, modified, invalid, ignored, removed)."""
        scenarios = library()
        return await asyncio.to_thread(statuses, scenarios)

    @endpoint("GET", "/api/scenarios/{name}", summary="A scenario's source", roles=READERS,
              response=ScenarioSource, tags=TAGS)
    async def show(request: ApiRequest) -> ScenarioSource:
        """The text of the file a reload reads for this name (the .ivr before the .yaml)."""
        name = _checked_name(request.path["name"])
        scenarios = library()
        paths = (await asyncio.to_thread(files, scenarios.directory)).get(name)
        if not paths:
            raise not_found(f"no scenario file named {name!r} in the scenario directory", "name")
        current = scenarios.get(name)
        source = await asyncio.to_thread(paths[0].read_text, encoding="utf-8", errors="replace")
        return ScenarioSource(name=name, file=paths[0].name, format=_form(paths[0]), source=source,
                              version=current.version if current else None)

    @endpoint("PUT", "/api/scenarios/{name}", summary="Upload a scenario: check, write, load", roles=ADMINS,
              body=ScenarioUpload, response=Uploaded, tags=TAGS)
    async def upload(request: ApiRequest) -> Any:
        """Checks the text; refuses it (400, with every message) when it has errors; else writes it
        as the scenario's file (atomically) and reloads the scenario directory. Calls in progress
        finish on the version they started with."""
        name = _checked_name(request.path["name"])
        body: ScenarioUpload = request.body
        scenarios = library()
        path = scenarios.directory / f"{name}{SUFFIX[body.format]}"
        request.audit(f"scenario {name}", file=path.name)
        others = [other.name for other in (await asyncio.to_thread(files, scenarios.directory)).get(name, [])
                  if other != path]
        if others:
            raise conflict(f"{others[0]} already defines scenario {name!r}: upload it in that form, or remove "
                           f"{others[0]} first", "format")
        messages = await asyncio.to_thread(check_text, body.source, body.format, path, scenarios.context())
        errors = [message for message in messages if message.severity == "error"]
        if errors:
            request.audit(errors=len(errors))
            first = errors[0]
            return Answer(ScenarioRefused(
                code="bad_request", field="body.source", messages=messages,
                message=f"{path.name} has {len(errors)} error(s); nothing was written. First: {first.formatted}"),
                status=400)
        await asyncio.to_thread(_write_atomically, path, body.source)
        result = reload()
        current = scenarios.get(name)
        loaded = current is not None and current.path == str(path)
        request.audit(version=current.version if loaded else None)
        return Uploaded(name=name, file=path.name, version=current.version if loaded else None,
                        warnings=messages, reload=result)

    @endpoint("POST", "/api/scenarios/reload", summary="Read the scenario directory again", roles=ADMINS,
              response=ReloadResult, tags=TAGS)
    async def reload_scenarios(request: ApiRequest) -> ReloadResult:
        """As SIGHUP: changed files are checked and loaded, broken ones refused (the version in
        service stays), removed ones taken out. Calls in progress keep their version."""
        result = reload()
        request.audit("scenarios", loaded=result.loaded, refused=sorted(result.refused))
        return result

    @endpoint("POST", "/api/config/reload", summary="Read the config file again and apply what can change live",
              roles=ADMINS, response=ConfigReloaded, tags=("config",))
    async def reload_config(request: ApiRequest) -> ConfigReloaded:
        """Applied live: queue rules, new agents (in existing queues, on existing extensions),
        inbound and default routes, the scenario directory; then the scenarios are read again.
        Everything else is listed under restart_needed and left as it runs. An invalid config is
        a 400 naming the file, the line and the key, and changes nothing."""
        if context.load_config is None or context.app is None:
            raise not_found("this PBX was not started from a config file it can read again")
        try:
            new = await asyncio.to_thread(context.load_config)
        except ConfigError as error:
            found = _FIELD_PATH.search(str(error))
            raise bad_input(str(error), (found.group(1) or "config") if found else "config") from None
        try:
            plan = context.app.apply_config(new)
        except ValueError as error:
            raise bad_input(str(error), str(error).split(":", 1)[0] if ":" in str(error) else "config") from None
        result = reload()
        request.audit("config", applied=plan.applied, restart_needed=plan.restart)
        return ConfigReloaded(applied=plan.applied, restart_needed=plan.restart, scenarios=result)

    return [validate, listing, show, upload, reload_scenarios, reload_config]
