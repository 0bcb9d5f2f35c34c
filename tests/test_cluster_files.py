"""The files in cluster/ stay valid: the launcher YAML against Ray's own schema, the KubeRay manifests'
shape and their sweep command (checked by the real CLI with --dry-run), the Slurm script's syntax."""

import json
import shlex
import subprocess
from pathlib import Path

import jsonschema
import ray
import yaml

from pipeline.sweep.cli import main as sweep_main

from .conftest import ROOT

CLUSTER = ROOT / "cluster"


def test_aws_launcher_config_matches_rays_schema():
    schema = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())
    config = yaml.safe_load((CLUSTER / "aws.yaml").read_text())
    jsonschema.validate(config, schema)
    assert config["provider"]["type"] == "aws"
    assert any(t["node_config"]["InstanceType"].startswith(("g", "p")) for t in config["available_node_types"].values())


def sweep_arguments(command: str) -> list[str]:
    words = shlex.split(command)
    assert words[:3] == ["python", "-m", "pipeline.sweep"], command
    return words[3:]


def check_sweep_command(command: str, monkeypatch) -> None:
    """The command a manifest runs, through the real CLI's parsing and spec loading (--dry-run: no Ray,
    no MLflow), run from the repository root as the manifests do."""
    monkeypatch.chdir(ROOT)
    assert sweep_main([*sweep_arguments(command), "--dry-run"]) == 0, command


def test_kuberay_manifests(monkeypatch):
    cluster = yaml.safe_load((CLUSTER / "kuberay-raycluster.yaml").read_text())
    job = yaml.safe_load((CLUSTER / "kuberay-rayjob.yaml").read_text())
    assert (cluster["apiVersion"], cluster["kind"], job["apiVersion"], job["kind"]) == (
        "ray.io/v1", "RayCluster", "ray.io/v1", "RayJob")
    for spec in (cluster["spec"], job["spec"]["rayClusterSpec"]):
        workers = spec["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
        assert workers["resources"]["limits"]["nvidia.com/gpu"] == "1"
        assert f"rayproject/ray:{spec['rayVersion']}-" in (CLUSTER / "Dockerfile").read_text()  # one Ray version
    check_sweep_command(job["spec"]["entrypoint"], monkeypatch)


def test_documented_commands_parse(monkeypatch):
    for name in ("kuberay-raycluster.yaml", "aws.yaml"):
        text = (CLUSTER / name).read_text().replace("\\\n#", "")
        line = next(line for line in text.splitlines() if "python -m pipeline.sweep" in line)
        check_sweep_command(line[line.index("python -m"):].rstrip('"'), monkeypatch)


def test_slurm_script_is_valid_bash_and_dockerfile_copies_what_exists():
    assert subprocess.run(["bash", "-n", str(CLUSTER / "slurm.sbatch")]).returncode == 0
    for line in (CLUSTER / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY"):
            for source in line.split()[2:-1]:
                assert (ROOT / source).exists(), source
