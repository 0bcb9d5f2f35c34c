"""The README's study file is a real one: it loads, and its dry run lists the race it describes."""

import re

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
