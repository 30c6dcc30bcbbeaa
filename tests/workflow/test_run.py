"""workflow.run: `toolkit run` end to end on real reviews (train, export, verify, summary)."""

import subprocess

import pytest

from tests.helpers import BIN, NEAR_CHANCE_INT8

pytestmark = pytest.mark.slow  # a model trained on real reviews, exported


def test_toolkit_run_end_to_end(real_tarball, tmp_path):
    proc = subprocess.run(
        [
            str(BIN / "toolkit"),
            "run",
            "--data",
            str(real_tarball),
            "--limit",
            "400",
            "--maxlen",
            "60",
            "--epochs",
            "1",
            "--exports-dir",
            str(tmp_path),
            "--run-name",
            "e2e",
            "--cache-dir",
            str(tmp_path / "cache"),
            *NEAR_CHANCE_INT8,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines()[0].startswith(f"{tmp_path / 'e2e'}\ttest accuracy ")  # as 'toolkit train' prints
    assert "parity fp32" in proc.stdout and "400/400 labels equal" in proc.stdout and "PASS" in proc.stdout
    assert (tmp_path / "e2e" / "onnx" / "parity.json").is_file()
    assert (tmp_path / "e2e" / "onnx" / "model.int8.onnx").is_file()
