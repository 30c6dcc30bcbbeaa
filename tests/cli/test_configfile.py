"""--config FILE: a TOML file's settings checked against the parser's own flags (unknown tables and
keys, wrong types and values are one-line errors naming the key and the file), the command line over
the file, and a job's resolved config.toml read back into the same job."""

from dataclasses import replace

import pytest

from tests.helpers import error_line, run_cli
from toolkit.cli.commands import job_from_args
from toolkit.cli.main import build_parser
from toolkit.config import JobConfig
from toolkit.config.settings import job_settings, run_config_toml


def _job(argv, tmp_path=None):
    parser = build_parser()
    args, _ = parser.parse_known_args(argv)
    if args.config:
        from toolkit.cli.configfile import apply_config

        apply_config(parser.commands[args.command], args.config)
        args, _ = parser.parse_known_args(argv)
    return args, job_from_args(args)


@pytest.mark.parametrize("command", ["train", "run", "tune"])
def test_every_flag_of_a_job_command_is_a_key_of_one_table(command):
    """Every flag but --help and --config sits in a table, so a file can set it; keys are unique per table."""
    parser = build_parser().commands[command]
    sections = parser.sections
    in_tables = {a.dest for s in sections.values() for a in s.actions}
    flags = {a.dest for a in parser._actions if a.option_strings and a.dest not in ("help", "config")}
    assert flags == in_tables
    for section in sections.values():
        keys = [section.key(a) for a in section.actions]
        assert len(keys) == len(set(keys))
    assert {"data", "train", "cluster"} <= set(sections)
    assert sections["train"].key(next(a for a in sections["train"].actions if a.dest == "batch_size")) == "batch_size"


def test_the_resolved_settings_use_only_keys_the_parser_knows():
    sections = build_parser().commands["train"].sections
    settings = job_settings(JobConfig(), "/data/x.csv")
    for table, values in settings.items():
        keys = {sections[table].key(a) for a in sections[table].actions}
        assert set(values) <= keys, set(values) - keys


def test_a_file_sets_the_flags_and_the_command_line_wins(tmp_path):
    f = tmp_path / "run.toml"
    f.write_text(
        "[data]\nlimit = 300\nlabels = ['neg', 'pos']\nvalidation_fraction = 0.2\n"
        "[train]\nepochs = 2\nbatch_size = 512\nlearning_rate = 3e-3\nwarmup_epochs = 0.5\ndropout = 0.3\n"
        "faithful = true\n[cluster]\nworkers = 2\ngpus_per_worker = 0.5\n"
    )
    args, job = _job(["train", "--config", str(f), "--batch-size", "256", "--exports-dir", str(tmp_path)])
    assert job.train.batch_size == 256  # the command line over the file
    assert (job.train.epochs, job.train.learning_rate, job.train.warmup_epochs) == (2, 3e-3, 0.5)
    assert job.model.dropout == 0.3 and not job.model.mask_padding and not job.train.length_buckets
    assert job.data.limit == 300 and job.data.labels == ("neg", "pos") and job.data.validation_fraction == 0.2
    assert job.cluster.workers == 2 and job.cluster.gpus_per_worker == 0.5
    assert job.train.exports_dir == str(tmp_path)


def test_a_resolved_config_toml_reads_back_into_the_same_job(tmp_path):
    argv = ["train", "--data", str(tmp_path / "reviews.csv"), "--limit", "40", "--epochs", "2"]
    argv += ["--batch-size", "128", "--learning-rate", "0.002", "--clipnorm", "0", "--warmup-epochs", "1"]
    argv += ["--dropout", "0.25", "--seed", "3", "--steps-per-epoch", "5", "--run-name", "a"]
    argv += ["--exports-dir", str(tmp_path / "exports"), "--text-column", "body", "--labels", "bad,good"]
    argv += ["--test-fraction", "0.3", "--validation-fraction", "0.1", "--strict", "--maxlen", "90"]
    argv += ["--num-words", "700", "--no-download", "--workers", "2", "--cpus-per-worker", "1"]
    argv += ["--collective", "ring", "--max-failures", "1", "--storage", str(tmp_path / "ray")]
    _, job = _job(argv)
    f = tmp_path / "config.toml"
    f.write_text(run_config_toml(replace(job, train=replace(job.train, run_name="a")), f))
    assert "toolkit train --config" in f.read_text().splitlines()[1]
    _, again = _job(["train", "--config", str(f)])
    assert again == job
    _, renamed = _job(["train", "--config", str(f), "--run-name", "b"])
    assert renamed == replace(job, train=replace(job.train, run_name="b"))


