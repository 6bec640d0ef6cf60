"""Edge cases of compat-rules.md, levels (transitive or not), the time bound, and the API shape."""

from __future__ import annotations

import time

import pytest

from stewardship.compat import FORMATS, LEVELS, POLICIES, Finding, Report, check

S = {"type": "string"}
N = {"type": "number"}


def types_of(report):
    return [(f.type, f.path) for f in report.findings]


# -- $ref and recursion ---------------------------------------------------------------------------

@pytest.mark.parametrize("defs", ["definitions", "$defs"])
def test_ref_into_definitions_is_followed(defs):
    old = {"type": "object", "properties": {"a": {"$ref": f"#/{defs}/A"}},
           defs: {"A": {"type": "string", "maxLength": 9}}}
    new = {"type": "object", "properties": {"a": {"$ref": f"#/{defs}/A"}},
           defs: {"A": {"type": "string", "maxLength": 5}}}
    report = check(new=new, previous=[old])
    assert types_of(report) == [("MAX_LENGTH_DECREASED", "#/properties/a/maxLength")]
    assert report.compatible is False


def test_ref_and_inline_copy_are_the_same_schema():
    inline = {"type": "object", "properties": {"street": S}, "required": ["street"]}
    old = {"type": "object", "properties": {"home": {"$ref": "#/definitions/Address"}},
           "definitions": {"Address": inline}}
    new = {"type": "object", "properties": {"home": inline}}
    for level in ("BACKWARD", "FORWARD"):
        assert check(new=new, previous=[old], level=level).findings == ()


def _linked_list(max_length):
    return {
        "$ref": "#/definitions/Node",
        "definitions": {"Node": {"type": "object", "properties": {
            "value": {"type": "string", "maxLength": max_length},
            "next": {"$ref": "#/definitions/Node"},
        }}},
    }


def test_recursive_schema_terminates_and_finds_the_change_once():
    started = time.thread_time()  # the check's own work, not its neighbours' on a busy machine
    report = check(new=_linked_list(5), previous=[_linked_list(9)], level="FULL")
    assert time.thread_time() - started < 1
    assert not report.timed_out
    backward = [(f.type, f.path) for f in report.findings if f.direction == "BACKWARD"]
    assert backward == [("MAX_LENGTH_DECREASED", "#/properties/value/maxLength")]
    assert report.compatible is False


def test_recursive_schema_unchanged_is_compatible():
    report = check(new=_linked_list(5), previous=[_linked_list(5)], level="FULL_TRANSITIVE")
    assert report.compatible and report.findings == ()


def test_mutually_recursive_definitions():
    def schema(ml):
        return {"$ref": "#/$defs/A", "$defs": {
            "A": {"type": "object", "properties": {"b": {"$ref": "#/$defs/B"}, "name": S}},
            "B": {"type": "object", "properties": {"a": {"$ref": "#/$defs/A"},
                                                   "code": {"type": "string", "maxLength": ml}}},
        }}
    report = check(new=schema(3), previous=[schema(4)])
    assert types_of(report) == [("MAX_LENGTH_DECREASED", "#/properties/b/properties/code/maxLength")]


def test_ref_by_id_anchor():
    def schema(ml):
        return {"properties": {"a": {"$ref": "#Addr"}},
                "definitions": {"Addr": {"$id": "#Addr", "type": "string", "maxLength": ml}}}
    assert types_of(check(new=schema(3), previous=[schema(4)])) == [("MAX_LENGTH_DECREASED",
                                                                       "#/properties/a/maxLength")]


# -- combinators --------------------------------------------------------------------------------

def test_subschemas_are_matched_pairwise_whatever_their_order():
    old = {"oneOf": [S, N, {"type": "boolean"}]}
    new = {"oneOf": [{"type": "boolean"}, S, N]}
    assert check(new=new, previous=[old], level="FULL").findings == ()


def test_oneof_to_anyof_widens():
    old, new = {"oneOf": [S, N]}, {"anyOf": [S, N]}
    assert check(new=new, previous=[old]).compatible is True
    assert check(new=new, previous=[old], level="FORWARD").compatible is False


