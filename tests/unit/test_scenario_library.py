"""ScenarioLibrary: a directory of scenarios, reloaded with broken files refused and old versions kept."""

from __future__ import annotations

from pathlib import Path

from ivr_dsl.checker import CheckContext
from pbx.ivr.library import ScenarioLibrary

GOOD = 'scenario "Line"\nend\n\nblock start\n  answer\n  disposition "{value}"\n  hangup\nend\n'
BROKEN = 'scenario "Line"\nend\n\nblock start\n  goto nowhere\nend\n'


def library(tmp_path: Path) -> ScenarioLibrary:
    return ScenarioLibrary(tmp_path, lambda: CheckContext(queues=None, functions=set(), prompt_root=None))


def test_loads_each_file_by_its_name_and_versions_changes(tmp_path):
    (tmp_path / "sales.ivr").write_text(GOOD.format(value="one"))
    scenarios = library(tmp_path)
    report = scenarios.reload()
    assert report.loaded == ["sales"] and report.ok
    first = scenarios.get("sales")
    assert (first.version, first.title, first.language) == (1, "Line", "en")
    assert scenarios.reload().unchanged == ["sales"]
    assert scenarios.get("sales") is first  # an unchanged file keeps its compiled program
    (tmp_path / "sales.ivr").write_text(GOOD.format(value="two"))
    assert scenarios.reload().loaded == ["sales"]
    second = scenarios.get("sales")
    assert second.version == 2 and second.program != first.program
    assert first.program.sections  # the old version is still whole for the calls that run it


def test_a_broken_change_is_refused_and_the_old_version_stays(tmp_path):
    (tmp_path / "sales.ivr").write_text(GOOD.format(value="one"))
    scenarios = library(tmp_path)
    scenarios.reload()
    before = scenarios.get("sales")
    (tmp_path / "sales.ivr").write_text(BROKEN)
    (tmp_path / "new.ivr").write_text('scenario "New"\nend\nblock start\n  paly "x"\nend\n')
    report = scenarios.reload()
    assert not report.ok and set(report.refused) == {"sales", "new"}
    assert "sales.ivr:5:8: error" in report.refused["sales"] and "nowhere" in report.refused["sales"]
    assert "new.ivr:4:3" in report.refused["new"] and "play" in report.refused["new"]
    assert scenarios.get("sales") is before and "new" not in scenarios


def test_removed_files_leave_and_both_forms_of_one_scenario_load_once(tmp_path):
    (tmp_path / "a.ivr").write_text(GOOD.format(value="a"))
    (tmp_path / "a.yaml").write_text("this: is ignored")
    (tmp_path / "b.ivr").write_text(GOOD.format(value="b"))
    scenarios = library(tmp_path)
    report = scenarios.reload()
    assert report.loaded == ["a", "b"] and "a.yaml: ignored" in report.warnings["a"]
    (tmp_path / "b.ivr").unlink()
    assert scenarios.reload().removed == ["b"] and "b" not in scenarios


def test_a_missing_directory_has_no_scenarios(tmp_path):
    scenarios = ScenarioLibrary(tmp_path / "nowhere")
    assert scenarios.reload().ok and not scenarios.scenarios
