"""The promise the layout makes (docs/ARCHITECTURE.md): pipeline.core and pipeline.spec import neither
Ray nor MLflow (nor the packages above them), and pipeline.tracking and pipeline.report (the offline
commands report and sync) run without Ray. Every module of those packages is found on disk and
imported in a fresh interpreter, as a user's script or CLI would import it, so a new module is checked
without being listed here."""

import ast
import json
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "pipeline"


def modules_of(package: str) -> list[str]:
    folder = PACKAGE / package
    return sorted(
        "pipeline." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts).removesuffix(".__init__")
        for path in folder.rglob("*.py")
        if path.name != "__main__.py"
    )


CORE = modules_of("core") + modules_of("spec") + ["pipeline.train", "pipeline.evaluate", "pipeline.latent"]
OFFLINE = modules_of("tracking") + modules_of("report") + ["pipeline.sync"]
STATS = modules_of("stats")


def first_importers(modules: list[str], frameworks: tuple[str, ...]) -> dict[str, str]:
    """{framework: the first of `modules` whose import brought it in}, imported in order in one fresh
    interpreter: a module that imports a framework is named, since nothing before it had."""
    check = f"""
import importlib, json, sys
found = {{}}
for module in {modules!r}:
    importlib.import_module(module)
    found.update({{f: module for f in {frameworks!r} if f in sys.modules and f not in found}})
print(json.dumps(found))
"""
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_every_package_is_found():
    assert "pipeline.core.train" in CORE and "pipeline.core.metrics.fid" in CORE and "pipeline.spec.config" in CORE
    assert "pipeline.tracking.sync" in OFFLINE and "pipeline.report.render" in OFFLINE


def test_the_core_imports_neither_ray_nor_mlflow_nor_the_layers_above():
    assert first_importers(CORE, ("ray", "mlflow", "pipeline.tracking", "pipeline.sweep", "pipeline.report")) == {}


def test_the_statistics_import_no_framework_and_no_pipeline_layer_but_the_spec():
    """The driver's registration and the report share them: neither Ray nor MLflow nor torch comes with them."""
    assert STATS and first_importers(STATS, ("ray", "mlflow", "torch", "pipeline.sweep", "pipeline.report",
                                             "pipeline.core")) == {}


def test_offline_tools_run_without_ray():
    assert first_importers(OFFLINE, ("ray", "pipeline.sweep")) == {}


def test_the_check_finds_an_importer():
    assert first_importers(["json", "pipeline.spec.config"], ("pydantic",)) == {"pydantic": "pipeline.spec.config"}


def test_the_check_anyone_can_run():
    command = "import pipeline.core.train, sys; assert 'ray' not in sys.modules and 'mlflow' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", command], timeout=120).returncode == 0


# The same rules read from the source: an import inside a function counts too, though importing the
# module never runs it.
FORBIDDEN = {
    "core": ("ray", "mlflow", "pipeline.tracking", "pipeline.sweep", "pipeline.report"),
    "spec": ("ray", "mlflow", "pipeline.tracking", "pipeline.sweep", "pipeline.report"),
    "stats": ("ray", "mlflow", "torch", "pipeline.sweep", "pipeline.report", "pipeline.core"),
    "tracking": ("ray", "pipeline.sweep"),
    "report": ("ray", "pipeline.sweep"),
}


def imported_names(source: str) -> set[str]:
    """Every module an import statement anywhere in `source` names (top level, functions, classes)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def breaches(source: str, forbidden: tuple[str, ...]) -> set[str]:
    return {name for name in imported_names(source) for f in forbidden if name == f or name.startswith(f + ".")}


def test_no_module_imports_a_forbidden_layer_anywhere_in_its_source():
    found = {}
    for package, forbidden in FORBIDDEN.items():
        for path in (PACKAGE / package).rglob("*.py"):
            if bad := breaches(path.read_text(), forbidden):
                found[str(path.relative_to(PACKAGE))] = sorted(bad)
    assert found == {}


def test_the_source_check_sees_an_import_inside_a_function():
    source = "import json\n\n\ndef tags():\n    import ray\n    return ray.__version__\n"
    assert breaches(source, FORBIDDEN["tracking"]) == {"ray"}
    assert breaches("from ray.tune import report\n", FORBIDDEN["report"]) == {"ray.tune"}
