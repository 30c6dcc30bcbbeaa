"""--warmup-epochs: the learning rate rises linearly over the warm-up steps, then stays at the full rate,
and a resumed run (initial epoch > 0) continues the ramp where it was."""

import numpy as np
import pytest

from toolkit.config import TrainConfig
from toolkit.core.errors import ConfigError


def _rates(warmup_epochs, steps, epochs=3, initial_epoch=0, lr=0.01):
    from toolkit._tf import keras
    from toolkit.training.schedule import WarmUp

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr), loss="mse")
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(float(keras.backend.get_value(self.model.optimizer.learning_rate)))

    x, y = np.zeros((steps * 4, 2), np.float32), np.zeros((steps * 4, 1), np.float32)
    model.fit(
        x, y, batch_size=4, epochs=epochs, initial_epoch=initial_epoch, verbose=0,
        callbacks=[WarmUp(lr, warmup_epochs, steps), Record()],
    )  # fmt: skip
    return seen


def test_the_rate_rises_linearly_over_the_warm_up_then_stays():
    rates = _rates(warmup_epochs=1.5, steps=4)  # 6 warm-up steps over 12
    expected = [0.01 * (s + 1) / 6 for s in range(6)] + [0.01] * 6
    np.testing.assert_allclose(rates, expected, rtol=1e-6)


def test_a_resumed_run_continues_the_ramp_and_no_warm_up_leaves_the_rate_alone():
    np.testing.assert_allclose(_rates(2, 4, initial_epoch=1), [0.01 * (s + 1) / 8 for s in range(4, 8)] + [0.01] * 4)
    assert _rates(0, 3, epochs=1) == pytest.approx([0.01] * 3)


def test_warm_up_epochs_are_checked_against_the_epochs():
    with pytest.raises(ConfigError, match="warm-up epochs must be between 0 and the epochs"):
        TrainConfig(epochs=2, warmup_epochs=2.5)
    with pytest.raises(ConfigError):
        TrainConfig(warmup_epochs=-1)
    assert TrainConfig(epochs=2, warmup_epochs=2).warmup_epochs == 2