def test_allof_to_anyof_widens():
    old = {"type": "number", "allOf": [{"maximum": 100}, {"multipleOf": 6}]}
    new = {"type": "number", "anyOf": [{"maximum": 100}, {"multipleOf": 6}]}
    report = check(new=new, previous=[old])
    assert report.compatible is True
    assert "COMBINED_TYPE_EXTENDED" in [f.type for f in report.findings]
    assert check(new=new, previous=[old], level="FORWARD").compatible is False


def test_extending_anyof_widens():
    old, new = {"anyOf": [S, N]}, {"anyOf": [S, N, {"type": "null"}]}
    assert [f.type for f in check(new=new, previous=[old]).findings] == ["SUM_TYPE_EXTENDED"]
    assert check(new=new, previous=[old], level="FORWARD").compatible is False


def test_single_type_to_union_is_sum_type_extended():
    report = check(new={"anyOf": [S, N]}, previous=[S])
    assert report.compatible and [f.type for f in report.findings] == ["SUM_TYPE_EXTENDED"]


def test_unmatched_subschema_shows_the_reason():
    old = {"anyOf": [{"type": "string", "maxLength": 9}, N]}
    new = {"anyOf": [{"type": "string", "maxLength": 5}, N]}
    found = types_of(check(new=new, previous=[old]))
    assert ("COMBINED_TYPE_SUBSCHEMAS_CHANGED", "#/anyOf") in found
    assert ("MAX_LENGTH_DECREASED", "#/anyOf/0/maxLength") in found


def test_not_reverses_the_roles():
    assert check(new={"not": S}, previous=[{"not": S}]).findings == ()
    assert check(new={"not": {"type": "string", "maxLength": 5}},
                 previous=[{"not": {"type": "string", "maxLength": 10}}]).compatible is True


# -- types, enum, const ---------------------------------------------------------------------------

def test_type_string_and_one_element_array_are_the_same():
    assert check(new={"type": ["string"]}, previous=[S], level="FULL").findings == ()
    assert check(new={"type": ["string"], "maxLength": 3}, previous=[{"type": "string", "maxLength": 3}],
                 level="FULL").findings == ()


def test_type_array_order_does_not_matter():
    assert check(new={"type": ["null", "string"]}, previous=[{"type": ["string", "null"]}],
                 level="FULL").findings == ()


def test_const_behaves_like_a_one_element_enum():
    assert check(new={"enum": ["x"]}, previous=[{"const": "x"}], level="FULL").findings == ()
    report = check(new={"enum": ["x", "y"]}, previous=[{"const": "x"}])
    assert [f.type for f in report.findings] == ["ENUM_ARRAY_EXTENDED"] and report.compatible
    assert check(new={"const": "x"}, previous=[{"enum": ["x", "y"]}]).compatible is False


def test_enum_order_does_not_matter():
    assert check(new={"enum": ["b", "a"]}, previous=[{"enum": ["a", "b"]}], level="FULL").findings == ()


def test_dropping_an_enum_next_to_a_type_widens():
    report = check(new=S, previous=[{"type": "string", "enum": ["a"]}])
    assert report.compatible is True
    assert check(new=S, previous=[{"type": "string", "enum": ["a"]}], level="FORWARD").compatible is False


def test_integer_is_narrower_than_number():
    assert check(new=N, previous=[{"type": "integer"}]).compatible is True
    assert check(new={"type": "integer"}, previous=[N]).compatible is False


def test_true_and_empty_accept_everything_false_accepts_nothing():
    assert check(new=True, previous=[S]).compatible is True
    assert check(new={}, previous=[S]).compatible is True
    assert check(new=S, previous=[False]).compatible is True
    assert check(new=S, previous=[True]).compatible is False


def test_exclusive_bound_replaced_by_inclusive_one_is_judged_on_the_effective_bound():
    old = {"type": "number", "exclusiveMinimum": 10}
    assert check(new={"type": "number", "minimum": 10}, previous=[old]).compatible is True
    assert check(new={"type": "number", "minimum": 11}, previous=[old]).compatible is False
    draft4 = {"$schema": "http://json-schema.org/draft-04/schema#", "type": "number", "minimum": 10,
              "exclusiveMinimum": True}
    assert check(new={"type": "number", "exclusiveMinimum": 10}, previous=[draft4], level="FULL").compatible


