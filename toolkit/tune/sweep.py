"""``toolkit tune`` as a library function: a Ray Tune sweep over the training settings.

Before any trial: the spaces are checked against the job (``config.check_space``), the results
folder and Ray Tune's storage can be written, the reviews load and have a validation split. Then the
driver puts the encoded reviews in Ray's object store once and runs ``trials`` trials (``trial``: in
one process each, or as Ray Train runs with ``--workers``), at most ``max_concurrent`` at once, with
ASHA stopping the trials whose validation accuracy trails at each rung. The experiment lives under
``--storage``/<name>; running the same command again after the driver died restores it (finished
trials are kept, unfinished ones resume from their last epoch's checkpoint). The results folder
(``results``) is written last, atomically.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from toolkit.artifacts.destinations import check_destination
from toolkit.config import METRIC, JobConfig, Space, SweepConfig, check_space
from toolkit.config.sweep import default_sweep_name
from toolkit.core.errors import ConfigError, TuneError
from toolkit.core.progress import log
from toolkit.core.uris import is_remote
from toolkit.data.prepared import is_prepared
from toolkit.training.prepare import loaded
from toolkit.training.ray.checkpoints import check_storage, storage_path
from toolkit.tune.experiments import prepare_experiment, sweep_fingerprint
from toolkit.tune.results import Trial, write_results

DEFAULT_VALIDATION = 0.1  # the validation fraction a sweep holds out when none is asked for


@dataclass(frozen=True)
class SweepResult:
    path: Path  # the results folder
    trials: list  # results.Trial, best first
    best: Trial


def sweep_job(job: JobConfig, sweep: SweepConfig) -> SweepResult:
    """Run the sweep and write its results folder; see the module docstring."""
    name = sweep.name or default_sweep_name()
    sweep = replace(sweep, name=name)
    check_space(job, sweep.spaces)
    if job.train.epochs < sweep.grace_epochs:
        raise ConfigError(f"--grace-epochs {sweep.grace_epochs} is more than the --epochs {job.train.epochs}")
    out = Path(job.train.exports_dir) / name
    target = check_destination("sweep", out, job.train.overwrite)
    storage = storage_path(job.cluster, job.train.exports_dir)
    check_storage(storage)
    experiment = f"{storage.rstrip('/')}/{name}"
    path = job.data.path
    prepared = bool(path) and (is_remote(path) or is_prepared(path))
    if not prepared and job.data.validation_fraction == 0:  # (0 given explicitly too: a sweep needs one)
        log(f"holding out {DEFAULT_VALIDATION:.0%} of the training split for validation (--validation-fraction)")
        job = replace(job, data=replace(job.data, validation_fraction=DEFAULT_VALIDATION))
    job, data = loaded(job)
    if data.validation is None or not len(data.validation):
        raise ConfigError(
            "toolkit tune needs a validation split to judge the trials (never the test set): prepare the data "
            "with a validation split (validation/ files or a split column saying validation)"
        )
    restore = prepare_experiment(experiment, sweep_fingerprint(job, sweep), job.train.overwrite)
    arrays = (data.train.x, data.train.y, data.validation.x, data.validation.y)
    results = _run(job, sweep, arrays, experiment, restore)
    trials = sorted((Trial.of(result, sweep.spaces, job.train.epochs) for result in results), key=Trial.rank)
    finished = [t for t in trials if t.val_accuracy is not None]
    if not finished:
        errors = "; ".join(sorted({t.error for t in trials if t.error}))[:400]
        raise TuneError(f"no trial reported a validation accuracy: {errors or 'see the log above'}")
    write_results(out, target, job, sweep, trials, finished[0], data.source)
    log(f"results: {out}")
    return SweepResult(out, trials, finished[0])


def _run(job: JobConfig, sweep: SweepConfig, arrays: tuple, experiment: str, restore: bool):
    """The Ray Tune experiment at ``experiment`` (``restore``: the earlier one there): its ``ResultGrid``."""
    from ray import tune

    from toolkit.training.ray.cluster import check_resources, ray_session
    from toolkit.tune.progress import TrialLines
    from toolkit.tune.trial import one_process_trial, ray_train_trial

    storage, name = experiment.rsplit("/", 1)
    with ray_session(job.cluster):
        if job.cluster.workers:
            check_resources(job.cluster)  # each trial's workers: Ray would wait forever for what no node has
            # each trial's Ray Train run keeps its checkpoints inside the sweep's folder
            trainable = tune.with_parameters(ray_train_trial, base=job, arrays=arrays, storage=experiment)
            # the trial only drives (a Ray Tune trial cannot ask for nothing); its workers ask for their own
            trainable = tune.with_resources(trainable, {"cpu": 0.01})
        else:
            cpus, gpus = trial_resources(sweep)
            trainable = tune.with_parameters(one_process_trial, base=job, arrays=arrays, cpus=cpus)
            trainable = tune.with_resources(trainable, {"cpu": cpus, "gpu": gpus})
        if restore and tune.Tuner.can_restore(experiment):
            log(f"resuming the sweep in {experiment}: finished trials are kept, unfinished ones go on")
            tuner = tune.Tuner.restore(experiment, trainable, resume_unfinished=True, resume_errored=True)
        else:
            tuner = tune.Tuner(
                trainable,
                param_space=_param_space(sweep.spaces),
                tune_config=tune.TuneConfig(
                    metric=METRIC,
                    mode="max",
                    num_samples=sweep.trials,
                    scheduler=tune.schedulers.ASHAScheduler(
                        time_attr="epoch",
                        max_t=job.train.epochs,
                        grace_period=sweep.grace_epochs,
                        reduction_factor=sweep.reduction_factor,
                    ),
                    # seeded (the same sweep draws the same settings), and the concurrency limit with it:
                    # Tune ignores max_concurrent_trials beside a search algorithm of one's own
                    search_alg=tune.search.BasicVariantGenerator(
                        max_concurrent=sweep.max_concurrent, random_state=sweep.seed
                    ),
                ),
                run_config=tune.RunConfig(
                    name=name,
                    storage_path=storage,
                    verbose=0,
                    callbacks=[TrialLines(sweep.trials, job.train.epochs)],
                    failure_config=tune.FailureConfig(max_failures=job.cluster.max_failures),
                ),
            )
        log(
            f"tuning {', '.join(s.name for s in sweep.spaces) or 'nothing'}: {sweep.trials} trial(s) of up to "
            f"{job.train.epochs} epochs, {sweep.max_concurrent} at once, ASHA on {METRIC}; Ray Tune in {experiment}"
        )
        with contextlib.redirect_stdout(sys.stderr):  # Tune's banners: stdout is for the result line
            return tuner.fit()


def trial_resources(sweep: SweepConfig) -> tuple[int, float]:
    """A one-process trial's CPUs and GPUs: ``--trial-cpus`` (default: the largest node's CPUs /
    ``--max-concurrent``) and ``--trial-gpus``, refused at once when no node has them (Ray Tune would
    wait for them forever)."""
    import ray

    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    most_cpus = max((int(r.get("CPU", 0)) for r in nodes), default=0)
    most_gpus = max((float(r.get("GPU", 0)) for r in nodes), default=0.0)
    cpus = sweep.trial_cpus or max(1, most_cpus // sweep.max_concurrent)
    if cpus > most_cpus:
        raise TuneError(f"--trial-cpus {cpus}: no node has {cpus} CPUs (the largest has {most_cpus}): lower it")
    if sweep.trial_gpus > most_gpus:
        raise TuneError(
            f"--trial-gpus {sweep.trial_gpus:g}: no node has {sweep.trial_gpus:g} GPUs (the largest has "
            f"{most_gpus:g}): lower it, or tune on a GPU machine"
        )
    return cpus, sweep.trial_gpus


def _param_space(spaces: tuple[Space, ...]) -> dict:
    from ray import tune

    space = {}
    for s in spaces:
        if s.choices is not None:
            space[s.name] = tune.choice(list(s.choices)) if len(s.choices) > 1 else s.choices[0]
        elif s.log:
            space[s.name] = tune.loguniform(s.low, s.high)
        else:
            space[s.name] = tune.uniform(s.low, s.high)
    return space
