"""Run and export folders on disk: what they hold, checking and writing them (no TensorFlow)."""
