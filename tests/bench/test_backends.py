"""bench.backends: a benchmark child that dies is an error at once, not a hang."""

import pytest


class _DiesOnArrival:
    """Unpickled in the benchmark's child process, it ends that process at once (exit code 3)."""

    def __reduce__(self):
        import os

        return (os._exit, (3,))


def _work(texts):
    import numpy as np

    from toolkit.bench.backends import Workload
    from toolkit.config import InferBenchConfig

    return Workload(np.ones((4, 3), np.int32), texts, True, InferBenchConfig(batch_sizes=(2,), reviews=4))


def test_a_benchmark_child_that_dies_is_an_error_at_once_not_a_hang(tmp_path):
    import time

    from toolkit.bench.backends import Backend, run_in_child
    from toolkit.core.errors import BenchError

    start = time.monotonic()
    with pytest.raises(BenchError, match=r"onnx: the benchmark process ended without figures \(exit code 3\)"):
        run_in_child(Backend("onnx", str(tmp_path / "model.onnx"), 0), _work([_DiesOnArrival()]))
    assert time.monotonic() - start < 60
    with pytest.raises(BenchError, match="onnx: ExportError: .* is not a loadable ONNX model"):
        run_in_child(Backend("onnx", str(tmp_path / "model.onnx"), 0), _work([]))  # the child's own error
