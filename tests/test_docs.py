"""The docs are real: the README's study file loads and its dry run lists the race it describes; the
search-space reference is the schema's own."""

import json
import re
import shlex
import textwrap

import numpy as np
import yaml

from pipeline.spec.reference import reference

from .conftest import ROOT, sweep_cli


def test_the_readmes_study_file_loads_and_describes_its_race(tmp_path):
    readme = (ROOT / "README.md").read_text()
    [study] = [block for block in re.findall(r"```yaml\n(.*?)```", readme, re.S) if block.startswith("name:")]
    path = tmp_path / "dropout.yaml"
    path.write_text(study)
    result = sweep_cli(str(path), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "4 to 8 trials (grid search):" in result.stdout
    assert "each configuration starts with 2 seeds" in result.stdout


def test_the_search_space_reference_is_generated_from_the_schema_as_it_is():
    """docs/SEARCH_SPACE.md is what `python -m pipeline.spec.reference` prints now: a key added to the
    schema, or a comment changed, makes this fail until the file is written again."""
    written = (ROOT / "docs" / "SEARCH_SPACE.md").read_text()
    assert written == reference(), "stale: run python -m pipeline.spec.reference > docs/SEARCH_SPACE.md"
    for key in ("`dropout`", "`time_budget_s`", "`inception_weights`", "`trial.dataset (name: cifar10)`"):
        assert key in written
    assert "| `lr` | float | required | > 0.0 |" in written  # the bounds come from the schema's own fields


def usage_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", (ROOT / "docs" / "USAGE.md").read_text(), re.S)


def test_the_usage_guides_search_space_examples_load_and_plan(tmp_path):
    """docs/USAGE.md's full file is a real spec (its race planned as it says), and its conditional
    example gives the 6 trials, not 8, that the text promises."""
    [full, conditional] = [textwrap.dedent(block) for block in usage_blocks("yaml")]
    path = tmp_path / "usage.yaml"
    path.write_text(full)
    planned = sweep_cli(str(path), "--dry-run")
    assert planned.returncode == 0, planned.stderr
    assert "4 to 8 trials (grid search):" in planned.stdout
    spec = yaml.safe_load(full) | yaml.safe_load(conditional)
    spec["search"] = {"algorithm": "grid"}
    path.write_text(yaml.safe_dump(spec))
    planned = sweep_cli(str(path), "--dry-run")
    assert planned.returncode == 0, planned.stderr
    assert "6 trials (grid search):" in planned.stdout


def test_the_usage_guides_evaluate_command_scores_points(tmp_path, monkeypatch, capsys):
    """The first of docs/USAGE.md's `python -m pipeline.evaluate` lines, on points from ring8 itself."""
    from pipeline.core.data import load_dataset
    from pipeline.core.evaluate import main
    from pipeline.spec.datasets import dataset_config

    [commands] = usage_blocks("bash")
    first = commands.splitlines()[0]
    assert first.startswith("python -m pipeline.evaluate --dataset ring8 --samples points.npy")
    monkeypatch.chdir(tmp_path)
    np.save("points.npy", load_dataset(dataset_config("ring8")).points[:2000].numpy())
    assert main(shlex.split(first)[3:]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["modes"] == 8 and scores["fid"] < 0.05