# -- levels -----------------------------------------------------------------------------------------

V1 = {"type": "object", "properties": {"a": {"type": "string", "maxLength": 5}}}
V2 = {"type": "object", "properties": {"a": {"type": "string", "maxLength": 20}}}
V3 = {"type": "object", "properties": {"a": {"type": "string", "maxLength": 10}}}


def test_non_transitive_levels_compare_with_the_latest_only():
    # V3 (maxLength 10) narrows V2 (20) but widens V1 (5); only V2 counts for BACKWARD
    report = check(new=V3, previous=[V1, V2], level="BACKWARD")
    assert report.checked_versions == (2,)
    assert report.compatible is False
    assert {f.against_version for f in report.findings} == {2}
    report = check(new=V3, previous=[V2, V1], level="BACKWARD")
    assert report.compatible is True and report.checked_versions == (2,)


def test_transitive_checks_newest_first_and_stops_at_first_failure():
    newest = {"type": "object", "properties": {"a": {"type": "string", "maxLength": 30}}}
    report = check(new=newest, previous=[V1, V2, V3], level="BACKWARD_TRANSITIVE")
    assert report.compatible and report.checked_versions == (3, 2, 1)
    narrowing = {"type": "object", "properties": {"a": {"type": "string", "maxLength": 15}}}
    report = check(new=narrowing, previous=[V1, V2, V3], level="BACKWARD_TRANSITIVE")
    assert report.compatible is False
    assert report.checked_versions == (3, 2)  # v2 fails: v1 is not checked
    assert [(f.type, f.against_version) for f in report.findings if not f.compatible] == [
        ("MAX_LENGTH_DECREASED", 2)]


def test_previous_versions_label_the_findings():
    report = check(new=V1, previous=[V2, V3], previous_versions=[7, 9], level="BACKWARD_TRANSITIVE")
    assert report.checked_versions == (9,)
    assert {f.against_version for f in report.findings} == {9}


def test_forward_transitive_and_full_transitive():
    report = check(new=V1, previous=[V2, V3], level="FORWARD_TRANSITIVE")
    assert report.compatible and report.checked_versions == (2, 1)
    report = check(new=V1, previous=[V2, V3], level="FULL_TRANSITIVE")
    assert report.compatible is False and report.checked_versions == (2,)
    assert {f.direction for f in report.findings} == {"BACKWARD", "FORWARD"}


def test_full_checks_both_directions():
    report = check(new=V2, previous=[V1], level="FULL")
    assert [(f.direction, f.compatible) for f in report.findings] == [("BACKWARD", True), ("FORWARD", False)]
    assert report.compatible is False


def test_none_is_always_compatible():
    report = check(new=S, previous=[N], level="NONE")
    assert report == Report(compatible=True, findings=(), timed_out=False, checked_versions=())


def test_no_previous_version_is_compatible():
    assert check(new=S, previous=[]).compatible is True


@pytest.mark.parametrize("kwargs,word", [
    ({"level": "SIDEWAYS"}, "level"),
    ({"policy": "LAX"}, "policy"),
    ({"fmt": "protobuf"}, "format"),
    ({"previous_versions": [1, 2]}, "previous_versions"),
])
def test_bad_arguments_raise_value_error(kwargs, word):
    with pytest.raises(ValueError, match=word):
        check(new=S, previous=[S], **kwargs)


def test_constants():
    assert LEVELS == ("BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL",
                      "FULL_TRANSITIVE", "NONE")
    assert POLICIES == ("STRICT", "LENIENT")
    assert FORMATS == ("json-schema", "openapi", "avro")


def test_report_to_dict_shape():
    report = check(new={"type": "string", "maxLength": 2}, previous=[{"type": "string", "maxLength": 3}])
    assert report.to_dict() == {
        "compatible": False,
        "timed_out": False,
        "checked_versions": [1],
        "findings": [{
            "type": "MAX_LENGTH_DECREASED", "path": "#/maxLength", "compatible": False, "against_version": 1,
            "direction": "BACKWARD", "message": report.findings[0].message,
        }],
    }
    assert isinstance(report.findings[0], Finding)


