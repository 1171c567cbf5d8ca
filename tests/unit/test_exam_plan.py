"""Planning an exam: tasks by the curriculum's weights (largest remainder), reproducible from the seed,
a domain short of exercises leaving its share to the others (and the paper saying so), bad input refused."""

import random
from fractions import Fraction

import pytest

from kubelab import catalogue as catalogue_module
from kubelab import curriculum
from kubelab.catalogue import catalogue
from kubelab.curriculum import DOMAINS, WEIGHTS
from kubelab.exam import SEED_MAX, ExamError, apportion, check_minutes, plan

ADB, AD, AOM, AECS, SN = DOMAINS
SHORT = {ADB: "design", AD: "deployment", AOM: "observability", AECS: "environment", SN: "services"}


def classic_largest_remainder(count, weights):
    """The textbook method, written out separately: floors, then the largest fractions (ties: first)."""
    exact = {d: Fraction(count * w, sum(weights.values())) for d, w in weights.items()}
    seats = {d: int(q) for d, q in exact.items()}
    for d in sorted(exact, key=lambda d: exact[d] - seats[d], reverse=True)[:count - sum(seats.values())]:
        seats[d] += 1
    return seats


def synthetic(per_domain: dict[str, int]) -> dict[str, str]:
    """A catalogue as the planner sees it (exercise -> domain), with `n` exercises in each domain."""
    return {f"{SHORT[d]}-{i}": d for d, n in per_domain.items() for i in range(n)}


def test_the_curriculum_is_the_five_ckad_domains_in_order_with_their_weights():
    assert [(d.name, d.weight) for d in curriculum.CURRICULUM] == [
        ("Application Design and Build", 20), ("Application Deployment", 20),
        ("Application Observability and Maintenance", 15),
        ("Application Environment, Configuration and Security", 25), ("Services and Networking", 20)]
    assert sum(WEIGHTS.values()) == 100
    assert all(d.competencies for d in curriculum.CURRICULUM)
    assert catalogue_module.DOMAINS is curriculum.DOMAINS  # one list: the catalogue validates against it
    assert (curriculum.EXAM_TASKS, curriculum.EXAM_MINUTES, curriculum.PASS_MARK) == (16, 120, 66)


@pytest.mark.parametrize("count, expected", [(16, [3, 3, 3, 4, 3]), (5, [1, 1, 1, 1, 1]), (20, [4, 4, 3, 5, 4]),
                                             (10, [2, 2, 2, 2, 2]), (1, [0, 0, 0, 1, 0])])
def test_shares_follow_the_weights_by_largest_remainder(count, expected):
    assert list(apportion(count, WEIGHTS).values()) == expected
    assert apportion(count, WEIGHTS) == classic_largest_remainder(count, WEIGHTS)


def test_without_bounds_the_seat_by_seat_method_is_the_largest_remainder_method():
    rng = random.Random(0)
    for _ in range(300):
        weights = {f"d{i}": rng.randint(1, 40) for i in range(rng.randint(1, 7))}
        count = rng.randint(0, 60)
        assert apportion(count, weights) == classic_largest_remainder(count, weights), (count, weights)


def test_bounded_shares_always_add_up_and_stay_within_the_bounds():
    rng = random.Random(1)
    tried = 0
    while tried < 3000:
        high = {d: rng.randint(0, 6) for d in DOMAINS}
        low = {d: rng.randint(0, min(2, high[d])) for d in DOMAINS}
        if sum(high.values()) < max(sum(low.values()), 1):
            continue
        count = rng.randint(max(sum(low.values()), 1), sum(high.values()))
        seats = apportion(count, WEIGHTS, low, high)
        assert sum(seats.values()) == count and all(low[d] <= seats[d] <= high[d] for d in DOMAINS), \
            (count, low, high, seats)
        tried += 1


def test_a_domain_with_too_few_exercises_gives_its_share_to_the_others_and_the_paper_says_so():
    domain_of = synthetic({ADB: 5, AD: 5, AOM: 1, AECS: 6, SN: 5})

    planned = plan(domain_of, 7, 16)

    # By weight 3/3/3/4/3; observability holds 1, its 2 other seats go to the largest remainders (.2 each: first two).
    assert planned.shares == {ADB: 4, AD: 4, AOM: 1, AECS: 4, SN: 3}
    assert len(planned.exercises) == 16 == len(set(planned.exercises))
    assert {d: sum(domain_of[n] == d for n in planned.exercises) for d in DOMAINS} == planned.shares
    assert f"{AOM}: 1 task(s), not the 3 its 15% of 16 gives: the catalogue holds only 1 exercise(s) of it" \
        in planned.notes
    assert any(n.startswith(f"{ADB}: 4 task(s), not the 3") and "other domains cannot fill" in n
               for n in planned.notes)
    assert not any(n.startswith(AECS) for n in planned.notes)


