"""Static checks of the project's structure, read from the source with ``ast``:

- ``write_violations``: a domain model is written only by its own app's services (DESIGN.md,
  "One write path"). A write is a call of ``.save()``, ``.delete()``, ``bulk_create``,
  ``bulk_update``, ``.create()`` / ``get_or_create`` / ``update_or_create`` on a manager,
  ``.update()`` on a queryset, or raw SQL (``cursor.execute`` of INSERT / UPDATE / DELETE).
- ``import_cycles``: no import cycle among the project's modules. Imports inside a function
  count too: moving an import into a function hides a cycle from Python, not from a reader.

The model a write touches is known when the call chain starts at a model class
(``Sla.objects.filter(...).update(...)``); the app is then the app that class is imported
from. A write on an instance (``obj.save()``) counts as a write to the module's own app.
"""

from __future__ import annotations

import ast
import pathlib
import re
from dataclasses import dataclass

ROOT = pathlib.Path(__file__).resolve().parent.parent
APPS = ("catalog", "stewardship", "exceptions", "health", "kpis", "controlplane", "sso", "telemetry")

# Modules that are part of their app's write layer besides services.py / services/: each is
# called only by that app's service functions (or is the mechanism they use).
SERVICE_HELPERS = {
    "controlplane/audit.py": "the audit log writer every service calls inside its transaction",
    "controlplane/outbox.py": "the transactional outbox every service enqueues Celery work through",
    "exceptions/replay.py": "the replay delivery run by the replay task; records ReplayAttempt rows and "
                            "resolves through the lifecycle it shares with the services",
    "health/breaches.py": "SLA breach bookkeeping and the hand-off to exceptions (through their services)",
    "health/notify.py": "notification rows claimed and delivered by the health services and tasks",
    "health/rollups.py": "derived hourly/daily figures recomputed from raw results (no user-facing state)",
    "health/sweep.py": "the probe sweep: probe results and probe state written by the scheduler",
}

# Writes outside the write layer that are justified. (module, model class name or "*") -> why.
ALLOWED = {
    ("catalog/backstage.py", "UnresolvedReference"):
        "the importer's own bookkeeping of dangling references; not catalog state anyone edits",
    ("catalog/backstage.py", "BackstageImport"):
        "the importer's batch (plan, then one conditional apply); audited by the importer",
    ("stewardship/models.py", "*"):
        "StewardshipSettings.get() creates the one row of defaults on first read (no user-made state)",
    ("controlplane/authentication.py", "ServiceToken"):
        "touches last_used_at when a token authenticates: bookkeeping of use, not a state change",
    ("controlplane/roles.py", "*"): "Django groups and permissions seeded after migrate",
    ("catalog/reference.py", "*"): "the shared reference data (domains, entities, workflows) seeded by migration 0002 "
                                   "and again after a flush left the catalog empty, like the role groups",
    ("controlplane/management/commands/load_demo.py", "*"): "the demo loader: builds the demo estate from nothing, like */demo.py",
}

# Every app's services append audit rows in their own transaction (controlplane.audit, or
# in bulk for batch paths): the audit row travels with the change it records.
AUDIT_MODELS = {"AuditEntry"}

SKIP_PARTS = {"migrations", "tests", "__pycache__"}
MANAGER_WRITES = {"create", "get_or_create", "update_or_create", "bulk_create", "bulk_update"}
ALWAYS_WRITES = {"bulk_create", "bulk_update", "get_or_create", "update_or_create"}
QUERYSET_METHODS = {
    "objects", "filter", "exclude", "all", "select_for_update", "select_related", "prefetch_related", "order_by",
    "only", "defer", "annotate", "using", "distinct", "none", "open", "for_object",
}
# Receivers whose .delete()/.save() is not a database write.
NON_MODEL_RECEIVERS = re.compile(r"^(cache|caches|session|request\.session|self\.cache|storage|default_storage)$")
RAW_WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|MERGE|TRUNCATE)\b|\bINSERT\s+INTO\b|\bDELETE\s+FROM\b",
                       re.IGNORECASE)


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    call: str
    model: str
    app: str

    def __str__(self):
        target = f"{self.model} ({self.app})" if self.model != "?" else f"a model of {self.app}"
        return f"{self.path}:{self.line}: {self.call} writes {target} outside {self.app}'s services"


