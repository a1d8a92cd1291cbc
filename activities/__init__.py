"""Temporal activities: agents, event emission. All I/O of a run happens here."""
