"""training.ray.messages: the typed driver<->worker protocol, without starting Ray: tasks and messages
survive pickling (Ray ships them), a worker loop refuses the wrong task before it touches its GPUs, and
the driver turns each message into its line (or its outcome) and refuses anything else."""

import pickle
import queue

import numpy as np
import pytest

from toolkit.config import ModelConfig, TrainConfig
from toolkit.training.ray.messages import (
    BenchTask,
    BenchTimes,
    Devices,
    Diverged,
    EpochDone,
    EpochProgress,
    Finished,
    Resumed,
    TrainTask,
    receive,
    task_config,
    task_of,
)

MODEL, TRAIN = ModelConfig(maxlen=20, num_words=40), TrainConfig(epochs=2, batch_size=8, run_name="r")
DEVICES = Devices(
    worker=1,
    world=2,
    start=12.5,
    devices="/job:worker/replica:0/task:1/device:CPU:0",
    cuda_visible_devices="",
    gpu_ids=[],
    replicas=2,
    per_replica_batch=4,
)


def _train_task(**kw) -> TrainTask:
    fields = dict(cpus=1, collective="ring", x=np.zeros((2, 20), np.int32), y=np.zeros(2, np.int32), messages=None)
    return TrainTask(**fields, model=MODEL, train=TRAIN, fingerprint={"model": {}}, **kw)


def test_tasks_and_messages_survive_pickling_unchanged():
    bench = BenchTask(
        cpus=2, collective="nccl", x=None, y=None, messages=None, setups=(("fast", MODEL, TRAIN),), repeats=3
    )
    messages = [DEVICES, EpochProgress(1, 5, 20), Resumed(1, 1), Diverged("loss is nan"), EpochDone({"epoch": 1}),
                BenchTimes({"fast": [1.5]}, 2, "CPU:0")]  # fmt: skip
    for item in [bench, *messages]:
        assert pickle.loads(pickle.dumps(item)) == item
    task = pickle.loads(pickle.dumps(_train_task()))
    assert (task.model, task.train, task.cpus, task.collective) == (MODEL, TRAIN, 1, "ring")
    assert task_of(task_config(task)).train == TRAIN


def test_a_worker_loop_refuses_anything_but_its_own_task():
    from toolkit.bench.ray_train import bench_loop
    from toolkit.training.ray.entry import worker_loop

    for config in ({}, {"task": {"model": {}}}, "task"):
        with pytest.raises(TypeError, match="needs {'task': WorkerTask}"):
            task_of(config)
    with pytest.raises(TypeError, match="needs a TrainTask, got BenchTask"):  # before Ray or TensorFlow is touched
        worker_loop(task_config(BenchTask(1, "ring", None, None, None, (), 1)))
    with pytest.raises(TypeError, match="needs a BenchTask, got TrainTask"):
        bench_loop(task_config(_train_task()))


def test_receive_gives_messages_and_refuses_anything_else():
    q = queue.Queue()
    q.put(DEVICES)
    q.put({"epoch_progress": 1})  # the old untyped row
    assert receive(q, timeout=1) == DEVICES
    with pytest.raises(TypeError, match="unexpected message from a Ray worker: dict"):
        receive(q, timeout=1)
    with pytest.raises(queue.Empty):
        receive(q, timeout=0.01)


def test_the_driver_says_each_message_in_its_line(capsys):
    from toolkit.training.ray.driver import _show

    outcome, devices = {}, {}
    _show(DEVICES, 2, outcome, devices)
    _show(EpochProgress(epoch=2, batch=5, steps=20), 2, outcome, devices)
    _show(Resumed(from_epoch=1, restart=1), 2, outcome, devices)
    _show(EpochDone({"epoch": 2, "loss": 0.5, "accuracy": 0.75, "seconds": 2.0, "reviews_per_second": 100.0}), 2,
          outcome, devices)  # fmt: skip
    _show(Finished(worker=1, start=12.5, peak_rss_mb=812.5), 2, outcome, devices)
    _show(Diverged("the loss became nan in epoch 2"), 2, outcome, devices)
    err = capsys.readouterr().err
    assert "[worker 1/2] devices: /job:worker/replica:0/task:1/device:CPU:0; CUDA_VISIBLE_DEVICES=''" in err
    assert "epoch 2/2: 25% (5/20 batches)" in err
    assert "resuming from the epoch-1 checkpoint (restart 1)" in err
    assert "epoch 2/2: loss 0.5000  accuracy 0.7500  2.0 s  100 reviews/s" in err
    assert outcome == {"diverged": "the loss became nan in epoch 2", "memory": {(1, 12.5): 812.5}}
    assert devices == {(1, 12.5): DEVICES.row()} and DEVICES.row()["per_replica_batch"] == 4
    with pytest.raises(TypeError, match="unexpected message from a training worker: BenchTimes"):
        _show(BenchTimes({}, 1, ""), 2, outcome, devices)
