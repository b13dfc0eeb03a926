import random

from qup.grading import is_correct
from qup.toy.styles import inject_mistake, render_native, render_oracle
from qup.toy.world import ToyProblem, apply, generate_problems


def test_same_seed_same_problems_and_other_seed_differs():
    a = generate_problems(50, seed=3)
    b = generate_problems(50, seed=3)
    c = generate_problems(50, seed=4)
    assert [p.question for p in a] == [p.question for p in b]
    assert [p.question for p in a] != [p.question for p in c]


def test_problems_are_distinct_multi_step_and_consistent():
    problems = generate_problems(300, seed=0)
    assert len({p.question for p in problems}) == 300
    assert {len(p.steps) for p in problems} == {2, 3, 4}
    assert {s.op for p in problems for s in p.steps} == {"+", "-", "*"}
    for p in problems:
        value = p.start
        for step in p.steps:
            assert step.left == value and step.result == apply(step.op, step.left, step.right)
            value = step.result
        assert p.answer == value >= 0
        assert f"{p.start} {p.item}" in p.question


def test_multiplication_can_be_switched_off():
    problems = generate_problems(200, seed=1, allow_multiply=False, min_steps=3, max_steps=3)
    assert all(len(p.steps) == 3 and all(s.op != "*" for s in p.steps) for p in problems)


def test_computation_round_trips_through_json():
    p = generate_problems(1, seed=5)[0]
    back = ToyProblem.from_computation_json(p.id, p.question, p.computation_json())
    assert back == p


def test_native_renderings_vary_and_are_correct():
    p = generate_problems(1, seed=2, min_steps=3, max_steps=3)[0]
    renderings = {render_native(p, random.Random(i)) for i in range(40)}
    assert len(renderings) > 5
    assert all(is_correct(text, str(p.answer)) for text in renderings)
    assert all("Step" not in text and "\\boxed" not in text for text in renderings)


def test_oracle_style_is_verbose_with_steps_and_boxed_answer():
    p = generate_problems(1, seed=2, min_steps=3, max_steps=3)[0]
    text = render_oracle(p)
    lines = text.splitlines()
    assert [line.split(":")[0] for line in lines[:-1]] == ["Step 1", "Step 2", "Step 3", "Step 4"]
    assert "$" in lines[1] and lines[-1].endswith(f"\\boxed{{{p.answer}}}$.")
    assert is_correct(text, str(p.answer))


def test_injected_mistakes_make_the_answer_wrong_and_propagate():
    rng = random.Random(0)
    kinds = set()
    for p in generate_problems(200, seed=7):
        steps, mistake = inject_mistake(p, rng)
        kinds.add(mistake.kind)
        assert steps[: mistake.step] == p.steps[: mistake.step]
        assert steps[mistake.step] != p.steps[mistake.step]
        for before, after in zip(steps, steps[1:]):
            assert after.left == before.result
        assert not is_correct(render_native(p, rng, steps), str(p.answer))
    assert kinds == {"arithmetic", "operand"}


def test_slm_meets_the_oracle_format_but_only_some_of_its_words():
    from qup.toy.styles import ORACLE_PHRASEBOOK, slm_phrasebook

    assert slm_phrasebook(3) == ORACLE_PHRASEBOOK
    unseen = slm_phrasebook(0)
    assert not set(unseen.openings) & set(ORACLE_PHRASEBOOK.openings)
    assert not set(unseen.closings) & set(ORACLE_PHRASEBOOK.closings)
    one = slm_phrasebook(1)
    for op, verbs in one.verbs.items():
        assert set(verbs) & set(ORACLE_PHRASEBOOK.verbs[op]) == {ORACLE_PHRASEBOOK.verbs[op][0]}
    problem = generate_problems(1, seed=3)[0]
    text = render_oracle(problem, phrasebook=unseen)
    assert text.startswith("Step 1: ") and "\\boxed{" in text  # the same format, other words
    assert text != render_oracle(problem)
