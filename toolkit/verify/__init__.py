"""Verification: parity of onnxruntime against Keras, the text front end's check and the reports."""
