"""No import cycle among the project's modules, function-level imports included: a cycle
hidden by moving an import into a function is still a cycle (tests/architecture.py)."""

from tests.architecture import describe_cycle, import_cycles, project_sources


def test_no_import_cycle_in_the_apps():
    sources = project_sources()
    cycles = import_cycles(sources)
    assert not cycles, "import cycles: " + " | ".join(describe_cycle(c, sources) for c in cycles)


def test_the_checker_finds_a_cycle_hidden_in_a_function():
    sources = {
        "shop/__init__.py": "",
        "shop/services.py": "from controlplane import outbox\n\ndef pay():\n    from . import tasks\n    return tasks\n",
        "shop/tasks.py": "from .services import pay\n",
        "shop/views.py": "from . import services\n",
    }
    assert import_cycles(sources) == [["shop.services", "shop.tasks"]]
    assert "shop.services -> shop.tasks (line 4)" in describe_cycle(["shop.services", "shop.tasks"], sources)


def test_the_checker_ignores_type_checking_imports_and_follows_relative_ones():
    sources = {
        "shop/__init__.py": "",
        "shop/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import B\n",
        "shop/b.py": "from . import a\n",
        "shop/sub/__init__.py": "from ..b import *\n",
        "shop/sub/c.py": "from .. import sub\n",
    }
    assert import_cycles(sources) == []
    sources["shop/a.py"] = "from .sub import c\n"
    sources["shop/b.py"] = "from .a import x\n"
    sources["shop/sub/__init__.py"] = "from ..b import y\n"
    assert import_cycles(sources) == [["shop.a", "shop.b", "shop.sub", "shop.sub.c"]]
