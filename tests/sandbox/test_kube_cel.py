"""The CEL subset: what evaluates to what, and what is refused when a CRD is loaded."""

from __future__ import annotations

import pytest

from odm_sandbox.kube import cel

OLD = {"input": {"s3Uri": "s3://a/"}, "suspend": False, "tags": ["x", "y"], "n": 1}

EVALUATIONS = [
    # (rule, self, oldSelf, expected, reason)
    ("self.n == 1", {"n": 1}, cel.MISSING, True, "field selection and int equality"),
    ("self.n == 1.0", {"n": 1}, cel.MISSING, True, "ints equal doubles of the same value"),
    ("self.flag == 1", {"flag": True}, cel.MISSING, False, "bools never equal ints"),
    ("self.a.b != 'x'", {"a": {"b": "y"}}, cel.MISSING, True, "nested selection with a single-quoted string"),
    ('self.s == "a\\"b"', {"s": 'a"b'}, cel.MISSING, True, "escaped quote in a double-quoted string"),
    ("self.v == null", {"v": None}, cel.MISSING, True, "null literal"),
    ("has(self.a)", {"a": 1}, cel.MISSING, True, "has() on a present field"),
    ("has(self.a)", {}, cel.MISSING, False, "has() on an absent field"),
    ("has(self.a.b)", {"a": {}}, cel.MISSING, False, "has() on a nested absent field"),
    ("!has(self.a) || self.a > 2", {}, cel.MISSING, True, "|| short-circuits on true"),
    ("has(self.a) && self.a > 2", {}, cel.MISSING, False, "&& short-circuits on false"),
    (
        "self.a > 2 && has(self.a)",
        {},
        cel.MISSING,
        False,
        "&& absorbs an error on the left when the right is false",
    ),
    ("(self.n == 1) && !(self.n == 2)", {"n": 1}, cel.MISSING, True, "parentheses and negation"),
    (
        "self.m == oldSelf.m",
        {"m": {"k": [1, {"z": 2}]}},
        {"m": {"k": [1, {"z": 2}]}},
        True,
        "deep map equality",
    ),
    ("self.m == oldSelf.m", {"m": {"k": [1, 2]}}, {"m": {"k": [2, 1]}}, False, "lists compare in order"),
    (
        "self.m == oldSelf.m",
        {"m": {"a": 1}},
        {"m": {"a": 1, "b": 2}},
        False,
        "maps with different keys differ",
    ),
    ("self.tags[1] == 'y'", OLD, cel.MISSING, True, "list indexing"),
    (
        "size(self.tags) == 2 && self.tags.size() == 2",
        OLD,
        cel.MISSING,
        True,
        "size() as function and method",
    ),
    ("'x' in self.tags", OLD, cel.MISSING, True, "membership in a list"),
    ("self.n >= 1 && self.n <= 1 && self.n < 2 && self.n > 0", OLD, cel.MISSING, True, "ordering"),
    ("self.n == 1 ? true : false", OLD, cel.MISSING, True, "conditional"),
    ("self.n == -1", {"n": -1}, cel.MISSING, True, "negative literal"),
    ("[1, 2] == [1, 2]", {}, cel.MISSING, True, "list literals"),
    (
        "(has(self.input) == has(oldSelf.input)) && (!has(self.input) || self.input == oldSelf.input)",
        {**OLD, "suspend": True},
        OLD,
        True,
        "the immutability rule lets other fields change",
    ),
    (
        "(has(self.input) == has(oldSelf.input)) && (!has(self.input) || self.input == oldSelf.input)",
        {**OLD, "input": {"s3Uri": "s3://b/"}},
        OLD,
        False,
        "the immutability rule refuses a changed field",
    ),
    (
        "(has(self.input) == has(oldSelf.input)) && (!has(self.input) || self.input == oldSelf.input)",
        {"suspend": True},
        OLD,
        False,
        "the immutability rule refuses a removed field",
    ),
]


@pytest.mark.parametrize(
    ("rule", "value", "old", "expected", "reason"), EVALUATIONS, ids=[e[4] for e in EVALUATIONS]
)
def test_rules_evaluate_like_cel(rule, value, old, expected, reason):
    assert cel.compile_rule(rule).evaluate(value, old) is expected, reason


RUNTIME_ERRORS = [
    ("self.missing == 1", {}, "no such key: missing"),
    ("self.tags[5] == 'x'", OLD, "index out of bounds: 5"),
    ("self.n && true", {"n": 1}, "no such overload"),
    ("self.s < 1", {"s": "a"}, "no such overload"),
    ("self.n", {"n": 1}, "not bool"),
]


@pytest.mark.parametrize(("rule", "value", "message"), RUNTIME_ERRORS, ids=[e[2] for e in RUNTIME_ERRORS])
def test_runtime_errors_are_reported_not_swallowed(rule, value, message):
    with pytest.raises(cel.CelEvalError, match=message):
        cel.compile_rule(rule).evaluate(value)


UNSUPPORTED = [
    ("self.a + 1 == 2", "arithmetic"),
    ("self.list.all(x, x > 0)", "macros"),
    ("self.name.startsWith('a')", "string functions"),
    ("int(self.a) == 1", "conversions"),
    ("other.a == 1", "undeclared variables"),
    ("{'a': 1} == self.m", "map literals"),
    ("self.a ==", "syntax errors"),
    ("self.a == 1)", "unbalanced parentheses"),
    ("has(self)", "has() without a field"),
]


@pytest.mark.parametrize(("rule", "reason"), UNSUPPORTED, ids=[u[1] for u in UNSUPPORTED])
def test_unsupported_constructs_are_refused_at_compile_time(rule, reason):
    with pytest.raises(cel.CelError):
        cel.compile_rule(rule)


def test_rules_mentioning_old_self_are_transition_rules():
    assert cel.compile_rule("self.a == oldSelf.a").is_transition
    assert not cel.compile_rule("self.a == 1").is_transition


def test_a_transition_rule_cannot_run_without_an_old_value():
    with pytest.raises(cel.CelEvalError):
        cel.compile_rule("self.a == oldSelf.a").evaluate({"a": 1})