# -- the time bound ------------------------------------------------------------------------------------

def _exploding(width, depth, tweak, distinct=False):
    """oneOf of `width` distinct branches, nested `depth` times: width**(2*depth) subschema pairs.
    The engine compares subtrees of equal content once, which makes that polynomial; with
    `distinct` every leaf differs (its maxLength counts the leaves, `tweak` scales them all),
    so no two subtrees are alike and the pairs really explode."""
    leaves = iter(range(10_000))

    def level(d):
        if d == 0:
            return {"type": "string", "maxLength": tweak * 10_000 + (next(leaves) if distinct else 0)}
        return {"oneOf": [{"type": "object", "properties": {f"p{i}": level(d - 1)}, "required": [f"p{i}"],
                           "minProperties": i} for i in range(width)]}
    return level(depth)


def test_a_schema_built_to_explode_times_out_quickly():
    old, new = _exploding(5, 5, 10, distinct=True), _exploding(5, 5, 5, distinct=True)
    started = time.thread_time()  # the budget is CPU time: wall time stretches with the load
    report = check(new=new, previous=[old], level="FULL", time_budget=0.3)
    elapsed = time.thread_time() - started
    assert elapsed < 2.0
    assert report.timed_out is True
    assert report.compatible is False
    assert report.findings[-1].type == "CHECK_TIMED_OUT"
    assert report.findings[-1].compatible is False


def test_repeated_subschemas_are_compared_once_so_the_report_is_complete():
    # The same explosion with equal subtrees everywhere (what copy-pasted branches look like):
    # each distinct pair of subtrees is compared once, so the check ends with real findings
    # instead of running out of time (it used to: 5**10 pairs).
    old, new = _exploding(5, 5, 10), _exploding(5, 5, 5)
    report = check(new=new, previous=[old], level="FULL", time_budget=3)
    assert report.timed_out is False and report.compatible is False
    assert "MAX_LENGTH_DECREASED" in {f.type for f in report.findings if not f.compatible}


def test_a_transitive_check_reports_what_each_comparison_alone_reports():
    # Results shared across the versions of one check must be the ones each comparison finds.
    def version(n, required=("id",)):
        return {"type": "object", "description": f"v{n}", "required": list(required), "properties": {
            "id": {"type": "string", "maxLength": 10 + n},
            "kind": {"enum": [f"K{i}" for i in range(n)]},
            "lines": {"type": "array", "items": {"type": "object", "properties": {"q": {"type": "integer"}}}}}}

    olds = [("id", "kind")] + [("id",)] * 5  # the oldest also required "kind"
    previous = [version(n, required) for n, required in enumerate(olds)]
    report = check(new=version(7), previous=previous, level="BACKWARD_TRANSITIVE", time_budget=30)
    assert report.compatible is True and sorted(report.checked_versions) == [1, 2, 3, 4, 5, 6]
    assert {f.type for f in report.findings} >= {"MAX_LENGTH_INCREASED", "ENUM_ARRAY_EXTENDED"}
    for number, (n, required) in enumerate(zip(range(6), olds, strict=True), start=1):
        alone = check(new=version(7), previous=[version(n, required)], level="BACKWARD", time_budget=30)
        assert [(f.type, f.path) for f in report.findings if f.against_version == number] == [
            (f.type, f.path) for f in alone.findings]


def test_the_next_check_in_the_process_reports_what_a_fresh_process_reports():
    # Pair results are kept from one check to the next (the next registration of a subject
    # shares most subschemas with the last): a warm check must give the cold check's report.
    from stewardship.compat import jsonschema_diff

    def version(n, description, required=("id",)):
        return {"type": "object", "description": description, "required": list(required), "properties": {
            "id": {"type": "string", "maxLength": 10 + n},
            "currency": {"type": "string", "enum": [f"C{i}" for i in range(n)]},
            "lines": {"type": "array", "items": {"type": "object", "properties": {"q": {"type": "integer"}}}}}}

    previous = [version(n, f"v{n}", ("id", "currency") if n == 3 else ("id",)) for n in range(1, 8)]
    candidates = [version(8, "next"), version(8, "again", ("id", "currency")), version(2, "narrower")]
    for level in ("BACKWARD_TRANSITIVE", "FULL_TRANSITIVE", "FORWARD"):
        cold = []
        for new in candidates:
            jsonschema_diff._ContentIds.current().results.clear()
            cold.append(check(new=new, previous=previous, level=level, time_budget=30).to_dict())
        warm = [check(new=new, previous=previous, level=level, time_budget=30).to_dict() for new in candidates]
        assert warm == cold


