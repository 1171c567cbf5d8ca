"""Every exercise folder, proven on the real cluster: nothing scores nothing, the reference
solution scores full marks, and every broken variant fails exactly the checks it names.

Exercises own distinct namespaces, and proving one is mostly waiting (rollouts, probes,
restarts), so several are proven at once, each one's scenarios in order: start state,
broken variants, imperative answer, reference last (its grade is the one recorded).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from rich.console import Console

from kubelab import student
from kubelab.catalogue import BROKEN, SOLUTION, catalogue
from kubelab.checks import PASS
from lab_cli import kubelab

pytestmark = pytest.mark.e2e

EXERCISES = sorted(catalogue())
VARIANTS = [(name, variant) for name in EXERCISES for variant in sorted(catalogue()[name].broken)]
# Five at once keeps the 2-core machine's API server answering within the checks' own timeouts.
AT_ONCE = 5
START, IMPERATIVE = "start", "imperative"


def console() -> Console:
    # One each: rich allows one live status per console, and every thread shows its own.
    return Console(stderr=True)


def scenarios(name: str) -> list[str]:
    ex = catalogue()[name]
    return [START, *(f"{BROKEN}/{v}" for v in sorted(ex.broken)), *([IMPERATIVE] if ex.imperative else []), SOLUTION]


def prove(spec, name: str, scenario: str) -> student.Grade:
    out = console()
    student.start(spec, name, out)
    if scenario == IMPERATIVE:
        student.solve_imperatively(spec, name, out)
    elif scenario != START:
        student.apply_part(spec, name, scenario, out)
    return student.grade(spec, name, out)


def prove_all(spec, name: str) -> dict[str, student.Grade | Exception]:
    proven = {}
    for scenario in scenarios(name):
        try:
            proven[scenario] = prove(spec, name, scenario)
        except Exception as error:  # noqa: BLE001 - re-raised by the test that asks for this scenario
            proven[scenario] = error
    return proven


@pytest.fixture(scope="module")
def spec(cluster_deploy, lab_spec, lab_spec_path):
    yield lab_spec
    # The lab as the deploy left it, for the tests that follow: every exercise's objects gone (a
    # worker left running some fifty solved pods slows all of them), the spec's exercises applied.
    reset = kubelab(lab_spec_path, "reset", "--yes")
    assert reset.returncode == 0, reset.stdout[-3000:] + reset.stderr[-3000:]


@pytest.fixture(scope="module")
def proofs(request, spec) -> dict[tuple[str, str], student.Grade | Exception]:
    # Only the exercises whose tests were selected (`-k init-container` proves one).
    wanted = sorted({item.callspec.params["name"] for item in request.session.items
                     if item.module is request.module and hasattr(item, "callspec")})
    with ThreadPoolExecutor(AT_ONCE) as pool:
        chains = {name: pool.submit(prove_all, spec, name) for name in wanted}
    return {(name, scenario): got for name, chain in chains.items() for scenario, got in chain.result().items()}


def proof(proofs, name: str, scenario: str) -> student.Grade:
    got = proofs[(name, scenario)]
    if isinstance(got, Exception):
        raise got
    return got


def failing(grade: student.Grade) -> set[str]:
    return {r.check.id for r in grade.results if r.verdict.status != PASS}


def test_an_exercise_never_started_scores_0_and_says_so(spec):
    student.forget_progress(spec)
    grade = student.grade(spec, EXERCISES[0], console())
    assert (grade.score, grade.results) == (0, ())
    assert "not started" in grade.note and f"kubelab exercise start {EXERCISES[0]}" in grade.note


@pytest.mark.parametrize("name", EXERCISES)
def test_the_start_state_scores_0(proofs, name):
    grade = proof(proofs, name, START)
    assert grade.score == 0, [(r.check.id, r.verdict.seen) for r in grade.results if r.verdict.passed]
    assert len(grade.results) == len(catalogue()[name].checks)
    assert "0 points" in grade.note
    assert all(r.verdict.seen and r.verdict.expected for r in grade.results)


@pytest.mark.parametrize("name", EXERCISES)
def test_the_reference_solution_scores_full_marks(spec, proofs, name):
    grade = proof(proofs, name, SOLUTION)
    assert not failing(grade), [(r.check.id, r.verdict.seen) for r in grade.results if not r.verdict.passed]
    assert grade.score == grade.points == catalogue()[name].points
    assert student.list_exercises(spec)[EXERCISES.index(name)].last_score == grade.points


@pytest.mark.parametrize("name", [n for n in EXERCISES if catalogue()[n].imperative])
def test_an_imperative_answer_scores_full_marks(proofs, name):
    grade = proof(proofs, name, IMPERATIVE)
    assert not failing(grade), [(r.check.id, r.verdict.seen) for r in grade.results if not r.verdict.passed]
    assert grade.score == grade.points


@pytest.mark.parametrize("name, variant", VARIANTS)
def test_a_broken_variant_fails_exactly_the_checks_it_names(proofs, name, variant):
    grade = proof(proofs, name, f"{BROKEN}/{variant}")
    assert failing(grade) == set(catalogue()[name].broken[variant]), [
        (r.check.id, r.verdict.status, r.verdict.seen) for r in grade.results]
    assert grade.score < grade.points  # what it names cost points; what it does not name passed (above)
