"""Scorecard checks contributed by the stewardship app (autodiscovered by the catalog's
intelligence module)."""


def _entities_without_sor():
    from .selectors import entities_without_sor

    return entities_without_sor()


CHECKS = [
    dict(
        key="entity-without-sor",
        name="Entity without a system of record",
        severity="high",
        fix="Propose a system-of-record assignment on the Stewardship > Systems of record page and have another steward approve it.",
        applies_to="entity",
        failing=_entities_without_sor,
    ),
]