def test_load_on_the_machine_cannot_turn_a_compatible_change_into_a_refusal():
    # Three busy threads share the GIL with the check: the check gets about a quarter of the
    # wall clock. Its budget is twice its own CPU cost, well under the stretched wall time: a
    # wall-clock budget would refuse the (compatible) change as CHECK_TIMED_OUT.
    import threading

    from stewardship.compat import jsonschema_diff

    def cold():  # the pair results of earlier checks are kept for the next ones: not these
        jsonschema_diff._ContentIds.current().results.clear()

    # A table of its own: one that earlier tests grew near its limit would be replaced in
    # the middle of a run, and that run would cost ten times the others (seen in CI).
    jsonschema_diff._CONTENT_IDS = jsonschema_diff._ContentIds()

    old, new = _exploding(4, 4, 10, distinct=True), _exploding(4, 4, 11, distinct=True)  # maxLength widened: compatible
    assert check(new=new, previous=[old], level="BACKWARD", time_budget=30).compatible  # warm: first-call costs
    costs = []
    for _ in range(2):
        cold()
        started = time.thread_time()
        check(new=new, previous=[old], level="BACKWARD", time_budget=30)
        costs.append(time.thread_time() - started)
    cost = max(costs)
    budget = max(2 * cost, 0.05)
    stop = threading.Event()

    def burn():
        while not stop.is_set():
            sum(range(2000))

    burners = [threading.Thread(target=burn, daemon=True) for _ in range(3)]
    for t in burners:
        t.start()
    try:
        cold()
        wall = time.perf_counter()
        report = check(new=new, previous=[old], level="BACKWARD", time_budget=budget)
        wall = time.perf_counter() - wall
    finally:
        stop.set()
        for t in burners:
            t.join()
    assert wall > budget, "the load did not stretch the check; the test proves nothing"
    assert report.compatible and not report.timed_out, report.findings


def test_deep_ref_chains_and_nesting_finish_or_time_out_but_never_hang():
    defs = {f"D{i}": {"$ref": f"#/definitions/D{i + 1}"} for i in range(3000)}
    defs["D3000"] = {"type": "object", "properties": {"x": {"$ref": "#/definitions/D0"}}}
    schema = {"$ref": "#/definitions/D0", "definitions": defs}
    started = time.thread_time()
    report = check(new=schema, previous=[schema], time_budget=1.0)
    assert time.thread_time() - started < 3.0
    assert report.findings == () or report.timed_out

    deep = S
    for _ in range(30000):
        deep = {"type": "object", "properties": {"c": deep}}
    started = time.thread_time()
    report = check(new=deep, previous=[deep], time_budget=1.0)
    assert time.thread_time() - started < 3.0
    assert report.compatible is False  # too deep or too slow: never silently "compatible"
    assert report.findings[-1].type in ("CHECK_TIMED_OUT", "CHECK_TOO_DEEP")


# -- the equality shortcut for wide objects must not hide changes behind $ref ------------------------

def _wide(max_length, extra=None):
    props = {f"p{i}": {"type": "string"} for i in range(12)}
    props["addr"] = {"$ref": "#/definitions/A"}
    schema = {"type": "object", "properties": props,
              "definitions": {"A": {"type": "string", "maxLength": max_length}}}
    if extra:
        schema["properties"].update(extra)
    return schema


def test_unchanged_property_text_with_a_changed_ref_target_is_still_diffed():
    report = check(new=_wide(5), previous=[_wide(9)])
    assert types_of(report) == [("MAX_LENGTH_DECREASED", "#/properties/addr/maxLength")]


def test_wide_object_reports_only_the_changed_property():
    report = check(new=_wide(9, {"p3": {"type": "integer"}}), previous=[_wide(9)])
    assert types_of(report) == [("TYPE_CHANGED", "#/properties/p3")]


