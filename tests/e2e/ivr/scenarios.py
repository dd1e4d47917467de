"""The test scenarios (DSL text) and the directory a PBX loads them from.

``tones`` is a support-line shape whose every recorded prompt is a tone of tones.py: business
hours in a time zone, a main menu (greeting, short greeting, invalid and timeout prompts,
max-failure and max-timeout exits), a sub-menu with ``back`` and ``top``, a key that dials
1002, a key that hangs up after a prompt, and a ``collect`` of an account number.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .tones import write_tone_prompts

ROOT = Path(__file__).resolve().parents[3]

# A Tuesday in the calendar's hours, and Christmas Day (a holiday) at the same hour.
OPEN_TIME = "2026-11-24T10:00:00+01:00"
HOLIDAY_TIME = "2026-12-25T10:00:00+01:00"

TONE_LINE = """\
scenario "Tone line"
  language en
  prompts "prompts"
  start start
end

calendar hours "Europe/Warsaw"
  mon-fri 08:00-18:00
  holiday 2026-12-25 "Christmas"
end

block start
  answer
  if closed(hours)
    play "closed"
    disposition "closed"
    hangup
  end
  goto main
end

menu main
  greeting "greeting"
  short greeting "short"
  invalid "invalid"
  timeout prompt "noinput"
  timeout 2s
  inter-digit timeout 1s
  max failures 2
    play "goodbye"
    disposition "too-many-failures"
    hangup
  end
  max timeouts 2
    play "goodbye"
    disposition "no-input"
    hangup
  end
  key 1: goto sub
  key 2
    dial 1002 timeout 10s
    on failure
      play "rejected"
      hangup
    end
  end
  key 3
    play "goodbye"
    disposition "bye"
    hangup
  end
  key 4: goto account
end

menu sub
  greeting "sub"
  invalid "invalid"
  timeout 5s
  key *: back
  key 9: top
end

block account
  collect number digits 3..6 terminator "#" timeout 4s inter-digit timeout 2s retries 2
    prompt "enter"
    invalid "invalid"
  on failure
    disposition "no-account"
    hangup
  end
  if number == "1234"
    play "accepted"
    disposition "account-ok"
  else
    play "rejected"
    disposition "account-unknown"
  end
  hangup
end
"""


def tone_line_dir(base: Path, *, name: str = "tones", text: str = TONE_LINE) -> Path:
    """``base/scenarios`` holding ``<name>.ivr`` and its tone prompts in ``prompts/en``."""
    directory = base / "scenarios"
    write_tone_prompts(directory / "prompts" / "en")
    (directory / f"{name}.ivr").write_text(text)
    return directory


def ivr_config(directory: Path, tts_cache: Path, **extra) -> dict:
    """The PBX's ``ivr:`` section for a scenario directory made here."""
    return {"scenarios": str(directory), "prompts": str(directory / "prompts"), "tts_cache": str(tts_cache), **extra}


def example_dir(base: Path, scenario: str, prompts: Path) -> Path:
    """A shipped example (examples/scenarios/<scenario>.ivr) where its ``prompts
    "../../var/prompts"`` finds ``prompts``: base/a/b/<scenario>.ivr and base/var/prompts."""
    directory = base / "a" / "b"
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "examples" / "scenarios" / f"{scenario}.ivr", directory / f"{scenario}.ivr")
    target = base / "var" / "prompts"
    if not target.exists():
        shutil.copytree(prompts, target)
    return directory
