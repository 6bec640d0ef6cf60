import pytest

from health.conditions import ConditionError, ProbeResponse, evaluate, parse_condition, parse_conditions


def response(status=200, ms=120, body=b'{"status": "UP", "items": [{"state": "ok"}], "count": 3}', **kw):
    return ProbeResponse(status=status, response_ms=ms, body=body, **kw)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("[STATUS] == 200", True),
        ("[STATUS] != 200", False),
        ("[STATUS] < 300", True),
        ("[STATUS] >= 500", False),
        ("[RESPONSE_TIME] < 800", True),
        ("[RESPONSE_TIME] <= 120", True),
        ("[RESPONSE_TIME] > 120", False),
        ('[BODY].status == "UP"', True),
        ("[BODY].status == UP", True),
        ('[BODY].status != "DOWN"', True),
        ("[BODY].items[0].state == ok", True),
        ("[BODY].items[5].state == ok", False),
        ("[BODY].count >= 3", True),
        ("[BODY].count == 3", True),
        ("[BODY].missing == null", False),
        ("any([STATUS] == 204, [STATUS] == 200)", True),
        ("any([STATUS] == 204, [STATUS] == 201)", False),
        ("[CONNECTED] == true", True),
    ],
)
def test_conditions_evaluate(text, expected):
    ok, failed = evaluate([parse_condition(text)], response())
    assert ok is expected
    assert (failed == "") is expected


def test_all_conditions_must_hold_and_the_first_failure_is_named():
    nodes = parse_conditions('[STATUS] == 200\n# comment\n\n[BODY].status == "DOWN"\n[RESPONSE_TIME] < 800')
    assert len(nodes) == 3
    ok, failed = evaluate(nodes, response())
    assert not ok
    assert failed == '[BODY].status == "DOWN"'


def test_body_that_is_not_json_or_truncated_fails_path_conditions():
    node = parse_condition('[BODY].status == "UP"')
    assert not node.evaluate(response(body=b"<html>garbage"))
    assert not node.evaluate(response(truncated=True))
    assert parse_condition('[BODY] == "plain"').evaluate(response(body=b"plain"))


def test_numeric_comparison_on_a_string_value_is_false_not_an_error():
    assert not parse_condition("[BODY].status > 3").evaluate(response())


@pytest.mark.parametrize(
    "text,message",
    [
        ("[STATUS] = 200", "Unexpected"),
        ("[STATUS] ==", "Expected a value"),
        ("[FOO] == 1", "Unknown placeholder"),
        ("[STATUS] == UP", "compares with a number"),
        ("[STATUS].x == 1", "Only [BODY] takes a path"),
        ('[BODY].status < "UP"', "needs a number"),
        ("__import__('os').system('x')", "Unexpected"),
        ("[STATUS] == 200 extra", "Unexpected"),
        ("any([STATUS] == 200", "closing"),
        ("200 == [STATUS]", "Expected a placeholder"),
    ],
)
def test_bad_conditions_raise_clear_errors(text, message):
    with pytest.raises(ConditionError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_condition(text)


def test_error_names_the_line():
    with pytest.raises(ConditionError, match="Line 2"):
        parse_conditions("[STATUS] == 200\n[STATUS] => 3")
    with pytest.raises(ConditionError, match="At least one"):
        parse_conditions("  \n# nothing\n")
