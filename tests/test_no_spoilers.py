"""No answer before the learner tries, on EVERY committed lesson (notebooks/NN_*.ipynb).

Two rules, each checked on the notebooks as committed (Run All with no guesses and no answers):

1. A guess cell reveals nothing. A cell that hands ``my_guess`` to a check (``compare_guess``
   or a lesson's ``reveal_*``) prints exactly ``check.NO_GUESS`` and nothing else while
   ``my_guess`` is None: no truth, no explanation, no table printed beside it. And its truth is
   not printed above the question either: the cell names its truth in its metadata
   (``"convlab": {"truth": ...}``, required), which is searched for as in rule 2.
2. No exercise is answered above its question. Every exercise's reference answer is
   ``solutions.ANSWERS[name]`` (the tests feed each to its check), and its notebook names it in
   the ``# solutions.show("name")`` cell after the check. The text of every output above the
   question (the markdown cell that asks it) is searched for that answer: a shape or an array as
   its numbers in order (however they are bracketed or spaced), a number in its usual spellings.
   A number of fewer than 3 digits (2, 12, 0.75) is everywhere in a lesson's output, so for those
   the search looks for the places that would give it away, listed in ``CONTEXT`` (an exercise
   with such an answer and no entry there fails the test: someone has to say what would reveal it).

The unit tests at the end run both rules on small synthetic notebooks and show that each fails
where it should.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from convlab.lessons import solutions
from convlab.lessons.check import NO_GUESS

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))

# Small whole-number answers: regexes that would reveal each one in an output above its question.
CONTEXT = {
    "same_padding": [r"\(28 \+ 2\*2 - 5\)/1", r"padding 2, stride 1\s+->\s+output \(28, 28\)",
                     r"\(28, 28\)[^\n]*pad(?:ding)? 2\b|pad(?:ding)? 2\b[^\n]*\(28, 28\)"],
    "uncovered_rows": [r"H = 10\b[^\n]*FH = 3\b[^\n]*S = 4\b", r"\(10 \+ 2\*0 - 3\)/4"],
    "conv_value": [r"output at \(3, 0\)", r"\[ ?8 +10 +4 +3\]"],
}

GUESS_CALL = re.compile(r"\w+\(\s*my_guess\b")
SHOW_CELL = re.compile(r'^# solutions\.show\("(\w+)"\)', re.M)
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?")


def _src(cell) -> str:
    return "".join(cell["source"])


def _text(cell) -> str:
    """Everything a code cell printed or displayed as text (streams and text/plain)."""
    return "".join("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
                   for o in cell.get("outputs", []))


def _numbers(text: str) -> list[float]:
    out = []
    for tok in NUMBER.findall(text):
        try:
            out.append(float(tok.replace(",", "")))
        except ValueError:
            pass
    return out


def _flat(answer) -> list[float] | None:
    """The answer's numbers in order, or None if it is not made of numbers."""
    if isinstance(answer, bool) or isinstance(answer, str):
        return None
    if isinstance(answer, (int, float)):
        return [float(answer)]
    try:
        return [v for item in answer for v in _flat(item)]
    except TypeError:
        return None


def _contains_run(haystack: list[float], needle: list[float], tol: float) -> bool:
    n = len(needle)
    return any(all(abs(h - v) <= tol * max(1.0, abs(v)) for h, v in zip(haystack[i:i + n], needle))
               for i in range(len(haystack) - n + 1))


def _digits(v: float) -> int:
    """How distinctive a number is: the digits of a whole number (360: 3), the significant
    digits of a fraction (0.75: 2, 0.689: 3)."""
    if v == int(v):
        return len(str(abs(int(v))))
    return len(f"{abs(v):.12g}".replace(".", "").lstrip("0"))


def revealed(name: str, answer, text: str, patterns=()) -> str | None:
    """Why ``text`` gives ``answer`` away (a short description), or None if it does not.
    ``patterns``: regexes of outputs that would reveal it (required for a number of fewer than 3 digits)."""
    for pattern in patterns:
        if re.search(pattern, text):
            return f"matches {pattern!r}"
    flat = _flat(answer)
    if flat is None:
        return None                                   # an expression: output cannot give it away
    if len(flat) == 1:
        v = flat[0]
        if _digits(v) < 3:
            if not patterns:
                raise AssertionError(f"{name}: its answer {answer!r} has fewer than 3 digits, so it is "
                                     f"everywhere in a lesson's output; list the outputs that would "
                                     f"reveal it (CONTEXT, or a guess cell's metadata "
                                     f'"convlab": {{"reveals": [...]}})')
            return None
        # a fraction is also given away by its rounded spellings (0.689 by 0.69 or 68.9 %)
        tol = 0.0 if v == int(v) else 5e-4
        for x in _numbers(text):
            if abs(x - v) <= tol or (v != int(v) and abs(x / 100 - v) <= tol):
                return f"contains the number {x:g}"
        return None
    if _contains_run(_numbers(text), flat, 1e-9):
        return f"contains the numbers {flat} in this order"
    return None