def app_of(relpath: str) -> str:
    return relpath.split("/", 1)[0]


def is_write_layer(relpath: str) -> bool:
    app = app_of(relpath)
    return (relpath == f"{app}/services.py" or relpath.startswith(f"{app}/services/")
            or relpath in SERVICE_HELPERS)


def is_exempt(relpath: str) -> bool:
    """Demo loaders and migrations write freely (they build a database from nothing)."""
    name = relpath.rsplit("/", 1)[-1]
    return name == "demo.py" or bool(SKIP_PARTS & set(relpath.split("/")[:-1]))


def _dotted(node) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner else ""
    return ""


def _chain(node):
    """(root expression, [method/attribute names from the root outwards])."""
    names = []
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Attribute):
            names.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Subscript):
            node = node.value
        else:
            return node, list(reversed(names))


def _from_module(node: ast.ImportFrom, package: str) -> str:
    """The absolute module of ``from <...> import`` inside ``package``."""
    if not node.level:
        return node.module or ""
    base = package.split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imported_names(tree, relpath: str) -> dict[str, str]:
    """name -> the module it was imported from (absolute, dotted)."""
    package = relpath.removesuffix(".py").replace("/", ".").rsplit(".", 1)[0]
    if relpath.endswith("__init__.py"):
        package = relpath.removesuffix("/__init__.py").replace("/", ".")
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = _from_module(node, package)
            for alias in node.names:
                names[alias.asname or alias.name] = module
    return names


def _sql_text(node) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
    if isinstance(node, ast.BinOp):
        return _sql_text(node.left) + _sql_text(node.right)
    return ""


