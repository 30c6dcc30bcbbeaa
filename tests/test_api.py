"""The public API (toolkit/__init__.py): lazy, so the edge path runs with TensorFlow and Ray impossible
to import, and every name it lists resolves to the object its module defines."""

import json
import subprocess
import sys
import textwrap

from tests.helpers import TEXTS
from toolkit.edge.predict import Classifier

HEAVY = ("tensorflow", "tf_keras", "ray", "tf2onnx", "matplotlib")


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)


def test_import_toolkit_loads_neither_tensorflow_nor_ray():
    proc = _python(f"""
        import sys
        import toolkit
        print(sorted(m for m in {HEAVY!r} + ("onnxruntime", "numpy") if m in sys.modules))
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_the_edge_path_classifies_with_tensorflow_and_ray_blocked(export):
    """sys.modules[name] = None makes any import of it fail: Classifier and `toolkit predict` never try."""
    proc = _python(f"""
        import json, sys
        for name in {HEAVY!r}:
            sys.modules[name] = None
        from toolkit import Classifier
        from toolkit.cli.main import main
        predictions = Classifier.load({str(export)!r}).predict({TEXTS!r})
        print(json.dumps([[p.label, p.probability] for p in predictions]))
        sys.stdout.flush()
        status = main(["predict", {str(export)!r}, "--json", {TEXTS[0]!r}])
        sys.exit(status)
    """)
    assert proc.returncode == 0, proc.stderr
    first, cli = proc.stdout.splitlines()[0], "\n".join(proc.stdout.splitlines()[1:])
    here = Classifier.load(export).predict(TEXTS)
    assert json.loads(first) == [[p.label, p.probability] for p in here]
    assert [r["label"] for r in json.loads(cli)] == [here[0].label]


def test_every_public_name_resolves_to_its_modules_object():
    proc = _python("""
        import importlib, toolkit
        for name in toolkit.__all__:
            value = getattr(toolkit, name)
            if name != "__version__":
                assert value is getattr(importlib.import_module(toolkit._EXPORTS[name]), name), name
        assert set(toolkit.__all__) <= set(dir(toolkit))
        try:
            toolkit.no_such_name
        except AttributeError as exc:
            print(exc)
    """)
    assert proc.returncode == 0, proc.stderr
    assert "module 'toolkit' has no attribute 'no_such_name'" in proc.stdout


def test_the_data_names_before_user_data_are_aliases_of_the_new_ones():
    import toolkit

    assert {"load_data", "LabelledData", "load_imdb", "ImdbData"} <= set(toolkit.__all__)
    assert toolkit.load_imdb is toolkit.load_data and toolkit.ImdbData is toolkit.LabelledData
