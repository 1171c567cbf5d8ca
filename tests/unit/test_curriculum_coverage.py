"""The README's competency table: every competency of the curriculum, every exercise of the catalogue."""

import re
from pathlib import Path

from kubelab.catalogue import catalogue
from kubelab.curriculum import CURRICULUM

README = Path(__file__).resolve().parents[2] / "README.md"


def coverage_rows() -> dict[str, list[str]]:
    text = README.read_text()
    table = text[text.index("| competency | exercises |"):]
    rows = {}
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        competency, exercises = (cell.strip() for cell in line.strip("|").split("|"))
        rows[competency] = re.findall(r"`([a-z0-9-]+)`", exercises)
    return rows


def test_every_competency_of_the_curriculum_has_a_row():
    rows = coverage_rows()
    assert [c for d in CURRICULUM for c in d.competencies] == list(rows)


def test_every_exercise_is_listed_under_a_competency_of_its_own_domain():
    rows, found = coverage_rows(), catalogue()
    listed = {name for names in rows.values() for name in names}
    assert listed == set(found), f"not in the README: {sorted(set(found) - listed)}; gone: {sorted(listed - set(found))}"
    for domain in CURRICULUM:
        for competency in domain.competencies:
            wrong = [n for n in rows[competency] if found[n].domain != domain.name]
            assert not wrong, f"{competency}: {wrong} belong to another domain"


def test_no_competency_loses_its_exercises_unnoticed():
    rows = coverage_rows()
    uncovered = [c for c, names in rows.items() if not names]
    assert len(rows) - len(uncovered) >= 19, uncovered
