"""Temporal workers, one per task queue: orchestration (workflows) and agents (activities)."""
