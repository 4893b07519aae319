"""Running a lesson check in a test: every check prints exactly one PASS/FAIL line and returns a
bool (convlab/lessons/check.py's convention). Shared by the implement-it and lesson-10 tests."""


def run(check, answer, capsys):
    """Run ``check(answer)``; assert the one-line convention; return (result, the line)."""
    ok = check(answer)
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) == 1, out
    assert isinstance(ok, bool)
    assert lines[0].startswith("PASS: " if ok else "FAIL: "), lines[0]
    return ok, lines[0]
