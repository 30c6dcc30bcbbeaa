import json
import tarfile

import pytest

from tests.helpers import error_line, run_cli
from toolkit.cli.main import build_parser


def test_version_and_help_on_every_command():
    proc = run_cli("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("toolkit ")
    top = run_cli("--help")
    assert top.returncode == 0 and "train" in top.stdout and "evaluate" in top.stdout
    train_help = run_cli("train", "--help").stdout
    for flag in ("--data", "--epochs", "--batch-size", "--limit", "--maxlen", "--num-words", "--run-name", "--seed"):
        assert flag in train_help
    assert "default 64" in train_help and "default 3" in train_help
    assert "RUN" in run_cli("evaluate", "--help").stdout


def test_every_flag_is_explained():
    import argparse

    def walk(parser):
        for action in parser._actions:
            assert action.help, f"{parser.prog} {action.option_strings or action.dest} has no help"
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    walk(sub)

    walk(build_parser())
    assert "--batch-sizes" in run_cli("bench", "infer", "--help").stdout


@pytest.mark.parametrize(
    "args, expected",
    [
        (["train", "--epochs", "0"], "--epochs: must be at least 1, got 0"),
        (["train", "--batch-size", "-1"], "--batch-size: must be at least 1, got -1"),
        (["train", "--epochs", "three"], "expected a whole number"),
        (["train", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
        (["fly"], "invalid choice: 'fly'"),
        (["bench", "train", "--workers", "-1"], "values must be at least 0"),
        (["bench", "train", "--setups", "quick"], "expected some of faithful, fast"),
        (["bench", "infer", "x", "--batch-sizes", "0"], "values must be at least 1"),
        ([], "required: COMMAND"),
        (["train", "two\nlines"], "unrecognized arguments: two\\nlines"),  # escaped: still one line
        (["predict", "x", "--variant", "a\x1b[31m"], "invalid choice"),
    ],
)
def test_usage_errors_are_one_line(args, expected):
    proc = run_cli(*args)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "\x1b" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("toolkit: error: "), proc.stderr  # as the README says, not 'toolkit train:'
    assert expected in proc.stderr


def test_faithful_is_one_flag_for_the_tutorials_model_and_input():
    from toolkit.cli.commands import job_from_args
    from toolkit.cli.main import build_parser

    job = job_from_args(build_parser().parse_args(["train"]))
    model, train = job.model, job.train
    assert model.mask_padding and train.length_buckets
    job = job_from_args(build_parser().parse_args(["train", "--faithful"]))
    model, train = job.model, job.train
    assert not model.mask_padding and not train.length_buckets and model.maxlen == 500


def test_data_errors_are_one_line_and_write_nothing(tmp_path, corpus_dir, corpus_tarball):
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a tarball")
    no_train = tmp_path / "no_train.tar.gz"
    with tarfile.open(no_train, "w:gz") as tar:
        tar.add(corpus_dir / "test", arcname="aclImdb/test")
    cases = [
        (["--data", str(tmp_path / "missing.tar.gz")], "does not exist"),
        (["--data", str(junk)], "not a readable tar archive"),
        (["--data", str(no_train)], "no reviews in aclImdb/train/neg"),
        (["--data", str(corpus_tarball), "--limit", "100000"], "larger than the data"),
    ]
    exports = tmp_path / "exports"
    for extra, expected in cases:
        proc = run_cli("train", "--exports-dir", str(exports), "--run-name", "r", *extra)
        assert expected in error_line(proc)
    assert not exports.exists() or list(exports.iterdir()) == []


def test_evaluate_errors(tmp_path):
    assert "does not exist" in error_line(run_cli("evaluate", str(tmp_path / "nope")))
    (tmp_path / "half").mkdir()
    assert "no trained model" in error_line(run_cli("evaluate", str(tmp_path / "half")))


def test_a_path_with_a_newline_or_an_escape_code_is_shown_escaped_in_one_line(tmp_path):
    proc = run_cli("evaluate", str(tmp_path / "two\nlines\x1b[31m\u2028"))
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1, proc.stderr  # one line, its newline the last character
    assert proc.stderr == f"toolkit: error: run folder {tmp_path}/two\\nlines\\x1b[31m\\u2028 does not exist: " + (
        "pass a folder written by 'toolkit train'\n"
    )


def test_a_run_folders_json_nested_100000_deep_is_a_one_line_error(tmp_path):
    """config.json, metrics.json and vocab.json are read before TensorFlow loads: each was a RecursionError."""
    from toolkit.edge.text import Vocabulary

    deep = "[" * 100_000 + "]" * 100_000
    vocabulary = json.loads(Vocabulary(("great", "awful"), 10, 20).to_json())
    deep_field = json.dumps({**vocabulary, "extra": json.loads("[" * 900 + "]" * 900)})  # parses, no checksum
    for name, content, expected in (
        ("config.json", deep, "config.json is nested too deeply"),
        ("metrics.json", deep, "metrics.json is nested too deeply"),
        ("config.json", json.dumps({"model": json.loads("[" * 900 + "]" * 900)}), "config.json is nested too deeply"),
        ("vocab.json", deep, "vocab.json: not a toolkit vocabulary file (its JSON is nested too deeply)"),
        ("vocab.json", deep_field, "vocab.json: not a toolkit vocabulary file (its JSON is nested too deeply)"),
    ):
        run = tmp_path / name.replace(".", "-") / str(len(content))
        run.mkdir(parents=True)
        for other in ("config.json", "metrics.json"):
            (run / other).write_text("{}")
        (run / "model.keras").write_bytes(b"not read")
        (run / name).write_text(content)
        assert expected in error_line(run_cli("evaluate", str(run)))


@pytest.mark.slow
def test_train_then_evaluate_end_to_end(tmp_path, corpus_tarball):
    """The real CLI path on the tiny corpus: a run folder, its summary line, re-evaluation, no clobbering."""
    args = [
        "train",
        "--data",
        str(corpus_tarball),
        "--epochs",
        "1",
        "--maxlen",
        "20",
        "--num-words",
        "40",
        "--exports-dir",
        str(tmp_path),
        "--run-name",
        "cli",
    ]
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr
    assert "epoch 1/1: loss" in proc.stderr and "test: loss" in proc.stderr
    assert proc.stdout.startswith(str(tmp_path / "cli")) and "test accuracy" in proc.stdout
    ev = run_cli("evaluate", str(tmp_path / "cli"), "--json")
    assert ev.returncode == 0, ev.stderr
    assert '"reviews": 40' in ev.stdout
    assert "already exists" in error_line(run_cli(*args))


def test_every_flag_reaches_its_config_field():
    from toolkit.cli.bench import config_from_args
    from toolkit.cli.commands import job_from_args
    from toolkit.cli.main import build_parser
    from toolkit.config import ExportConfig, InferBenchConfig, ScalingBenchConfig, TrainBenchConfig

    parse = build_parser().parse_args
    job = job_from_args(
        parse(
            ["train", "--data", "d.tar.gz", "--source", "keras", "--limit", "10", "--maxlen", "30", "--num-words"]
            + ["40", "--cache-dir", "c", "--no-download", "--epochs", "5", "--batch-size", "32", "--learning-rate"]
            + ["0.01", "--clipnorm", "0", "--seed", "3", "--run-name", "n", "--exports-dir", "e", "--overwrite"]
            + ["--workers", "2", "--gpus-per-worker", "0.5", "--cpus-per-worker", "3", "--collective", "ring"]
            + ["--address", "auto", "--storage", "s", "--max-failures", "1"]
        )
    )
    d, t, c = job.data, job.train, job.cluster
    assert (d.path, d.source, d.limit, d.maxlen, d.num_words, d.cache_dir, d.download, d.seed) == (
        "d.tar.gz",
        "keras",
        10,
        30,
        40,
        "c",
        False,
        3,
    )
    assert (t.epochs, t.batch_size, t.learning_rate, t.clipnorm, t.seed, t.run_name, t.exports_dir, t.overwrite) == (
        5,
        32,
        0.01,
        0.0,
        3,
        "n",
        "e",
        True,
    )
    assert (c.workers, c.gpus_per_worker, c.cpus_per_worker, c.collective, c.address, c.storage, c.max_failures) == (
        2,
        0.5,
        3,
        "ring",
        "auto",
        "s",
        1,
    )
    args = parse(["export", "RUN", "--out", "o", "--opset", "15", "--quantize", "int8", "--overwrite"])
    assert config_from_args(ExportConfig, args, quantize=tuple(args.quantize)) == ExportConfig("o", 15, ("int8",), True)
    args = parse(
        ["bench", "infer", "E", "--batch-sizes", "1,8", "--reviews", "16", "--repeats", "2"]
        + ["--max-batches", "5", "--threads", "0,1", "--litert", "--out", "f.json"]
    )
    assert config_from_args(InferBenchConfig, args) == InferBenchConfig((1, 8), 16, 2, 5, (0, 1), True, "f.json")
    args = parse(
        ["bench", "train", "--steps", "4", "--repeats", "2", "--workers", "0,1", "--setups", "fast"]
        + ["--batch-size", "8", "--gpus-per-worker", "0.5", "--out", "t.json"]
    )
    assert config_from_args(TrainBenchConfig, args) == TrainBenchConfig(4, 2, (0, 1), ("fast",), 8, 0.5, "t.json")
    args = parse(
        ["bench", "scaling", "--step-ms", "8", "--steps", "3", "--repeats", "2", "--per-gpu-batch", "32"]
        + ["--gpus", "1,8", "--gbps", "10", "--out", "s.json"]
    )
    assert config_from_args(ScalingBenchConfig, args) == ScalingBenchConfig(8.0, 3, 2, 32, (1, 8), (10.0,), "s.json")
    assert InferBenchConfig().out is None and parse(["bench", "infer", "E"]).out == InferBenchConfig.DEFAULT_OUT
