"""The toy world's Oracle on hand-written SLM traces with known first errors, and as an engine."""

import pytest

from qup.corpora.drift import edit_distance
from qup.engines import Sampling
from qup.engines.symbolic import SymbolicEngine
from qup.prompts import load_prompt
from qup.toy import oracle
from qup.toy.parse import ToyParseError, parse_question, parse_trace

QUESTION = "Tom has 12 apples. Tom buys 5 more. Tom gives away 3. Tom then has 2 times as many. How many apples now?"
PROBLEM = parse_question(QUESTION, "p1")  # 12 + 5 = 17, 17 - 3 = 14, 14 * 2 = 28


def test_question_parses_to_its_computation():
    assert PROBLEM.start == 12 and PROBLEM.answer == 28
    assert [(s.op, s.left, s.right, s.result) for s in PROBLEM.steps] == [
        ("+", 12, 5, 17), ("-", 17, 3, 14), ("*", 14, 2, 28)]
    with pytest.raises(ToyParseError, match="not a toy-world question"):
        parse_question("What is the integral of x^2?")


@pytest.mark.parametrize("trace, first_bad, repaired", [
    # arithmetic slip in the first step: everything after is recomputed in the trace's format
    ("12 + 5 = 18\nthen 18 - 3 = 15\nthen 15 x 2 = 30\nAnswer: 30", 0,
     "12 + 5 = 17\nthen 17 - 3 = 14\nthen 14 x 2 = 28\nAnswer: 28"),
    # swapped operands and the closing phrase are the SLM's habits and stay
    ("5 + 12 = 17\nso 17 - 3 = 13\nso 2 * 13 = 26\nThe answer is 26.", 1,
     "5 + 12 = 17\nso 17 - 3 = 14\nso 2 * 14 = 28\nThe answer is 28."),
    # a wrong operation
    ("12 + 5 = 17\n17 + 3 = 20\n20 x 2 = 40\nAnswer: 40", 1,
     "12 + 5 = 17\n17 - 3 = 14\n14 x 2 = 28\nAnswer: 28"),
    # a missing step is written in the format of the last one
    ("12 + 5 = 17\nthen 17 - 3 = 14\nAnswer: 14", 2,
     "12 + 5 = 17\nthen 17 - 3 = 14\nthen 14 x 2 = 28\nAnswer: 28"),
    # an extra step is dropped
    ("12 + 5 = 17\n17 - 3 = 14\n14 x 2 = 28\n28 + 1 = 29\nAnswer: 29", 3,
     "12 + 5 = 17\n17 - 3 = 14\n14 x 2 = 28\nAnswer: 28"),
    # no answer line (the SLM ran out of tokens): one is added
    ("12 + 5 = 17\n17 - 3 = 14\n14 * 2 = 29", 2, "12 + 5 = 17\n17 - 3 = 14\n14 * 2 = 28\nAnswer: 28"),
])
def test_style_alignment_keeps_the_prefix_and_repairs_from_the_first_error(trace, first_bad, repaired):
    assert oracle.first_faulty_step(parse_trace(trace), PROBLEM) == first_bad
    out = oracle.style_align(PROBLEM, trace)
    assert out == repaired
    kept_lines = trace.split("\n")[:first_bad]
    assert out.split("\n")[:first_bad] == kept_lines


def test_a_right_trace_is_left_alone_and_a_right_trace_with_a_wrong_answer_line_only_gets_that_fixed():
    right = "5 + 12 = 17\n17 - 3 = 14\n2 x 14 = 28\nThe answer is 28."
    assert oracle.style_align(PROBLEM, right) == right
    assert oracle.first_faulty_step(parse_trace(right), PROBLEM) is None
    assert oracle.style_align(PROBLEM, right.replace("is 28", "is 27")) == right


@pytest.mark.parametrize("trace, reason", [
    ("12 + 5 =", "line 1"),
    ("12 + 5 = 17\nthen 17 - 3 = ?", "line 2"),
    ("I like apples.", "no equation"),
    ("", "empty"),
])
def test_malformed_traces_are_refused_with_the_reason(trace, reason):
    with pytest.raises(ToyParseError, match=reason):
        oracle.style_align(PROBLEM, trace)
    with pytest.raises(ToyParseError):
        oracle.refine(PROBLEM, trace)


