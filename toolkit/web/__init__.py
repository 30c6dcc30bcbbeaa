"""The web page: serving it (``server``) with its files and onnxruntime-web's (``assets``)."""