BAD = [
    ("[train]\nbatchsize = 3\n", "unknown key 'batchsize' in [train]: its keys are batch_size,"),
    ("[train]\nepochs = '3'\n", "[train] epochs must be a whole number, got '3'"),
    ("[train]\nepochs = 2.5\n", "[train] epochs must be a whole number, got 2.5"),
    ("[train]\nepochs = 0\n", "[train] epochs: must be at least 1, got 0"),
    ("[train]\nlearning_rate = true\n", "[train] learning_rate must be a number, got True"),
    ("[train]\nfaithful = 1\n", "[train] faithful must be true or false, got 1"),
    ("[train]\nrun_name = 7\n", "[train] run_name must be text (in quotes), got 7"),
    ("[cluster]\ncollective = 'x'\n", "[cluster] collective must be one of auto, nccl, ring, got 'x'"),
    ("[cluster]\nworkers = [1, 2]\n", "[cluster] workers must be a whole number, got [1, 2]"),
    ('[data]\ndata = ["a", "b"]\n', "[data] data must be text (in quotes), got ['a', 'b']"),
    ("epochs = 3\n", "the key 'epochs' belongs in the [train] table"),
    ("[trian]\nepochs = 3\n", "unknown table [trian]: this command takes [data], [train], [cluster]"),
    ("[train\n", "is not valid TOML: "),
    ("[tune]\ntrials = 3\n", "unknown table [tune]"),
]


@pytest.mark.parametrize("text,message", BAD)
def test_a_bad_file_is_a_one_line_error_naming_the_file_and_the_key(tmp_path, text, message):
    f = tmp_path / "run.toml"
    f.write_text(text)
    line = error_line(run_cli("train", "--config", str(f), "--exports-dir", str(tmp_path / "e")))
    assert line.startswith(f"toolkit: error: {f}") and message in line, line
    assert not (tmp_path / "e").exists()


def test_a_missing_or_unreadable_file_is_a_one_line_error(tmp_path):
    assert "does not exist" in error_line(run_cli("train", "--config", str(tmp_path / "nope.toml")))
    assert "is a folder" in error_line(run_cli("train", "--config", str(tmp_path)))
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe[train]")
    assert "is not UTF-8 text" in error_line(run_cli("train", "--config", str(tmp_path / "bin.toml")))


def test_tune_reads_its_search_from_a_tune_table(tmp_path):
    f = tmp_path / "sweep.toml"
    f.write_text(
        "[train]\nbatch_size = 512\n[tune]\nlearning_rate = '1e-3..1e-2'\nbatch_size = [256, 512]\n"
        "warmup_epochs = 0.5\ntrials = 5\nmax_concurrent = 2\nname = 'mine'\n"
    )
    parser = build_parser()
    from toolkit.cli.configfile import apply_config

    apply_config(parser.commands["tune"], str(f))
    args = parser.parse_args(["tune", "--config", str(f), "--trials", "6"])
    assert (args.trials, args.max_concurrent, args.name) == (6, 2, "mine")
    assert (args.space_learning_rate.low, args.space_learning_rate.high) == (1e-3, 1e-2)
    assert args.space_batch_size.choices == (256, 512) and args.space_warmup_epochs.choices == (0.5,)
    f.write_text("[tune]\nbatch_size = '64..512'\n")
    line = error_line(run_cli("tune", "--config", str(f)))
    assert "[tune] batch_size: give choices (such as 64,256,512), not a range" in line
