"""The WebSocket pool: remote agents and live subscribers (`acc pool`)."""
