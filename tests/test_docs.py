"""The docs are real: the README's study file loads and its dry run lists the race it describes; the
search-space reference is the schema's own."""

import re

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
