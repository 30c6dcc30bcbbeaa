"""The configs in cluster/ that launch the job on real clusters: validated offline."""

import copy
import json
import shlex
from pathlib import Path

import jsonschema
import pytest
import ray
import yaml

from tests.helpers import REPO
from toolkit.cli.main import build_parser

CLUSTER = REPO / "cluster"
SCHEMA = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())


@pytest.mark.parametrize("name, provider", [("aws.yaml", "aws"), ("gcp.yaml", "gcp")])
def test_launcher_yaml_validates_against_rays_schema(name, provider):
    config = yaml.safe_load((CLUSTER / name).read_text())
    jsonschema.validate(config, SCHEMA)
    assert config["provider"]["type"] == provider
    types = config["available_node_types"]
    assert types[config["head_node_type"]]["resources"].get("GPU", 0) == 0  # a CPU head
    assert any(t["resources"].get("GPU", 0) >= 1 for t in types.values())  # a GPU worker type
    assert any("pip install" in c and "toolkit" in c for c in config["setup_commands"])
    # the schema is strict enough to catch a typo
    broken = copy.deepcopy(config)
    broken["available_node_types"]["worker_gpu"]["min_worker"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)


def test_rayjob_manifest_has_kuberay_fields_and_a_parseable_entrypoint():
    job = yaml.safe_load((CLUSTER / "rayjob.yaml").read_text())
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob" and job["metadata"]["name"]
    spec = job["spec"]
    head = spec["rayClusterSpec"]["headGroupSpec"]
    assert head["template"]["spec"]["containers"][0]["image"]
    (workers,) = spec["rayClusterSpec"]["workerGroupSpecs"]
    assert workers["groupName"] and workers["replicas"] >= 1
    container = workers["template"]["spec"]["containers"][0]
    assert int(container["resources"]["limits"]["nvidia.com/gpu"]) >= 1
    argv = shlex.split(spec["entrypoint"])
    assert argv[:2] == ["toolkit", "train"]
    args = build_parser().parse_args(argv[1:])
    assert args.address == "auto" and args.workers == workers["replicas"]
    assert args.gpus_per_worker == int(container["resources"]["limits"]["nvidia.com/gpu"])
    assert yaml.safe_load(spec["runtimeEnvYAML"]) == yaml.safe_load((CLUSTER / "runtime_env.yaml").read_text())


def test_runtime_env_is_valid_for_ray():
    from ray.runtime_env import RuntimeEnv

    env = yaml.safe_load((CLUSTER / "runtime_env.yaml").read_text())
    RuntimeEnv(**env)  # raises on unknown or malformed fields
    assert env["env_vars"]["TF_USE_LEGACY_KERAS"] == "1"
