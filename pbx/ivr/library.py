"""The scenarios a PBX runs: every `.ivr` and `.yaml` file of a directory, checked and compiled.

A scenario is known by its file name without the extension ("support" for support.ivr); routes
name it so. `reload()` reads the directory again (SIGHUP, or the admin API later): a file that
changed is parsed, checked against what the PBX has (queues, plugin functions, prompt files)
and compiled; one that fails the checker is refused with its diagnostics and the version
already loaded stays in service. Calls keep the `ScenarioVersion` they started with: a compiled
program is immutable, so a reload never changes a call in progress.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

import msgspec

from ivr_dsl.checker import CheckContext, check
from ivr_dsl.compiler import compile_scenario
from ivr_dsl.errors import ScenarioError
from ivr_dsl.parser import load_scenario

log = logging.getLogger("pbx.ivr")

SUFFIXES = (".ivr", ".yaml", ".yml")


def existing_directory(path: str) -> str | None:
    """The recorded-prompt directory to check scenarios against, when it exists: before
    `make prompts` has rendered it, recordings cannot be checked (they are skipped at run time,
    with a warning in the log, if still missing)."""
    return path if Path(path).is_dir() else None


class ScenarioVersion(msgspec.Struct, frozen=True):
    name: str  # the file stem, what routes refer to
    title: str  # the scenario's own name
    path: str
    version: int  # 1 for the first load, +1 for each accepted change
    digest: str  # of the source text
    program: object  # ivr_dsl Program, immutable
    language: str
    prompts: str | None  # the scenario's prompt directory, resolved against its file


class ReloadReport(msgspec.Struct):
    loaded: list[str] = []  # new or changed, now in service
    unchanged: list[str] = []
    refused: dict[str, str] = {}  # name -> formatted diagnostics; the old version (if any) stays
    removed: list[str] = []
    warnings: dict[str, str] = {}

    @property
    def ok(self) -> bool:
        return not self.refused


class ScenarioLibrary:
    def __init__(self, directory: str | Path, context: Callable[[], CheckContext | None] = lambda: None) -> None:
        self.directory = Path(directory)
        self.context = context
        self.scenarios: dict[str, ScenarioVersion] = {}

    def get(self, name: str) -> ScenarioVersion | None:
        return self.scenarios.get(name)

    def __contains__(self, name: str) -> bool:
        return name in self.scenarios

    def reload(self) -> ReloadReport:
        report = ReloadReport()
        files = sorted(p for p in self.directory.glob("*") if p.suffix in SUFFIXES) if self.directory.is_dir() else []
        seen: dict[str, Path] = {}
        # The DSL form first: a directory may hold both forms of a scenario (the examples do).
        for path in sorted(files, key=lambda p: (p.stem, SUFFIXES.index(p.suffix))):
            name = path.stem
            if name in seen:
                report.warnings[name] = f"{path}: ignored, {seen[name].name} defines scenario {name!r}"
                continue
            seen[name] = path
            self._load(name, path, report)
        for name in list(self.scenarios):
            if name not in seen:
                del self.scenarios[name]
                report.removed.append(name)
        for name, problem in report.refused.items():
            log.error("event=scenario_refused scenario=%s kept=%s\n%s", name, name in self.scenarios, problem)
        log.info("event=scenarios_loaded loaded=%s unchanged=%d refused=%s removed=%s", report.loaded,
                 len(report.unchanged), sorted(report.refused), report.removed)
        return report

    def _load(self, name: str, path: Path, report: ReloadReport) -> None:
        try:
            text = path.read_text()
        except OSError as error:
            report.refused[name] = f"{path}: cannot read: {error.strerror}"
            return
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        current = self.scenarios.get(name)
        if current is not None and current.digest == digest:
            report.unchanged.append(name)
            return
        try:
            scenario, source_map = load_scenario(path)
        except ScenarioError as error:
            report.refused[name] = str(error)
            return
        diagnostics = check(scenario, source_map, self.context())
        errors = [d for d in diagnostics if d.severity == "error"]
        warnings = [d for d in diagnostics if d.severity != "error"]
        if warnings:
            report.warnings[name] = "\n".join(d.format() for d in warnings)
        if errors:
            report.refused[name] = "\n".join(d.format() for d in errors)
            return
        program = compile_scenario(scenario)
        prompts = str((path.parent / scenario.prompts).resolve()) if scenario.prompts else None
        self.scenarios[name] = ScenarioVersion(
            name=name, title=scenario.name, path=str(path), version=(current.version + 1) if current else 1,
            digest=digest, program=program, language=scenario.language, prompts=prompts,
        )  # fmt: skip
        report.loaded.append(name)
