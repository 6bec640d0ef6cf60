"""The structural diff marks changes and puts each finding at its place."""

from stewardship.diffing import side_by_side

OLD = {"type": "object", "required": ["a"], "properties": {"a": {"type": "string", "maxLength": 10}, "gone": {"type": "string"}}}
NEW = {"type": "object", "required": ["a", "b"], "properties": {"a": {"type": "string", "maxLength": 5}, "b": {"type": "integer"}}}


def _line(lines, pointer):
    return next(line for line in lines if line["pointer"] == pointer and not line.get("closing"))


def test_changes_and_findings_are_placed():
    findings = [
        {"type": "MAX_LENGTH_DECREASED", "path": "#/properties/a/maxLength", "compatible": False},
        {"type": "REQUIRED_ATTRIBUTE_ADDED", "path": "#/required/b", "compatible": False},
        {"type": "PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL", "path": "#/properties/gone", "compatible": True},
    ]
    diff = side_by_side(OLD, NEW, findings)
    assert _line(diff["new"], "/properties/a/maxLength")["change"] == "changed"
    assert _line(diff["new"], "/properties/a/maxLength")["breaking"] is True
    assert _line(diff["new"], "/properties/b")["change"] == "added"
    assert _line(diff["old"], "/properties/gone")["change"] == "removed"
    # a finding whose exact path has no line sits on the nearest ancestor of the new document
    assert [f["type"] for f in _line(diff["new"], "/required")["findings"]] == ["REQUIRED_ATTRIBUTE_ADDED"]
    # a removal is shown on the old side, where the removed thing was
    assert [f["type"] for f in _line(diff["old"], "/properties/gone")["findings"]] == ["PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL"]
    assert _line(diff["old"], "/properties/gone")["breaking"] is False


def test_first_version_has_no_left_side():
    diff = side_by_side(None, NEW, [])
    assert diff["old"] == [] and all(line["change"] == "" for line in diff["new"])
