"""The seed LSTM model (tf_keras) and its evaluation."""
