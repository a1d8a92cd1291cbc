"""The agent runtime: backends, the router, breakers, rate limits and leases, the agents
file. Activities (`activities/agents.py`) are a thin Temporal layer over it."""
