"""Every exercise folder, proven on the real cluster: nothing scores nothing, the reference
solution scores full marks, and every broken variant fails exactly the checks it names."""

import pytest
from rich.console import Console

from kubelab import student
from kubelab.catalogue import catalogue
from kubelab.checks import PASS
from kubelab.exercises import apply_exercises

pytestmark = pytest.mark.e2e

EXERCISES = sorted(catalogue())
VARIANTS = [(name, variant) for name in EXERCISES for variant in sorted(catalogue()[name].broken)]
CONSOLE = Console(stderr=True)


@pytest.fixture(scope="module")
def spec(cluster_deploy, lab_spec):
    yield lab_spec
    # The lab as the deploy left it, for the tests that follow: each exercise's starting state.
    for name in lab_spec.exercises:
        student.start(lab_spec, name, CONSOLE)
    apply_exercises(lab_spec, 300, CONSOLE)


def failing(grade: student.Grade) -> set[str]:
    return {r.check.id for r in grade.results if r.verdict.status != PASS}


def test_an_exercise_never_started_scores_0_and_says_so(spec):
    student.forget_progress(spec)
    grade = student.grade(spec, EXERCISES[0], CONSOLE)
    assert (grade.score, grade.results) == (0, ())
    assert "not started" in grade.note and f"kubelab exercise start {EXERCISES[0]}" in grade.note


@pytest.mark.parametrize("name", EXERCISES)
def test_the_start_state_scores_0(spec, name):
    student.start(spec, name, CONSOLE)
    grade = student.grade(spec, name, CONSOLE)
    assert grade.score == 0, [(r.check.id, r.verdict.seen) for r in grade.results if r.verdict.passed]
    assert len(grade.results) == len(catalogue()[name].checks)
    assert "0 points" in grade.note
    assert all(r.verdict.seen and r.verdict.expected for r in grade.results)


@pytest.mark.parametrize("name", EXERCISES)
def test_the_reference_solution_scores_full_marks(spec, name):
    student.start(spec, name, CONSOLE)
    student.solve(spec, name, CONSOLE)
    grade = student.grade(spec, name, CONSOLE)
    assert not failing(grade), [(r.check.id, r.verdict.seen) for r in grade.results if not r.verdict.passed]
    assert grade.score == grade.points == catalogue()[name].points
    assert student.list_exercises(spec)[EXERCISES.index(name)].last_score == grade.points


@pytest.mark.parametrize("name", [n for n in EXERCISES if catalogue()[n].imperative])
def test_an_imperative_answer_scores_full_marks(spec, name):
    student.start(spec, name, CONSOLE)
    student.solve_imperatively(spec, name, CONSOLE)
    grade = student.grade(spec, name, CONSOLE)
    assert not failing(grade), [(r.check.id, r.verdict.seen) for r in grade.results if not r.verdict.passed]
    assert grade.score == grade.points


@pytest.mark.parametrize("name, variant", VARIANTS)
def test_a_broken_variant_fails_exactly_the_checks_it_names(spec, name, variant):
    student.start(spec, name, CONSOLE)
    student.apply_broken(spec, name, variant, CONSOLE)
    grade = student.grade(spec, name, CONSOLE)
    assert failing(grade) == set(catalogue()[name].broken[variant]), [
        (r.check.id, r.verdict.status, r.verdict.seen) for r in grade.results]
    assert grade.score < grade.points  # what it names cost points; what it does not name passed (above)
