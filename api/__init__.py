"""The REST API: runs, artifacts, health; serves the dashboard."""