def _calls_with_context(tree):
    """(call, names of the methods of the enclosing class, enclosing function name)."""
    def visit(node, methods, function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                own = {n.name for n in child.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
                yield from visit(child, own, function)
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                yield from visit(child, methods, child.name)
            else:
                if isinstance(child, ast.Call):
                    yield child, methods, function
                yield from visit(child, methods, function)

    yield from visit(tree, set(), "")


def _is_project_module(name: str, imported: dict[str, str]) -> bool:
    """``services`` in ``from . import services``: a call on it calls a function."""
    source = imported.get(name)
    if source is None:
        return False
    dotted = f"{source}.{name}".replace(".", "/")
    return (ROOT / f"{dotted}.py").exists() or (ROOT / dotted / "__init__.py").exists()


def _write_calls(tree, relpath: str, constants: dict[str, str]):
    """Yield (line, description, model name or "?", app) for every write call."""
    imported = _imported_names(tree, relpath)
    own_app = app_of(relpath)
    for node, methods, function in _calls_with_context(tree):
        if not isinstance(node.func, ast.Attribute):
            continue
        method = node.func.attr
        receiver = node.func.value
        root, chain = _chain(receiver)
        root_name = root.id if isinstance(root, ast.Name) else ""
        if isinstance(receiver, ast.Name) and _is_project_module(receiver.id, imported):
            continue  # services.delete(obj, actor=...) is the service itself
        if isinstance(receiver, ast.Name) and receiver.id == "self" and (
                method in methods or not relpath.endswith("models.py")):
            continue  # a view's or form's own save(form) hook; only a model's self is a model
        if (isinstance(receiver, ast.Call) and isinstance(receiver.func, ast.Name) and receiver.func.id == "super"
                and method == function):
            continue  # a model's save()/delete() override handing over to Django's
        if method in ("execute", "executemany"):
            sql = _sql_text(node.args[0]) if node.args else ""
            if node.args and isinstance(node.args[0], ast.Name):
                sql = constants.get(node.args[0].id, "")
            if RAW_WRITE.search(sql):
                yield node.lineno, f"raw SQL {sql.split()[0].upper()}", "?", own_app
            continue
        if method == "save":
            if any(k.arg == "commit" and isinstance(k.value, ast.Constant) and k.value.value is False
                   for k in node.keywords):
                continue  # ModelForm.save(commit=False) builds an object, it writes nothing
        elif method == "delete":
            if NON_MODEL_RECEIVERS.match(_dotted(receiver) or ""):
                continue
        elif method == "update":
            # dict.update is everywhere; a queryset update is reached through a manager or
            # a queryset method, or is called on a name that says it is a queryset.
            on_queryset = bool(QUERYSET_METHODS & set(chain)) or (
                not chain and re.search(r"(^|_)(qs|queryset)$", root_name or ""))
            if not on_queryset:
                continue
        elif method in MANAGER_WRITES:
            if method not in ALWAYS_WRITES and "objects" not in chain and not (chain and chain[-1].endswith("_set")):
                continue
        else:
            continue
        model, app = "?", own_app
        if root_name and root_name[:1].isupper() and chain[:1] == ["objects"]:
            model = root_name
            source = imported.get(root_name, "")
            if source.startswith("django") or source.startswith("django_celery_beat"):
                continue  # Django's own models (users, groups, sessions): not domain models
            source_app = source.split(".", 1)[0]
            if source_app in APPS:
                app = source_app
        yield node.lineno, f".{method}()", model, app


def _module_constants(tree) -> dict[str, str]:
    """Module- and function-level string assignments, so ``cursor.execute(SQL)`` is read."""
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            text = _sql_text(node.value)
            if text:
                out[node.targets[0].id] = text
    return out


def write_calls_in(relpath: str) -> list[tuple[int, str, str, str]]:
    """Every write call of one project module: (line, call, model or "?", app)."""
    tree = ast.parse((ROOT / relpath).read_text(), filename=relpath)
    return list(_write_calls(tree, relpath, _module_constants(tree)))


def write_violations_in(source: str, relpath: str) -> list[Violation]:
    """The writes in one module (``relpath`` like ``catalog/views.py``) that break the rule."""
    if is_exempt(relpath):
        return []
    tree = ast.parse(source, filename=relpath)
    found = []
    for line, call, model, app in _write_calls(tree, relpath, _module_constants(tree)):
        if app == app_of(relpath) and is_write_layer(relpath):
            continue
        if model in AUDIT_MODELS and is_write_layer(relpath):
            continue
        if (relpath, model) in ALLOWED or (relpath, "*") in ALLOWED:
            continue
        found.append(Violation(relpath, line, call, model, app))
    return found


def project_modules(apps=APPS):
    for app in apps:
        for path in sorted((ROOT / app).rglob("*.py")):
            relpath = path.relative_to(ROOT).as_posix()
            if not (SKIP_PARTS & set(relpath.split("/"))):
                yield relpath, path


def write_violations(apps=APPS) -> list[Violation]:
    found = []
    for relpath, path in project_modules(apps):
        found += write_violations_in(path.read_text(), relpath)
    return found


# --- import cycles --------------------------------------------------------------------


def _module_name(relpath: str) -> str:
    name = relpath.removesuffix(".py").replace("/", ".")
    return name.removesuffix(".__init__")


def import_graph(sources: dict[str, str]) -> dict[str, dict[str, int]]:
    """{module: {imported module: line}} over ``sources`` ({relpath: text}). Imports under
    ``if TYPE_CHECKING:`` are left out (they never run)."""
    modules = {_module_name(p): p for p in sources}

    def known(name):
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, dict[str, int]] = {}
    for relpath, text in sources.items():
        module = _module_name(relpath)
        package = module if relpath.endswith("__init__.py") else module.rpartition(".")[0]
        tree = ast.parse(text, filename=relpath)
        skip = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skip |= {id(n) for n in ast.walk(node)}
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base_name = _from_module(node, package)
                targets = [f"{base_name}.{alias.name}" if f"{base_name}.{alias.name}" in modules else base_name
                           for alias in node.names]
            for target in targets:
                target = known(target)
                if target and target != module:
                    graph.setdefault(module, {}).setdefault(target, node.lineno)
    return graph


def import_cycles(sources: dict[str, str]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    graph = import_graph(sources)
    index, low, stack, on_stack, groups = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted({_module_name(p) for p in sources}):
        if module not in index:
            visit(module)
    return sorted(groups)


def describe_cycle(group: list[str], sources: dict[str, str]) -> str:
    graph = import_graph(sources)
    edges = [f"{a} -> {b} (line {line})" for a in group for b, line in sorted(graph.get(a, {}).items()) if b in group]
    return "; ".join(edges)


def project_sources(apps=APPS) -> dict[str, str]:
    return {relpath: path.read_text() for relpath, path in project_modules(apps)}
