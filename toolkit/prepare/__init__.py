"""Preparing data bigger than one machine with Ray Data: read, count, vocabulary, encode, shards."""
