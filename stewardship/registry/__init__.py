"""The Confluent Schema Registry wire API over governed subjects (``/registry/confluent/``).

``identity`` names schemas as the wire does (global ids by canonical text), ``views`` are
thin handlers over ``stewardship.services`` and ``stewardship.registry.selectors``; see
docs/stewardship.md ("Schema Registry wire API").
"""
