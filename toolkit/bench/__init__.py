"""Benchmarks: inference, training and modelled scaling, figures written to a JSON file."""
