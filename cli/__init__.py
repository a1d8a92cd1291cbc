"""The `acc` command line: the one-machine stack, runs, workers and the API."""
