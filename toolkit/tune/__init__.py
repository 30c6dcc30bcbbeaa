"""``toolkit tune``: Ray Tune sweeps over the training settings (``sweep``), each trial a training
judged on validation data (``trial``), the results as tables, a figure and the best settings' TOML
(``results``)."""
