"""The bad-input table (``tests/bad_inputs.py``) as tests: every case a new user can get wrong ends the
way the README promises (exit 2 naming the cause, exit 1 for a wrong result refused, a warning for
repaired data), never in a traceback or a silent exit 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bad_inputs import CASES, Case, run_case

ITB = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "itb"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, tmp_path: Path) -> None:
    outcome = run_case(case, str(ITB), tmp_path)
    assert outcome.got == case.expected, f"{case.name}: exit {outcome.code}, {outcome.got}: {outcome.line}"
    assert not outcome.missing_words, f"{case.name}: the output does not name {outcome.missing_words}"
