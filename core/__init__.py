"""Shared pieces of acc: settings, contracts, events, errors and clients."""
