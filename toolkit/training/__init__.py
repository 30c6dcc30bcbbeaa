"""Training: the job's checks, single-process training and what every training shares; Ray in training.ray."""
