"""The import layers of kit/ (docs/architecture.md, "Layers"): no circle anywhere, and arrows that only point down.

The graph is read from the source (every `import kit...` and `from kit... import`, those inside functions too: a
lazy import is still an arrow), so this runs without importing anything.
"""

import ast
from pathlib import Path

KIT = Path(__file__).resolve().parents[1] / "kit"

# Bottom to top. A module may import its own layer's modules and those of the layers below; every kit module not
# named here sits in FEATURES, between the composition of the config above and the foundation below.
FOUNDATION = {"kit", "kit.settings", "kit.registry", "kit.hashing", "kit.metrics", "kit.log", "kit.progress",
              "kit.input_files", "kit.strict_yaml", "kit.artifacts", "kit.ensemble.objectives", "kit.layout"}
COMPOSITION = {"kit.config"}  # composes the settings of the features below it
ABOVE_CONFIG = {"kit.runtime", "kit.docs", "kit.demo", "kit.predict", "kit.ensemble.build", "kit.report", "kit.results",
                "kit.figures", "kit.disagreements", "kit.lb", "kit.adversarial", "kit.tracking", "kit.stale"}
ENTRY = {"kit.cli", "kit.__main__"}


def module_name(path: Path) -> str:
    parts = path.relative_to(KIT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, dict[str, int]]:
    """module -> {kit module it imports: the line of the first such import}."""
    modules = {module_name(path): path for path in KIT.rglob("*.py")}

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for module, path in modules.items():
        arrows: dict[str, int] = {}
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base]).strip(".")
                names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            else:
                continue
            for name in names:
                target = known(name) if name.startswith("kit") else None
                if target and target != module:
                    arrows.setdefault(target, node.lineno)
        graph[module] = arrows
    return graph


def layer(module: str) -> int:
    for rank, members in enumerate((FOUNDATION, None, COMPOSITION, ABOVE_CONFIG, ENTRY)):
        if members is not None and module in members:
            return rank
    return 1  # FEATURES


def test_no_import_circle_in_kit():
    graph = import_graph()
    state: dict[str, str] = {}

    def visit(module: str, trail: list[str]) -> None:
        if state.get(module) == "done":
            return
        assert state.get(module) != "open", "import circle: " + " -> ".join(trail[trail.index(module):] + [module])
        state[module] = "open"
        for target in graph[module]:
            visit(target, trail + [module])
        state[module] = "done"

    for module in sorted(graph):
        visit(module, [])


def test_every_arrow_points_down_or_across():
    back = [f"{module} (layer {layer(module)}) imports {target} (layer {layer(target)}) at line {line}"
            for module, arrows in import_graph().items() for target, line in arrows.items()
            if layer(target) > layer(module)]
    assert back == []


def test_the_layers_name_only_modules_that_exist():
    graph = import_graph()
    assert (FOUNDATION | COMPOSITION | ABOVE_CONFIG | ENTRY) <= set(graph)