def test_refine_puts_the_traces_own_repaired_equations_in_the_oracle_frame():
    trace = "5 + 12 = 18\nthen 18 - 3 = 15\nAnswer: 15"
    out = oracle.refine(PROBLEM, trace)
    lines = out.split("\n")
    assert [line[:7] for line in lines[:4]] == ["Step 1:", "Step 2:", "Step 3:", "Step 4:"] and "12 apples" in lines[0]
    # the SLM's operand order and notation stay; the missing step comes in its habit ("x", no $)
    assert lines[1:4] == ["Step 2: 5 + 12 = 17 apples.", "Step 3: 17 - 3 = 14 apples.", "Step 4: 14 x 2 = 28 apples."]
    assert lines[-1].endswith("answer is $\\boxed{28}$.")
    synthesized = oracle.synthesize(PROBLEM)
    assert synthesized.count("Step") == 4 and "$12 + 5 = 17$" in synthesized and out != synthesized
    assert synthesized == oracle.synthesize(PROBLEM)  # the same problem always reads the same
    aligned = oracle.style_align(PROBLEM, trace)
    assert edit_distance(trace, aligned) < edit_distance(trace, out) < edit_distance(trace, synthesized)


def test_judge_and_exact_check_count_the_operations_kept():
    source = "12 + 5 = 18\n18 - 3 = 15\n15 x 2 = 30\nAnswer: 30"
    assert oracle.judge(PROBLEM, source, oracle.style_align(PROBLEM, source)).endswith("Score: 5")
    assert oracle.same_operations(PROBLEM, source, oracle.refine(PROBLEM, source))
    wrong_op = "12 + 5 = 17\n17 + 3 = 20\n20 x 2 = 40\nAnswer: 40"
    assert not oracle.same_operations(PROBLEM, wrong_op, oracle.style_align(PROBLEM, wrong_op))
    assert oracle.judge(PROBLEM, wrong_op, oracle.style_align(PROBLEM, wrong_op)).endswith("Score: 4")


def _ask(engine, prompt, **fields):
    template = load_prompt(prompt)
    conversation = [{"role": "user", "content": template.render(**{f: fields[f] for f in template.fields})}]
    return engine.generate([conversation], 2, Sampling(temperature=0.0))[0]


@pytest.mark.parametrize("version", ["@v1", "@v2"])  # v2 also shows the gold answer: the symbolic Oracle ignores it
def test_the_engine_reads_the_task_from_the_rendered_prompt(version):
    engine = SymbolicEngine()
    trace = "12 + 5 = 18\nthen 18 - 3 = 15\nthen 15 x 2 = 30\nAnswer: 30"
    replies = _ask(engine, "style_aligned" + version, question=QUESTION, trace=trace, answer="28")
    assert len(replies) == 2 and replies[0].text == oracle.style_align(PROBLEM, trace)
    assert replies[0].finish_reason == "stop"
    assert _ask(engine, "refine" + version, question=QUESTION, trace=trace, answer="28")[0].text == oracle.refine(
        PROBLEM, trace)
    assert _ask(engine, "synthesize" + version, question=QUESTION, answer="28")[0].text == oracle.synthesize(PROBLEM)
    judged = _ask(engine, "judge", question=QUESTION, trace=trace, refined=oracle.refine(PROBLEM, trace))
    assert "Score: 5" in judged[0].text


@pytest.mark.parametrize("name", ["refine@v3", "style_aligned@v3"])  # v3 also names the draft's own answer
def test_the_engine_reads_a_refinement_that_names_the_drafts_answer(name):
    trace = "12 + 5 = 18\nthen 18 - 3 = 15\nthen 15 x 2 = 30\nAnswer: 30"
    task = oracle.refine if name.startswith("refine") else oracle.style_align
    reply = _ask(SymbolicEngine(), name, question=QUESTION, trace=trace, answer="28", attempt_answer="30")[0]
    assert reply.finish_reason == "stop" and reply.text == task(PROBLEM, trace)


def test_the_engine_refuses_what_it_cannot_do():
    engine = SymbolicEngine()
    refused = _ask(engine, "style_aligned", question=QUESTION, trace="12 + 5 =", answer="28",
                   attempt_answer="no final answer")[0]
    assert refused.finish_reason == "refused" and "line 1" in refused.text
    assert _ask(engine, "synthesize", question="Prove Fermat's last theorem.", answer="1")[0].finish_reason == "refused"
    other = engine.generate([[{"role": "user", "content": "Hello there"}]], 1, Sampling())[0][0]
    assert other.finish_reason == "refused" and "none of the Oracle's templates" in other.text
