"""Edge inference, NumPy and onnxruntime only: the text spec, the model contract, sessions, predict, review files."""
