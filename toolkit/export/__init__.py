"""Export to ONNX: tf2onnx conversion, ONNX graph surgery, the in-graph text front end, the model card."""