def test_the_same_seed_gives_the_same_exam_whatever_order_the_catalogue_is_read_in():
    domain_of = synthetic({ADB: 4, AD: 4, AOM: 3, AECS: 5, SN: 4})
    shuffled = dict(random.Random(3).sample(list(domain_of.items()), len(domain_of)))

    assert plan(domain_of, 42, 12) == plan(shuffled, 42, 12)
    assert len({plan(domain_of, seed, 12).exercises for seed in range(20)}) > 15  # the seed matters


def test_a_seed_gives_the_exam_it_gave_when_this_test_was_written():
    """The claim 'same seed and catalogue, same exam on another machine', pinned: a change to the planner,
    or a Python whose random differs, fails here instead of silently giving candidates another exam."""
    domain_of = synthetic({ADB: 4, AD: 4, AOM: 3, AECS: 5, SN: 4})

    assert plan(domain_of, 2026, 8).exercises == PINNED_PLAN


PINNED_PLAN = ('deployment-0', 'environment-3', 'deployment-3', 'environment-4', 'observability-2', 'design-0',
               'design-1', 'services-3')


def test_the_real_catalogue_plans_every_size_it_can_hold():
    found = catalogue()
    domain_of = {n: e.domain for n, e in found.items()}
    for count in range(1, len(found) + 1):
        planned = plan(domain_of, count, count)
        assert len(set(planned.exercises)) == count
        assert sum(planned.shares.values()) == count
        assert all(domain_of[n] in DOMAINS for n in planned.exercises)


def test_pinned_tasks_are_in_the_exam_and_count_toward_their_domain():
    domain_of = synthetic({ADB: 4, AD: 4, AOM: 3, AECS: 5, SN: 4})
    pinned = ("observability-0", "observability-1", "observability-2")

    planned = plan(domain_of, 11, 5, pinned)

    assert set(pinned) <= set(planned.exercises) and len(planned.exercises) == 5
    assert planned.shares[AOM] == 3
    assert f"{AOM}: 3 task(s), not the 1 its 15% of 5 gives: 3 pinned with --task" in planned.notes


BAD = [
    (dict(seed=-1), "--seed -1: out of range. Fix: use a whole number from 0 to 4294967295"),
    (dict(seed=SEED_MAX + 1), "--seed 4294967296: out of range"),
    (dict(count=0), "--tasks 0: an exam needs at least 1 task. Fix: give --tasks a whole number from 1 to 20"),
    (dict(count=-3), "--tasks -3: an exam needs at least 1 task"),
    (dict(count=21), "--tasks 21: the catalogue (.*) holds 20 exercises. Fix: use --tasks 20 or fewer"),
    (dict(pinned=("nope",)), "--task nope: no such exercise in .*Fix: use one of: deployment-0, deployment-1"),
    (dict(pinned=("design-0", "design-0")), "--task design-0: given twice. Fix: name each exercise once"),
    (dict(count=2, pinned=("design-0", "design-1", "design-2")),
     "--task: 3 exercises pinned, but --tasks is 2. Fix: pin at most 2, or raise --tasks to 3"),
]


@pytest.mark.parametrize("bad, message", BAD, ids=[m.split(":")[0] + str(i) for i, (_, m) in enumerate(BAD)])
def test_bad_input_names_the_flag_the_value_and_the_fix(bad, message):
    args = {"domain_of": synthetic({ADB: 4, AD: 4, AOM: 3, AECS: 5, SN: 4}), "seed": 1, "count": 5, **bad}
    with pytest.raises(ExamError, match=message):
        plan(**args)


def test_the_seed_range_is_inclusive():
    domain_of = synthetic({ADB: 1, AD: 1, AOM: 1, AECS: 1, SN: 1})
    assert plan(domain_of, 0, 5).exercises and plan(domain_of, SEED_MAX, 5).exercises


@pytest.mark.parametrize("minutes", [0, -5])
def test_minutes_must_be_positive(minutes):
    with pytest.raises(ExamError, match=rf"--minutes {minutes}: an exam needs at least 1 minute. Fix: "):
        check_minutes(minutes)
