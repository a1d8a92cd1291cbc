"""Agent backends, one module each: shell, llm, claude_code, python, remote."""

from __future__ import annotations

from agents.backends.claude_code import ClaudeCodeBackend
from agents.backends.llm import LlmBackend
from agents.backends.python_plugin import PythonBackend
from agents.backends.remote import RemoteBackend, RemoteDispatcher
from agents.backends.shell import ShellBackend
from agents.base import AgentBackend
from core.settings import Settings


def default_backends(
    settings: Settings, dispatcher: RemoteDispatcher | None = None
) -> dict[str, AgentBackend]:
    """Every backend, keyed by the `backend` field of agent specs. The remote backend
    reaches agents through `dispatcher` (the WebSocket pool's)."""
    return {
        "shell": ShellBackend(settings),
        "llm": LlmBackend(settings),
        "claude_code": ClaudeCodeBackend(settings),
        "python": PythonBackend(),
        "remote": RemoteBackend(dispatcher),
    }
