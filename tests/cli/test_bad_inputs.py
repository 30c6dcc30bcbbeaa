"""Bad input across every command: each case gets a clear one-line error and the right exit status, and
every file that existed before is byte-identical after (nothing lost, nothing half-written). Most cases
run the real CLI in this process (``toolkit.cli.main``: TensorFlow loads once); the ones about signals,
hangs and the umask run it in a subprocess.

Also: the NaN, swapped-int8, provenance and code-execution cases of the parity gate, and the embedded Ray
staying local."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tests.helpers import BIN
from toolkit.cli.main import main
from toolkit.edge.contract import KERAS_FILE

pytestmark = pytest.mark.slow  # every case runs against a trained run and its export
TINY = ["--maxlen", "20", "--num-words", "40", "--epochs", "1", "--batch-size", "8"]
DEAD_PID = 2**22 + 7  # above Linux's largest pid_max: never a live process


def run_cli(capsys, *args) -> tuple[int, str]:
    """``(exit status, stderr)`` of ``toolkit ARGS`` run in this process; stdout in ``run_cli.out``."""
    capsys.readouterr()
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # argparse: usage errors
        code = exc.code
    captured = capsys.readouterr()
    run_cli.out = captured.out
    return code, captured.err


def snapshot(root: Path) -> dict:
    """Every file under ``root`` with its bytes, every folder and link by kind."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_symlink():
            out[str(p)] = ("link", os.readlink(p))
        elif p.is_file():
            out[str(p)] = p.read_bytes()
        elif p.is_dir():
            out[str(p)] = "dir"
        else:
            out[str(p)] = "special"
    return out


def assert_one_line_error(code: int, err: str, expected_code: int, fragment: str) -> None:
    assert "Traceback" not in err, err[-3000:]
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1, err[-3000:]
    assert code == expected_code, (code, err[-2000:])
    assert fragment in errors[0], errors[0]
    assert errors[0] == err.strip().splitlines()[-1]  # the error is the last word


