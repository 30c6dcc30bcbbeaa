"""Ray Train: the cluster connection, checkpoints, the driver and what runs in each worker."""