def test_long_finding_lists_are_cut_with_breaking_findings_first():
    from stewardship.compat.jsonschema_diff import MAX_FINDINGS

    n = MAX_FINDINGS + 100
    old = {"type": "object", "properties": {f"p{i}": {"type": "string", "maxLength": 5} for i in range(n)}}
    new = {"type": "object", "properties": {f"p{i}": {"type": "string", "maxLength": 9} for i in range(n)}}
    new["properties"][f"p{n - 1}"]["maxLength"] = 1  # the one breaking change comes last
    report = check(new=new, previous=[old])
    assert len(report.findings) == MAX_FINDINGS
    assert report.findings[0].type == "MAX_LENGTH_DECREASED"
    assert report.findings[0].path == f"#/properties/p{n - 1}/maxLength"
    assert report.compatible is False


def test_writer_allof_is_read_when_one_member_is_read():
    # {"type": "string", "enum": ["a"]} only produces "a": a reader of any string or null reads it
    report = check(new={"type": ["string", "null"]}, previous=[{"type": "string", "enum": ["a"]}], level="FULL")
    backward = [f for f in report.findings if f.direction == "BACKWARD"]
    assert backward and all(f.compatible for f in backward)
    assert "PRODUCT_TYPE_NARROWED" in [f.type for f in backward]
    assert report.compatible is False  # FORWARD: the enum reader cannot read null


def test_reader_anyof_reads_a_combined_writer_one_branch_reads():
    writer = {"allOf": [{"type": "string"}, {"maxLength": 5}]}
    reader = {"anyOf": [{"type": "number"}, {"allOf": [{"type": "string"}, {"maxLength": 9}]}]}
    assert check(new=reader, previous=[writer]).compatible is True
    assert check(new=reader, previous=[writer], level="FORWARD").compatible is False


# -- recursion: assumptions made while recursing ------------------------------------------------------

def test_a_result_assumed_while_recursing_is_not_reused_once_the_assumption_fails():
    # The reader anyOf tries T first: (T, T) is in progress while (U, U) compares (T, T) again,
    # assumed compatible; then T.n gains a maxLength and T fails. The second branch T2 compares
    # (U, U) again: served from the memo it was "compatible", yet U.t holds a T whose n may now
    # be longer than 5 characters. The writer's {"c": {"t": {"n": "too long"}}} is refused by
    # both branches, so the change is incompatible.
    def t(n_schema):
        return {"type": "object", "properties": {"n": n_schema, "c": {"$ref": "#/definitions/U"}}}

    u = {"type": "object", "properties": {"t": {"$ref": "#/definitions/T"}}}
    writer = {"$ref": "#/definitions/T", "definitions": {"T": t({"type": "string"}), "U": u}}
    reader = {"anyOf": [{"$ref": "#/definitions/T"}, {"$ref": "#/definitions/T2"}], "definitions": {
        "T": t({"type": "string", "maxLength": 5}), "T2": t({"type": "string"}), "U": u}}
    report = check(new=reader, previous=[writer], level="BACKWARD")
    assert report.compatible is False


def test_an_unchanged_twelve_member_recursive_one_of_is_compatible_with_itself():
    def node(title):
        members = [{"type": "object", "title": f"{title}{i}", "required": ["kind"], "properties": {
            "kind": {"const": f"k{i}"}, "children": {"type": "array", "items": {"$ref": "#/definitions/Node"}},
            "next": {"$ref": "#/definitions/Node"}}} for i in range(12)]
        return {"$ref": "#/definitions/Node", "definitions": {"Node": {"oneOf": members}}}
    import copy

    schema = node("Kind ")
    report = check(new=copy.deepcopy(schema), previous=[schema], level="FULL_TRANSITIVE", time_budget=5.0)
    assert report.compatible and report.findings == ()
    renamed = node("Variant ")  # titles differ everywhere: no equality shortcut
    report = check(new=renamed, previous=[schema], level="FULL", time_budget=5.0)
    assert report.compatible and not report.timed_out
    assert {f.type for f in report.findings} == {"TITLE_CHANGED"}