@pytest.fixture(scope="module")
def world(tmp_path_factory, corpus_tarball):
    """Two tiny trained runs with int8 exports, a NaN run and export, and the bad files the cases use."""
    from toolkit.artifacts.runs import read_run, write_run
    from toolkit.export.convert import export_run
    from toolkit.model.lstm import build_model, compile_model, load_run_model

    root = tmp_path_factory.mktemp("bad")
    exports = root / "exports"
    cache = root / "cache"
    common = ["--data", corpus_tarball, *TINY, "--exports-dir", exports, "--cache-dir", cache]
    for name, seed in (("r", "7"), ("other", "8")):
        assert main([str(a) for a in ["train", *common, "--run-name", name, "--seed", seed]]) == 0
        assert main(["export", str(exports / name), "--quantize", "int8"]) == 0

    w = SimpleNamespace(
        root=root,
        exports=exports,
        cache=cache,
        data=corpus_tarball,
        run=exports / "r",
        export=exports / "r" / "onnx",
        other=exports / "other",
    )
    # a run whose weights are NaN, and its export
    source = read_run(w.run)
    model = compile_model(build_model(source.model_config))
    model.set_weights([np.full_like(v, np.nan) for v in load_run_model(source).get_weights()])
    w.nan_run = write_run(root / "nan-run", lambda p: model.save(p), source.vocabulary, source.config, source.metrics)
    w.nan_export = export_run(w.nan_run).path

    bad = root / "bad"
    bad.mkdir()
    w.file = bad / "a-file.txt"
    w.file.write_text("not a folder\n")
    w.fifo = bad / "fifo"
    os.mkfifo(w.fifo)
    w.notarun = exports / "notarun"
    w.notarun.mkdir()
    (w.notarun / "precious.txt").write_text("user data\n")
    w.nonutf8 = bad / "reviews.txt"
    w.nonutf8.write_bytes(b"caf\xe9 great\n")
    w.marker = root / "CODE-RAN"
    # model.keras that is really an HDF5 file with a Lambda layer whose code writes the marker
    w.hdf5_run = root / "hdf5-run"
    shutil.copytree(w.run, w.hdf5_run, ignore=shutil.ignore_patterns("onnx"))
    code = textwrap.dedent(f"""
        from toolkit._tf import keras
        import tf_keras
        inp = keras.Input(shape=(20,), dtype="int32")
        out = keras.layers.Lambda(lambda t: (open({str(w.marker)!r}, "w").write("ran"), t)[1])(inp)
        keras.Model(inp, out).save({str(root / "evil.h5")!r})
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    w.marker.unlink(missing_ok=True)  # building the model ran the lambda once: only a later run counts
    # the file is dangerous: Keras' own loader runs the lambda's code (so the cases below mean something)
    load = f"from toolkit._tf import keras; keras.models.load_model({str(root / 'evil.h5')!r}, safe_mode=True)"
    subprocess.run([sys.executable, "-c", load], capture_output=True, timeout=300)
    assert w.marker.exists()
    w.marker.unlink()
    shutil.copyfile(root / "evil.h5", w.hdf5_run / "model.keras")
    # a run whose model.keras is cut short, one whose config says maxlen "20"
    w.truncated_run = root / "truncated-run"
    shutil.copytree(w.run, w.truncated_run, ignore=shutil.ignore_patterns("onnx"))
    blob = (w.run / "model.keras").read_bytes()
    (w.truncated_run / "model.keras").write_bytes(blob[: len(blob) // 2])
    w.string_run = root / "string-run"
    shutil.copytree(w.run, w.string_run, ignore=shutil.ignore_patterns("onnx"))
    config = json.loads((w.string_run / "config.json").read_text())
    config["model"]["maxlen"] = "20"
    (w.string_run / "config.json").write_text(json.dumps(config))
    # exports with a swapped int8 file, an edited provenance path
    w.swapped = root / "swapped"
    shutil.copytree(w.export, w.swapped)
    shutil.copyfile(w.other / "onnx" / "model.int8.onnx", w.swapped / "model.int8.onnx")
    w.edited = root / "edited"
    shutil.copytree(w.export, w.edited)
    import onnx

    from toolkit.core.files import sha256_file
    from toolkit.edge.contract import METADATA_DIGEST, metadata_digest

    def edit(path: Path, props: dict, seal: bool = True) -> None:
        """Set ``props`` (None: remove) in an ONNX file's metadata; ``seal``: rewrite its digest too
        (an edit on purpose, by someone who knows how; else the digest is left as it was)."""
        proto = onnx.load(str(path))
        for prop in [p for p in proto.metadata_props if p.key in props or (seal and p.key == METADATA_DIGEST)]:
            proto.metadata_props.remove(prop)
        for key, value in props.items():
            if value is not None:
                proto.metadata_props.add(key=key, value=value)
        if seal:
            digest = metadata_digest({p.key: p.value for p in proto.metadata_props})
            proto.metadata_props.add(key=METADATA_DIGEST, value=digest)
        onnx.save(proto, str(path))

    edit(w.edited / "model.onnx", {"provenance.run_dir": str(w.other.resolve())})  # only its keras sha256 tells
    for name in ("model.int8.onnx", "model.text.onnx", "model.text.int8.onnx"):  # they record the old sha256
        (w.edited / name).unlink(missing_ok=True)
    # data folders with a directory, a broken link and a link leaving the folder named like reviews,
    # and a tarball with a 2 MB review
    w.bad_data = {}
    for kind in ("dir", "broken", "outside"):
        folder = root / f"data-{kind}" / "aclImdb"
        with tarfile.open(corpus_tarball) as tar:
            tar.extractall(root / f"data-{kind}", filter="data")
        target = folder / "train" / "pos" / "999_9.txt"
        if kind == "dir":
            target.mkdir()
        elif kind == "broken":
            target.symlink_to(root / "missing.txt")
        else:
            secret = root / "secret.txt"
            secret.write_text("secretword " * 20)
            os.chmod(secret, 0o600)
            target.symlink_to(secret)
        w.bad_data[kind] = folder
    big = root / "big.tar.gz"
    with tarfile.open(corpus_tarball) as src, tarfile.open(big, "w:gz") as dst:
        for member in src:
            dst.addfile(member, src.extractfile(member) if member.isfile() else None)
        payload = root / "2mb.txt"
        payload.write_bytes(b"word " * 400_000)
        dst.add(payload, arcname="aclImdb/train/pos/998_9.txt")
    w.big = big
    # review files and run folders that nest, leave out or empty what the readers expect (issue 16)
    w.deep_jsonl = bad / "deep.jsonl"
    w.deep_jsonl.write_text("[" * 100_000 + "]" * 100_000 + "\n")
    w.empty_jsonl = bad / "empty.jsonl"
    w.empty_jsonl.write_text('"fine"\n{"text": "  "}\n"after"\n')
    w.no_text_csv = bad / "no-text.csv"
    w.no_text_csv.write_text("id,body\n1,great film\n")
    w.empty_cell_csv = bad / "empty-cell.csv"
    w.empty_cell_csv.write_text("id,text\n1,great film\n2,\n3,awful\n")
    w.short_row_csv = bad / "short-row.csv"
    w.short_row_csv.write_text("id,text\n1,great film\n2\n")
    w.wide_row_csv = bad / "wide-row.csv"
    w.wide_row_csv.write_text("id,text\n1,Great, really great\n")
    w.bigint_jsonl = bad / "bigint.jsonl"
    w.bigint_jsonl.write_text('{"text": "fine"}\n{"text": "ok", "n": ' + "9" * 5000 + "}\n")
    w.nan_jsonl = bad / "nan.jsonl"
    w.nan_jsonl.write_text('{"text": "ok", "score": NaN}\n')
    for name, file in (("deep-config", "config.json"), ("deep-metrics", "metrics.json"), ("deep-vocab", "vocab.json")):
        shutil.copytree(w.run, exports / name, ignore=shutil.ignore_patterns("onnx"))
        (exports / name / file).write_text("[" * 100_000 + "]" * 100_000)
    w.deep_config_run, w.deep_metrics_run, w.deep_vocab_run = (
        exports / n for n in ("deep-config", "deep-metrics", "deep-vocab")
    )
    # a folder and a file whose names hold a newline: every error about them stays one line
    w.nl_dir = bad / "new\nline"
    w.nl_dir.mkdir()
    (w.nl_dir / "mine.txt").write_text("user data\n")
    w.nl_file = bad / "re\nviews.txt"
    # exports whose metadata was edited (issue 16, item 4): the text model's labels and model.onnx's
    # threshold with the digest left as it was; an export from before the digest; and every model
    # relabeled [positive, negative] with digests and source checksums made to match (only the run
    # folder can contradict that one)
    for name in ("meta_text", "meta_fp32", "meta_old", "relabeled"):
        setattr(w, name, root / name.replace("_", "-"))
        shutil.copytree(w.export, getattr(w, name))
    edit(w.meta_text / "model.text.onnx", {"labels": '["positive", "negative"]'}, seal=False)
    edit(w.meta_fp32 / "model.onnx", {"decision_threshold": "abc"}, seal=False)
    edit(w.meta_old / "model.onnx", {METADATA_DIGEST: None, "toolkit.format_version": "1"}, seal=False)
    chain = [("model", None), ("model.int8", "model"), ("model.text", "model"), ("model.text.int8", "model.int8")]
    for variant, source in chain:
        recorded = {"variant.source_sha256": sha256_file(w.relabeled / f"{source}.onnx")} if source else {}
        edit(w.relabeled / f"{variant}.onnx", {"labels": '["positive", "negative"]', **recorded})
    return w


# (arguments, exit status, a fragment of the error line); {name} is a path from the world fixture
CASES = [
    # issue 16, item 3: a benchmark's --out replaces only its own figures, and only with --overwrite
    ("bench infer {export} --out {file}", 1, "already exists: pass --overwrite"),
    ("bench infer {export} --out {file} --overwrite", 1, "is not a writable file written by toolkit"),
    ("bench train --out {file}", 1, "already exists: pass --overwrite"),
    ("bench scaling --step-ms 5 --out {file} --overwrite", 1, "is not a writable file written by toolkit"),
    # bad flags: exit 2, before anything loads
    ("train --learning-rate inf", 2, "finite number > 0"),
    ("train --learning-rate nan", 2, "finite number > 0"),
    ("train --learning-rate 0", 2, "finite number > 0"),
    ("train --learning-rate -0.1", 2, "finite number > 0"),
    ("train --clipnorm inf", 2, "finite number >= 0"),
    ("train --seed -1", 2, "at least 0"),
    ("train --maxlen 1e11", 2, "expected a whole number"),
    ("train --maxlen 100000000000", 2, "at most 10,000"),
    ("train --num-words 10000000000", 2, "at most 1,000,000"),
    ("train --epochs 0", 2, "at least 1"),
    ("train --batch-size -1", 2, "at least 1"),
    ("train --gpus-per-worker 1.5 --workers 2", 2, "fraction below 1"),
    ("train --gpus-per-worker nan --workers 2", 2, "fraction below 1"),
    ("run --atol -1", 2, "finite number >= 0"),
    ("run --rtol nan", 2, "finite number >= 0"),
    ("run --max-accuracy-drop 150", 2, "<= 100"),
    ("export {run} --opset 99", 2, "at most 18"),
    ("export {run} --opset 12", 2, "at least 13"),
    ("predict {export} --threads 99999999999 great", 2, "at most 1,024"),
    ("verify {export} --min-label-agreement 101", 2, "<= 100"),
    ("verify {export} --split dev", 2, "invalid choice"),
    ("bench scaling --step-ms 0", 2, "positive"),
    ("bench train --workers -1", 2, "at least 0"),
    # checked before any training starts: exit 1
    ("train --data {data} --workers 2 --collective nccl", 1, "NCCL cannot run two replicas on one GPU"),
    ("train --data {data} --run-name ../x --exports-dir {exports}", 1, "plain folder name"),
    ("train --data {data} --run-name " + "a" * 300 + " --exports-dir {exports}", 1, "too long"),
    ("train --data {data} --exports-dir {file}", 1, "is not a folder"),
    ("train --data {data} --exports-dir /proc/toolkit-cannot-create", 1, "cannot write in /proc/toolkit-cannot-create"),
    (
        "train --data {data} --exports-dir {exports} --run-name notarun --overwrite",
        1,
        "not a run folder written by toolkit",
    ),
    ("train --data {data} --exports-dir {exports} --run-name r", 1, "already exists"),
    ("train --data /dev/zero --exports-dir {exports}", 1, "not a regular file or a folder"),
    ("train --data {fifo} --exports-dir {exports}", 1, "not a regular file or a folder"),
    ("train --data {bad_dir} --exports-dir {exports} --run-name x", 1, "is not a regular file"),
    ("train --data {bad_broken} --exports-dir {exports} --run-name x", 1, "broken link"),
    ("train --data {bad_outside} --exports-dir {exports} --run-name x", 1, "links outside the data folder"),
    ("train --data {big} --exports-dir {exports} --run-name x", 1, "more than a review can be"),
    ("train --data {data} --exports-dir {exports} --run-name x --limit 100000", 1, "larger than the data"),
    # export: never replaces what it did not make, never without --overwrite; loads weights, not code
    ("export {run} --out {exports}", 1, "already exists: pass --overwrite"),
    ("export {run} --out {exports} --overwrite", 1, "not an export folder written by toolkit"),
    ("export {run} --out {run} --overwrite", 1, "not an export folder written by toolkit"),
    ("export {run} --out {file}", 1, "already exists"),
    ("export {run}", 1, "already exists: pass --overwrite"),
    ("export {hdf5_run} --out {root}/hdf5-export", 1, "not a Keras v3 model file"),
    ("evaluate {hdf5_run}", 1, "not a Keras v3 model file"),
    ("evaluate {truncated_run}", 1, "not a Keras v3 model file"),
    ("evaluate {string_run}", 1, "ModelConfig.maxlen must be a whole number, got '20'"),
    # verify: checksums, not names
    ("verify {swapped}", 1, "was not made from"),
    ("verify {edited}", 1, "is not the model"),
    ("verify {export} --run {other}", 1, "is not the model"),
    ("verify {export} --run {hdf5_run}", 1, "is not the model"),
    # predict
    ("predict {export} --file {bad}", 1, "is a folder"),
    ("predict {export} --file {fifo}", 1, "not a regular file"),
    ("predict {export} --file /dev/zero", 1, "not a regular file"),
    ("predict {export} --file {nonutf8}", 1, "not UTF-8"),
    ("predict {export} '   '", 1, "review 1 is empty"),
    ("predict {nan_export} great", 1, "NaN or infinite"),
    ("predict {root}/no-such-export great", 1, "does not exist"),
    # issue 16, item 5: readers are bounded, and never drop or invent a review
    ("predict {export} --file {deep_jsonl}", 1, "deep.jsonl:1: JSON nested too deeply"),
    ("predict {export} --file {empty_jsonl}", 1, "empty.jsonl:2: the review is empty"),
    (
        "predict {export} --file {no_text_csv}",
        1,
        "no-text.csv:1: no 'text' or 'review' column in the header (its columns: 'id', 'body')",
    ),
    ("predict {export} --file {empty_cell_csv}", 1, "empty-cell.csv:3: the review is empty"),
    ("predict {export} --file {short_row_csv}", 1, "short-row.csv:3: the row has 1 cell(s), no 'text' cell"),
    ("predict {export} --file {wide_row_csv}", 1, "wide-row.csv:2: the row has 3 cells, the header 2"),
    ("predict {export} --file {bigint_jsonl}", 1, "bigint.jsonl:2: not JSON"),
    ("predict {export} --file {nan_jsonl}", 1, "nan.jsonl:1: not JSON (NaN is not a JSON value)"),
    ("evaluate {deep_config_run}", 1, "config.json is nested too deeply"),
    ("evaluate {deep_metrics_run}", 1, "metrics.json is nested too deeply"),
    ("evaluate {deep_vocab_run}", 1, "vocab.json: not a toolkit vocabulary file (its JSON is nested too deeply)"),
    (
        "train --data {data} --exports-dir {exports} --run-name deep-config --overwrite",
        1,
        "not a run folder written by toolkit",
    ),
    # issue 16, item 11: one line means one line
    ("train --run-name 'two\nlines' --data {data} --exports-dir {exports}", 1, "holds the control character '\\n'"),
    ("train --run-name '\x1b[31mred' --data {data} --exports-dir {exports}", 1, "holds the control character '\\x1b'"),
    ("export {run} --out {nl_dir}", 1, "bad/new\\nline already exists: pass --overwrite"),
    ("evaluate {nl_dir}", 1, "bad/new\\nline has no trained model"),
    ("predict {nl_dir} great", 1, "bad/new\\nline"),
    ("predict {export} --file {nl_file}", 1, "bad/re\\nviews.txt does not exist"),
    # issue 16: a subcommand's bad flag reads 'toolkit: error:' as the README says (was 'toolkit train: error:')
    ("run --epochs 0", 2, "toolkit: error: argument --epochs: must be at least 1"),
    ("bench infer {export} --batch-sizes 0", 2, "toolkit: error: argument --batch-sizes"),
    # issue 16, item 4: the metadata predict, verify and bench read is checked like the weights
    ("predict {meta_text} great", 1, "model.text.onnx: its metadata does not match its checksum"),
    ("predict {meta_fp32} --variant fp32 great", 1, "model.onnx: its metadata does not match its checksum"),
    ("predict {meta_old} great", 1, "model.onnx has no metadata checksum: it was exported by an older toolkit"),
    ("verify {meta_text}", 1, "model.text.onnx: its metadata does not match its checksum"),
    ("verify {meta_old}", 1, "exported by an older toolkit; export the run again"),
    ("verify {relabeled}", 1, "labels the classes ['positive', 'negative'] at threshold 0.5, but the run"),
    ("bench infer {meta_text}", 1, "model.text.onnx: its metadata does not match its checksum"),
    ("bench infer {relabeled}", 1, "labels the classes ['positive', 'negative']"),
    # issue 16, item 8: --storage is probed before Ray starts (a loopback port where nothing listens)
    ("train --data {data} --workers 1 --storage {file} --exports-dir {exports} --run-name x", 1, "is not a folder"),
    (
        "train --data {data} --workers 1 --storage s3://toolkit-test/ckpt?endpoint_override=127.0.0.1:1&scheme=http "
        "--exports-dir {exports} --run-name x",
        1,
        "cannot write checkpoints to --storage s3://toolkit-test/ckpt",
    ),
    (
        "train --data {data} --workers 1 --storage nosuchfs://b/c --exports-dir {exports} --run-name x",
        1,
        "Unrecognized",
    ),
]


@pytest.mark.parametrize("template, status, fragment", CASES, ids=[c[0][:60] for c in CASES])
def test_bad_input_is_a_one_line_error_and_loses_nothing(world, capsys, template, status, fragment):
    import shlex

    paths = {k: v for k, v in vars(world).items() if isinstance(v, Path)}
    paths.update({f"bad_{k}": v for k, v in world.bad_data.items()}, bad=world.root / "bad")
    args = [a.format(**paths) for a in shlex.split(template)]
    before = snapshot(world.root)
    code, err = run_cli(capsys, *args)
    assert_one_line_error(code, err, status, fragment)
    after = snapshot(world.root)
    changed = [p for p, v in before.items() if after.get(p) != v]
    assert changed == [], changed  # every file that existed is byte-identical
    new = [p for p in after if p not in before and "/cache/" not in p]
    assert new == [], new  # nothing written but the encoded-data cache
    assert not world.marker.exists()  # no code from a model file ran


def test_the_cases_cover_every_command():
    assert len(CASES) >= 40
    assert {c[0].split()[0] for c in CASES} >= {"train", "run", "export", "evaluate", "verify", "predict", "bench"}


def test_nan_models_fail_verify_and_training_stops_on_a_nan_loss(world, capsys, tmp_path):
    from toolkit.config import VerifyConfig
    from toolkit.verify.check import verify_export

    report = verify_export(world.nan_export, VerifyConfig(write_reports=False))
    fp32 = report["variants"]["fp32"]
    assert not report["passed"] and fp32["non_finite"] == fp32["reviews"] and "NaN or infinite" in fp32["failure"]
    code, err = run_cli(
        capsys,
        "train",
        "--data",
        world.data,
        *TINY,
        "--epochs",
        "2",
        "--learning-rate",
        "1e38",
        "--clipnorm",
        "0",
        "--exports-dir",
        tmp_path,
        "--run-name",
        "diverged",
        "--cache-dir",
        world.cache,
    )
    assert_one_line_error(code, err, 1, "training diverged: the loss is nan after epoch 1; nothing was saved")
    assert not (tmp_path / "diverged").exists() and not [p for p in tmp_path.iterdir() if ".staging-" in p.name]


def test_verify_passes_on_the_genuine_export_and_checks_the_int8_gate(world):
    from toolkit.config import Tolerances, VerifyConfig
    from toolkit.verify.check import verify_export

    report = verify_export(world.export, VerifyConfig(write_reports=False, run_dir=world.run))
    assert report["passed"], report
    int8 = report["variants"]["int8"]
    strict = verify_export(
        world.export,
        VerifyConfig(write_reports=False, tolerances=Tolerances(min_label_agreement=1.0, max_accuracy_drop=1.0)),
    )
    assert strict["variants"]["int8"]["passed"] == (int8["labels_equal"] == int8["reviews"])


def test_classifier_takes_one_string_or_any_iterable(world):
    from toolkit.edge.predict import Classifier

    clf = Classifier.load(world.export)
    one = clf.predict("great")
    assert len(one) == 1
    assert [p.probability for p in clf.predict(t for t in ["great", "awful"])] == [
        p.probability for p in clf.predict(["great", "awful"])
    ]
    assert one[0].probability == clf.predict(["great"])[0].probability


def test_review_files_split_only_at_newlines(world, tmp_path, capsys):
    from toolkit.edge.reviews import read_reviews_file

    txt = tmp_path / "reviews.txt"
    txt.write_text("great film\u2028really\nawful\x0cbad\r\n\nfine\n", encoding="utf-8")
    assert read_reviews_file(txt) == ["great film\u2028really", "awful\x0cbad", "fine"]
    jsonl = tmp_path / "reviews.jsonl"
    jsonl.write_text(
        json.dumps("line\u2028separated", ensure_ascii=False) + "\n" + json.dumps({"text": "ok"}) + "\n",
        encoding="utf-8",
    )
    assert read_reviews_file(jsonl) == ["line\u2028separated", "ok"]
    code, err = run_cli(capsys, "predict", world.export, "--file", jsonl, "--json")
    assert code == 0, err
    from toolkit.edge.predict import Classifier

    expected = Classifier.load(world.export).predict(["line\u2028separated", "ok"])  # the reviews as read
    printed = [(p["label"], p["probability"]) for p in json.loads(run_cli.out)]
    assert printed == [(p.label, round(p.probability, 6)) for p in expected]


def test_export_replaces_only_its_own_earlier_export_with_overwrite(world, capsys, tmp_path):
    out = tmp_path / "export"
    assert run_cli(capsys, "export", world.run, "--out", out)[0] == 0
    code, err = run_cli(capsys, "export", world.run, "--out", out)
    assert_one_line_error(code, err, 1, "already exists: pass --overwrite")
    assert run_cli(capsys, "export", world.run, "--out", out, "--overwrite")[0] == 0
    from toolkit.core.files import sha256_file
    from toolkit.edge.metadata import read_metadata

    assert read_metadata(out / "model.onnx")["provenance.keras_sha256"] == sha256_file(world.run / "model.keras")
    (out / "notes.txt").write_text("mine")  # now the folder holds something toolkit did not write
    code, err = run_cli(capsys, "export", world.run, "--out", out, "--overwrite")
    assert_one_line_error(code, err, 1, "not an export folder written by toolkit")
    assert (out / "notes.txt").read_text() == "mine"


def test_folders_only_named_like_staging_folders_are_never_swept(world, capsys, tmp_path):
    # named as the toolkit names its staging folders, with a dead pid, but no marker of a toolkit writer:
    # the user's (the sweep removed these before; tests/core/test_files.py shows what it does remove)
    kept = [tmp_path / f".old-export.staging-{DEAD_PID}-abc", tmp_path / f".old-export.old-{DEAD_PID}"]
    for folder in kept:
        folder.mkdir()
        (folder / "model.onnx").write_bytes(b"the user's")
    live = tmp_path / f".busy.staging-{os.getpid()}-abc"  # a live writer's: left alone
    live.mkdir()
    assert run_cli(capsys, "export", world.run, "--out", tmp_path / "fresh")[0] == 0
    assert all((folder / "model.onnx").read_bytes() == b"the user's" for folder in kept) and live.exists()


def test_sigterm_while_the_run_folder_is_written_leaves_no_staging_folder(world, tmp_path):
    argv = ["train", "--data", str(world.data), *TINY, "--exports-dir", str(tmp_path), "--run-name", "t"]
    argv += ["--cache-dir", str(world.cache)]
    script = textwrap.dedent(f"""
        import sys, time
        from toolkit._tf import keras
        save = keras.Model.save
        def slow(self, path, *a, **k):
            save(self, path, *a, **k)
            print("SAVING", flush=True)
            time.sleep(120)
        keras.Model.save = slow
        from toolkit.cli.main import main
        sys.exit(main({argv!r}))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.stdout.readline().strip() != "SAVING":
            pass
        assert [p for p in tmp_path.iterdir() if ".staging-" in p.name]  # mid-write
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143 and err.strip().splitlines()[-1] == "toolkit: terminated", err[-2000:]
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # no run folder, no staging folder


def test_an_interrupt_inside_an_import_is_an_interrupt(monkeypatch, capsys):
    import toolkit.cli.main as cli

    def interrupted_import(args):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        except KeyboardInterrupt:  # what onnxruntime's C extension turns it into
            raise ImportError("initialization failed") from None

    monkeypatch.setattr(cli, "cmd_predict", interrupted_import)
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    code, err = run_cli(capsys, "predict", "x", "y")
    assert code == 130 and err.strip() == "toolkit: interrupted"
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers  # restored


def test_artifacts_follow_the_umask(world, tmp_path):
    out = tmp_path / "private"
    proc = subprocess.run(
        [str(BIN / "toolkit"), "export", str(world.run), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=lambda: os.umask(0o077),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out.stat().st_mode & 0o777 == 0o700
    assert {p.name: p.stat().st_mode & 0o777 for p in out.iterdir()} == {p.name: 0o600 for p in out.iterdir()}
    shared = tmp_path / "shared"
    proc = subprocess.run(
        [str(BIN / "toolkit"), "export", str(world.run), "--out", str(shared)],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=lambda: os.umask(0o022),
    )
    assert proc.returncode == 0 and shared.stat().st_mode & 0o777 == 0o755
    assert all(p.stat().st_mode & 0o777 == 0o644 for p in shared.iterdir())


def test_a_failed_final_write_keeps_the_trained_model(world, capsys, tmp_path, monkeypatch):
    import errno

    def full_disk(path, save_model, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr("toolkit.training.finish.write_run", full_disk)
    code, err = run_cli(
        capsys,
        "train",
        "--data",
        world.data,
        *TINY,
        "--exports-dir",
        tmp_path,
        "--run-name",
        "full",
        "--cache-dir",
        world.cache,
    )
    assert_one_line_error(code, err, 1, "No space left on device (ENOSPC)")
    saved = Path(err.strip().splitlines()[-1].split("the trained model is saved in ")[1])
    assert saved.name == KERAS_FILE and saved.is_file()
    shutil.rmtree(saved.parent)


def test_a_path_with_a_newline_keeps_every_result_on_one_line(world, capsys, tmp_path):
    """Issue 16, item 11: train's and export's stdout result lines show such a path escaped (one line
    each, fields still split by tabs), predict reads a --file so named."""
    exports = tmp_path / "runs\nhere"
    args = ["train", "--data", world.data, *TINY, "--exports-dir", exports, "--run-name", "nl"]
    code, err = run_cli(capsys, *args, "--cache-dir", world.cache)
    assert code == 0, err[-2000:]
    shown = str(tmp_path) + "/runs\\nhere/nl"
    assert run_cli.out.splitlines() == [run_cli.out.rstrip("\n")]  # one line
    assert run_cli.out.split("\t")[0] == shown and "\ttest accuracy " in run_cli.out
    out = tmp_path / "ex\nport\x1b[0m"
    code, err = run_cli(capsys, "export", exports / "nl", "--out", out)
    assert code == 0, err[-2000:]
    lines = run_cli.out.splitlines()
    assert lines and all(line.startswith(str(tmp_path) + "/ex\\nport\\x1b[0m/") for line in lines), lines
    assert all(len(line.split("\t")) == 3 and line.endswith(" MB") for line in lines), lines
    reviews = tmp_path / "re\nviews.txt"
    reviews.write_text("great film\n\nawful\n")
    code, err = run_cli(capsys, "predict", out, "--file", reviews, "--json")
    assert code == 0, err[-2000:]
    assert len(json.loads(run_cli.out)) == 2


# --- issue 16: races, full disks, what a failed run leaves ---------------------------------------------
def _during_conversion(monkeypatch, action):
    """Run ``action()`` once, while the next export converts (after its target was checked)."""
    import toolkit.export.convert as export

    convert = export.convert
    pending = [action]

    def converting(*args, **kwargs):
        proto = convert(*args, **kwargs)
        while pending:
            pending.pop()()
        return proto

    monkeypatch.setattr(export, "convert", converting)


def test_a_folder_that_appears_at_out_during_an_export_is_not_replaced(world, capsys, tmp_path, monkeypatch):
    out = tmp_path / "out"
    _during_conversion(monkeypatch, lambda: (out.mkdir(), (out / "mine.txt").write_text("user data")))
    code, err = run_cli(capsys, "export", world.run, "--out", out)
    assert_one_line_error(code, err, 1, "appeared while it was being written")
    assert [p.name for p in out.iterdir()] == ["mine.txt"] and (out / "mine.txt").read_text() == "user data"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging folder left


def test_two_exports_to_one_out_the_loser_says_so(world, capsys, tmp_path, monkeypatch):
    from toolkit.config import ExportConfig
    from toolkit.edge.metadata import read_metadata
    from toolkit.export.convert import export_run

    out = tmp_path / "out"
    # the second export starts and finishes while the first converts
    _during_conversion(monkeypatch, lambda: export_run(world.other, ExportConfig(out=str(out))))
    code, err = run_cli(capsys, "export", world.run, "--out", out)
    assert_one_line_error(code, err, 1, "appeared while it was being written")
    assert read_metadata(out / "model.onnx")["provenance.run_name"] == "other"  # the winner's, whole
    # both with --overwrite over an existing export: the one that replaced it first wins, the other refuses
    _during_conversion(monkeypatch, lambda: export_run(world.run, ExportConfig(out=str(out), overwrite=True)))
    code, err = run_cli(capsys, "export", world.other, "--out", out, "--overwrite")
    assert_one_line_error(code, err, 1, "changed while it was being written")
    assert read_metadata(out / "model.onnx")["provenance.run_name"] == "r"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_verify_racing_an_export_overwrite_writes_no_mixed_reports(world, capsys, tmp_path, monkeypatch):
    import toolkit.verify.check as verify
    from toolkit.config import ExportConfig
    from toolkit.export.convert import export_run

    out = tmp_path / "out"
    assert run_cli(capsys, "export", world.run, "--out", out)[0] == 0
    compare = verify._compare_variants

    def racing(*args, **kwargs):
        export_run(world.other, ExportConfig(out=str(out), overwrite=True))  # run b lands mid-verify
        return compare(*args, **kwargs)

    monkeypatch.setattr(verify, "_compare_variants", racing)
    code, err = run_cli(capsys, "verify", out)
    assert_one_line_error(code, err, 1, "changed while it was verified")
    assert not any((out / name).exists() for name in ("parity.json", "parity.md", "parity.png"))


def test_bench_out_replaces_only_its_own_writable_figures(world, capsys, tmp_path):
    out = tmp_path / "figures.json"
    code, err = run_cli(capsys, "bench", "scaling", "--step-ms", "5", "--out", out)
    assert code == 0, err
    first = json.loads(out.read_text())
    assert "toolkit_version" in first
    code, err = run_cli(capsys, "bench", "scaling", "--step-ms", "5", "--out", out)
    assert_one_line_error(code, err, 1, "already exists: pass --overwrite")
    assert run_cli(capsys, "bench", "scaling", "--step-ms", "6", "--out", out, "--overwrite")[0] == 0
    assert json.loads(out.read_text()) != first
    os.chmod(out, 0o444)  # read-only: the user froze it
    before = out.read_bytes()
    code, err = run_cli(capsys, "bench", "scaling", "--step-ms", "5", "--out", out, "--overwrite")
    assert_one_line_error(code, err, 1, "is not a writable file written by toolkit")
    assert out.read_bytes() == before


def test_a_failed_run_leaves_no_empty_exports_folder(world, capsys, tmp_path):
    exports = tmp_path / "new" / "exports"
    code, err = run_cli(capsys, "train", "--data", tmp_path / "missing.tar.gz", "--exports-dir", exports)
    assert code == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
    code, err = run_cli(capsys, "export", world.truncated_run, "--out", tmp_path / "a" / "b" / "onnx")
    assert_one_line_error(code, err, 1, "not a Keras v3 model file")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def small_disk(tmp_path):
    """A folder on a tmpfs of a given size (a real full disk: mounting needs root, as CI has)."""
    mounts = []

    def make(size: str) -> Path:
        folder = tmp_path / f"disk-{len(mounts)}"
        folder.mkdir()
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
        if proc.returncode != 0:
            message = f"cannot mount a tmpfs here ({proc.stderr.decode().strip()})"
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(message + "; CI runs as root and must")
            pytest.skip(message)
        mounts.append(folder)
        return folder

    yield make
    for folder in mounts:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _fill(folder: Path, leave: int) -> None:
    """Fill ``folder``'s file system until only about ``leave`` bytes are free."""
    free = shutil.disk_usage(folder).free
    with open(folder / "filler", "wb") as f:
        f.write(b"\0" * max(0, free - leave))


def test_export_on_a_full_disk_is_one_line_naming_the_file(world, capsys, small_disk):
    for size in ("300k", "500k"):  # full in the quantiser's own temporary file / in a later write
        disk = small_disk(size)
        code, err = run_cli(capsys, "export", world.run, "--out", disk / "e", "--quantize", "int8")
        assert_one_line_error(code, err, 1, f"cannot write '{disk}/.e.staging-")
        assert "ENOSPC" in err or "disk full" in err
        assert list(disk.iterdir()) == []  # no export, no staging folder


def test_verify_on_a_full_disk_writes_no_report_and_names_the_file(world, capsys, small_disk, tmp_path):
    disk = small_disk("2m")
    out = disk / "e"
    shutil.copytree(world.export, out)
    for name in ("parity.json", "parity.md", "parity.png"):
        (out / name).unlink(missing_ok=True)
    card = (out / "README.md").read_bytes()
    _fill(disk, 24_000)  # room for the write probe and parity.json, not for parity.png
    before = snapshot(out)
    code, err = run_cli(capsys, "verify", out)
    assert_one_line_error(code, err, 1, f"cannot write '{out}/")
    assert "No space left on device (ENOSPC)" in err
    assert snapshot(out) == before and (out / "README.md").read_bytes() == card  # nothing half-written


def test_every_exported_model_is_sealed_and_a_relabeled_export_fails_only_verify(world, capsys):
    """Issue 16, item 4: each model of an export carries the digest of its metadata (format 2); an
    export relabeled on purpose, digests recomputed, is self-consistent (predict prints the swapped
    labels, as any reader of the files would) but verify refuses it against the run."""
    import onnx

    from toolkit.edge.contract import FORMAT_VERSION, METADATA_DIGEST, metadata_digest

    for path in sorted(world.export.glob("*.onnx")):
        props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
        assert props["toolkit.format_version"] == FORMAT_VERSION and props["labels"] == '["negative", "positive"]'
        assert props[METADATA_DIGEST] == metadata_digest(props), path
    printed = {}
    for export in (world.export, world.relabeled):
        code, err = run_cli(capsys, "predict", export, "--json", "a great film", "awful")
        assert code == 0, err
        printed[export] = [p["label"] for p in json.loads(run_cli.out)]
    swap = {"negative": "positive", "positive": "negative"}
    assert printed[world.relabeled] == [swap[label] for label in printed[world.export]]
    code, err = run_cli(capsys, "verify", world.relabeled)
    assert_one_line_error(code, err, 1, "labels the classes ['positive', 'negative'] at threshold 0.5, but the run")


def test_two_trainings_to_one_run_name_the_loser_keeps_its_model(world, capsys, tmp_path, monkeypatch):
    import toolkit.training.local as train
    from toolkit.config import DataConfig, JobConfig, TrainConfig

    args = ["--data", world.data, *TINY, "--exports-dir", tmp_path, "--cache-dir", world.cache, "--run-name", "r"]
    assert run_cli(capsys, "train", *args)[0] == 0
    finish = train.finish_run

    def racing(*a, **k):  # another training with --overwrite lands while this one evaluates
        monkeypatch.setattr(train, "finish_run", finish)
        data = DataConfig(path=str(world.data), num_words=40, maxlen=20, cache_dir=str(world.cache))
        other = TrainConfig(run_name="r", exports_dir=str(tmp_path), overwrite=True, epochs=1, batch_size=8, seed=9)
        train.train(JobConfig(data, train=other))
        return finish(*a, **k)

    monkeypatch.setattr(train, "finish_run", racing)
    code, err = run_cli(capsys, "train", *args, "--overwrite", "--seed", "8")
    assert_one_line_error(code, err, 1, "changed while it was being written")
    saved = Path(err.strip().splitlines()[-1].split("the trained model is saved in ")[1])
    assert saved.is_file()
    shutil.rmtree(saved.parent)
    assert json.loads((tmp_path / "r" / "config.json").read_text())["train"]["seed"] == 9  # the winner's
