"""OpenAPI breaking-change diff. Work in progress."""


def compare(writer, reader, *, policy, deadline):
    return []