def exercises(cells):
    """(name, answer, index of the question cell) for every exercise with a worked answer."""
    found = []
    for i, cell in enumerate(cells):
        m = SHOW_CELL.search(_src(cell)) if cell["cell_type"] == "code" else None
        if not m or m.group(1) not in solutions.ANSWERS:
            continue
        check = max(j for j in range(i) if cells[j]["cell_type"] == "code" and "check_" in _src(cells[j]))
        question = max(j for j in range(check) if cells[j]["cell_type"] == "markdown")
        found.append((m.group(1), solutions.ANSWERS[m.group(1)][0], question))
    return found


def guesses(cells):
    """(index of the guess cell, its truth and revealing patterns from the metadata (None and []
    if not given), index of the question)."""
    found = []
    for i, cell in enumerate(cells):
        if cell["cell_type"] == "code" and GUESS_CALL.search(_src(cell)):
            question = max(j for j in range(i) if cells[j]["cell_type"] == "markdown")
            meta = cell.get("metadata", {}).get("convlab", {})
            found.append((i, meta.get("truth"), meta.get("reveals", []), question))
    return found


def spoilers(cells) -> list[str]:
    """Every break of the two rules in a notebook's cells, as readable lines."""
    problems = []
    for i, truth, patterns, question in guesses(cells):
        cell = cells[i]
        if truth is None:
            problems.append(f"cell {i}: a guess cell must name its truth in its metadata "
                            f'("convlab": {{"truth": ...}}) so that the outputs above can be searched')
        else:
            for j in range(question):
                why = cells[j]["cell_type"] == "code" and revealed(f"guess in cell {i}", truth,
                                                                   _text(cells[j]), patterns)
                if why:
                    problems.append(f"guess in cell {i} (question in cell {question}): the output of "
                                    f"cell {j} above it {why}")
        results = [o for o in cell.get("outputs", []) if o.get("output_type") != "stream"]
        stream = "".join("".join(o.get("text", "")) for o in cell.get("outputs", [])
                         if o.get("output_type") == "stream")
        plain = ["".join(o.get("data", {}).get("text/plain", "")) for o in results]
        if stream != NO_GUESS + "\n" or any(p not in ("False", "True", "None") for p in plain):
            problems.append(f"cell {i}: the guess cell shows more than the no-guess line: {_text(cell)[:200]!r}")
    for name, answer, question in exercises(cells):
        for j in range(question):
            if cells[j]["cell_type"] == "code":
                why = revealed(name, answer, _text(cells[j]), CONTEXT.get(name, []))
                if why:
                    problems.append(f"exercise {name!r} (question in cell {question}): the output of "
                                    f"cell {j} above it {why}")
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_no_answer_before_the_learner_tries(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    assert spoilers(cells) == []


def test_every_lesson_is_scanned():
    assert len(NOTEBOOKS) >= 10 and NOTEBOOKS[0].name.startswith("00_")


def test_every_worked_answer_is_found_in_a_notebook():
    """Each ANSWERS entry belongs to an exercise the scan finds (so none escapes it)."""
    names = {name for p in NOTEBOOKS
             for name, _, _ in exercises(json.loads(p.read_text(encoding="utf-8"))["cells"])}
    assert names == set(solutions.ANSWERS)


# ---------------------------------------------------------------- the rules can fail --
def _md(text):
    return {"cell_type": "markdown", "metadata": {}, "source": [text]}


def _code(src, *texts, result=None):
    outputs = [{"output_type": "stream", "name": "stdout", "text": [t]} for t in texts]
    if result is not None:
        outputs.append({"output_type": "execute_result", "data": {"text/plain": [result]},
                        "metadata": {}, "execution_count": 1})
    return {"cell_type": "code", "metadata": {}, "source": [src], "outputs": outputs,
            "execution_count": 1}


def _exercise(name, printed_above):
    return [_code("print(stuff)", printed_above),
            _md("**Exercise.** What is it?"),
            _code("answer = ...\ncheck_it(answer)", "FAIL: not yet. Hint: think.\n", result="False"),
            _code(f'# solutions.show("{name}")   # remove the # and run to see a solution')]


def _guess_cell(src, *texts, truth=24, reveals=(r"\[10\. +24\.",), result=None):
    cell = _code(src, *texts, result=result)
    if truth is not None:
        cell["metadata"]["convlab"] = {"truth": truth, "reveals": list(reveals)}
    return cell


def test_a_guess_cell_that_prints_the_truth_fails():
    guess = [_md("Predict."), _code("my_guess = None")]
    clean = guess + [_guess_cell("compare_guess(my_guess, 24, 'Why.')", NO_GUESS + "\n", result="False")]
    assert spoilers(clean) == []
    old = guess + [_guess_cell("compare_guess(my_guess, 24, 'Why.')",
                               "No guess yet (write one into the variable above first). The truth: 24. Why.\n")]
    assert "the guess cell shows more" in spoilers(old)[0]
    beside = guess + [_guess_cell("print(back)\ncompare_guess(my_guess, back[1, 1], 'Why.')",
                                  "[[ 1.  4.]\n [10. 24.]]\n", NO_GUESS + "\n")]
    assert len(spoilers(beside)) == 1
    unnamed = guess + [_guess_cell("compare_guess(my_guess, 24, 'Why.')", NO_GUESS + "\n", truth=None)]
    assert "must name its truth" in spoilers(unnamed)[0]


@pytest.mark.parametrize("printed,truth,reveals,caught", [
    ("col2im(im2col(x)):\n [[ 1.  4.  6.  4.]\n [10. 24. 28. 16.]]\n", 24, [r"\[10\. +24\."], True),
    ("x:\n [[ 1.  2.  3.  4.]\n [ 5.  6.  7.  8.]]\n", 24, [r"\[10\. +24\."], False),
    ("relative error: 0.75\n", 0.75, [r"relative error:? 0\.75"], True),
    ("dx:\n [[0.25 0.25 0.5  0.5 ]\n [0.75 0.75 1.   1.  ]]\n", 0.75, [r"relative error:? 0\.75"], False),
    ("LeNet 1998    test accuracy after epoch 1: 0.8982\n", 0.8982, [], True),
    ("LeNet modern  test accuracy after epoch 1: 0.9772\n", 0.8982, [], False),
    ("3x3 max pooling   size of the change   5%\n", "max", [r"size of the change"], True),
])
def test_a_guess_answered_above_its_question_fails(printed, truth, reveals, caught):
    cells = [_code("print(stuff)", printed), _md("Predict."), _code("my_guess = None"),
             _guess_cell("compare_guess(my_guess, t, 'Why.')", NO_GUESS + "\n", truth=truth, reveals=reveals)]
    assert bool(spoilers(cells)) is caught


@pytest.mark.parametrize("name,printed,caught", [
    ("conv_output_shape", "output: (N, FN, OH, OW) = (10, 16, 32, 32)\n", True),
    ("conv_output_shape", "output shape (10, 16, 28, 28)\n", False),
    ("coverage", "count map:\n [[1. 1. 2. 1. 1.]\n [1. 1. 2. 1. 1.]\n [2. 2. 4. 2. 2.]\n [1. 1. 2. 1. 1.]\n"
                 " [1. 1. 2. 1. 1.]]\n", True),
    ("coverage", "count map:\n [[1. 2. 2. 1.]\n [2. 4. 4. 2.]\n [2. 4. 4. 2.]\n [1. 2. 2. 1.]]\n", False),
    ("same_padding", "input (28, 28), filter 5x5, padding 2, stride 1  ->  output (28, 28)\n", True),
    ("same_padding", "H = 28, FH = 5, P = 2, S = 3\n", False),
    ("shirt_recall", "  6 Shirt        0.689  (689 of 1000)\n", True),
    ("shirt_recall", "recall of Shirt 68.9%\n", True),
    ("shirt_recall", "recall of Coat 0.861\n", False),
    ("conv_param_count", "parameters: 1,216\n", True),
    ("conv_value", "Convolution layer's output at (3, 0): 8\n", True),
    ("conv_value", "Step 4 of 4: ... = 15\n", False),
])
def test_an_answer_printed_above_its_question_fails(name, printed, caught):
    problems = spoilers(_exercise(name, printed))
    assert bool(problems) is caught, problems
    # the same output printed AFTER the question reveals nothing
    after = _exercise(name, "nothing here\n")
    after.insert(2, _code("print(stuff)", printed))
    assert spoilers(after) == []


def test_a_small_answer_without_context_is_refused(monkeypatch):
    monkeypatch.setitem(solutions.ANSWERS, "tiny", (3, "Three."))
    with pytest.raises(AssertionError, match="fewer than 3 digits"):
        spoilers(_exercise("tiny", "3\n"))
