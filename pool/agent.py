"""The reference agent client (`acc agent connect`), also a library:

    client = AgentClient(urls, token, capabilities=["code"], spec={"backend": "shell"})
    await client.run(stop)  # connect, take tasks, reconnect, until `stop` is set

It runs any of acc's backends as a remote agent. Each task is run by the backend of the
client's own agent spec: the step's `prompt` replaces the spec's prompt (llm,
claude_code), and for a shell agent without a `command` the prompt is the command line.
The step's input comes resolved in the task. Progress goes back as `progress` at least
every `heartbeat_seconds` the node asked for.

Connections: the nodes in `urls` are tried in turn; a lost connection is retried with
exponential backoff and full jitter (reset once registered). When the connection drops
the tasks in flight are stopped (their process groups killed): the node hands them back
to Temporal, which gives them to another agent, so they never finish twice. Asked to
`reconnect` (recycling, a node draining), the client takes no new task, finishes those
in flight, then connects again. A refused credential (1008) stops the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from temporalio.exceptions import ApplicationError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from agents.backends import default_backends
from agents.base import AgentBackend, AgentContext
from core.contracts import AgentTask
from core.settings import Settings
from core.specs import AgentSpec
from core.transport import pool_client_tls
from pool import protocol as p
from pool.retry import Backoff, Refused

log = logging.getLogger("pool.agent")
SPEC = TypeAdapter[AgentSpec](AgentSpec)


class AgentClient:
    def __init__(
        self,
        urls: list[str],
        token: str,
        *,
        capabilities: list[str],
        spec: dict[str, Any],
        settings: Settings,
        agent_id: str | None = None,
        capacity: int = 1,
        labels: dict[str, str] | None = None,
        backends: dict[str, AgentBackend] | None = None,
        backoff: Backoff | None = None,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        if not urls:
            raise ValueError("no pool URL to connect to")
        self.urls, self.token = urls, token
        self.capabilities, self.capacity = capabilities, capacity
        self.agent_id, self.labels = agent_id, labels or {}
        self.spec = dict(spec)
        SPEC.validate_python(self._spec_for("true"))  # a bad spec fails now, naming the field
        self._hello()  # and so do bad options (an agent id with spaces, capacity 0)
        self.settings = settings
        self.backends = backends if backends is not None else default_backends(settings)
        self.backoff = backoff or Backoff()
        self.on_event = on_event or (lambda kind, data: None)
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.completed = 0
        self.connected = asyncio.Event()
        self._turn = 0

    def _hello(self) -> p.Hello:
        return p.Hello(
            token=self.token,
            agent_id=self.agent_id,
            capabilities=self.capabilities,
            capacity=self.capacity,
            labels=self.labels,
        )

    def _spec_for(self, prompt: str) -> dict[str, Any]:
        spec = dict(self.spec)
        if spec.get("backend") == "shell":
            if "command" not in spec:
                spec["command"] = shlex.split(prompt) if prompt else ["true"]
        elif prompt and spec.get("backend") in ("llm", "claude_code"):
            spec["prompt"] = prompt
        return spec

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected until `stop` is set. Raises Refused when the pool refuses the
        credential."""
        while not stop.is_set():
            url = self.urls[self._turn % len(self.urls)]
            self._turn += 1
            try:
                await self._session(url, stop)
            except Refused:
                raise
            except (OSError, InvalidHandshake, TimeoutError, ConnectionClosed) as exc:
                self.on_event("disconnected", {"url": url, "reason": repr(exc)})
            except InvalidURI as exc:
                raise Refused(f"bad pool URL {url}: {exc}") from None
            if stop.is_set():
                break
            wait = self.backoff.next()
            log.info("reconnecting in %.2fs", wait)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)

    async def _session(self, url: str, stop: asyncio.Event) -> None:
        tls = pool_client_tls(self.settings, url)  # wss://: verified against ACC_POOL_TLS_CA
        async with connect(url, open_timeout=10, max_size=None, close_timeout=2, ssl=tls) as ws:
            await ws.send(p.encode(self._hello()))
            try:
                first = p.parse_server(await ws.recv())
            except ConnectionClosed as exc:
                self._check_refusal(exc)
                raise
            if not isinstance(first, p.Registered):
                raise ConnectionError(f"expected registered, got {first.type}")
            self.agent_id = first.agent_id
            self.backoff.reset()
            self.connected.set()
            self.on_event("registered", first.model_dump())
            log.info("registered as %s on node %s", first.agent_id, first.node)
            leaving = asyncio.Event()
            stopping = asyncio.create_task(stop.wait())
            try:
                await self._serve(ws, first, leaving, stopping)
            finally:
                stopping.cancel()
                self.connected.clear()
                await self._stop_tasks()

    def _check_refusal(self, exc: ConnectionClosed) -> None:
        if exc.rcvd is not None and exc.rcvd.code == p.CLOSE_POLICY:
            raise Refused(exc.rcvd.reason) from None

    async def _serve(
        self,
        ws: ClientConnection,
        registered: p.Registered,
        leaving: asyncio.Event,
        stopping: asyncio.Task[bool],
    ) -> None:
        beat = asyncio.create_task(self._progress_loop(ws, registered.heartbeat_seconds))
        receive: asyncio.Future[Any] | None = None
        try:
            while True:
                receive = asyncio.ensure_future(ws.recv())
                done, _ = await asyncio.wait({receive, stopping}, return_when="FIRST_COMPLETED")
                if stopping in done:
                    leaving.set()
                    await self._finish(ws)
                    return
                try:
                    message = p.parse_server(receive.result())
                except ConnectionClosed as exc:
                    self._check_refusal(exc)
                    raise
                if isinstance(message, p.TaskMessage):
                    if leaving.is_set() or len(self.tasks) >= self.capacity:
                        continue  # the node times the offer out and tries another agent
                    await ws.send(p.encode(p.Accepted(task_id=message.task_id)))
                    self.tasks[message.task_id] = asyncio.create_task(self._work(ws, message))
                elif isinstance(message, p.Cancel):
                    running = self.tasks.pop(message.task_id, None)
                    if running is not None:
                        running.cancel()
                        self.on_event("cancelled", {"task_id": message.task_id})
                elif isinstance(message, p.Ping):
                    await ws.send(p.encode(p.Pong(nonce=message.nonce)))
                elif isinstance(message, p.Reconnect):
                    leaving.set()
                    self.on_event("reconnect", message.model_dump())
                    await self._finish(ws)
                    return
        finally:
            beat.cancel()
            if receive is not None:
                receive.cancel()
                with contextlib.suppress(BaseException):
                    await receive

    async def _finish(self, ws: ClientConnection) -> None:
        """Let the tasks in flight end (their results go out on this connection), then
        close it."""
        if self.tasks:
            await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        await ws.close()

    async def _stop_tasks(self) -> None:
        running = list(self.tasks.values())
        self.tasks.clear()
        for task in running:
            task.cancel()
        for task in running:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _progress_loop(self, ws: ClientConnection, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            for task_id in list(self.tasks):
                with contextlib.suppress(ConnectionClosed):
                    await ws.send(p.encode(p.Progress(task_id=task_id, details={"alive": True})))

    async def _work(self, ws: ClientConnection, message: p.TaskMessage) -> None:
        task, task_id = message.task, message.task_id
        self.on_event("task", {"task_id": task_id, "run_id": task.run_id, "step": task.step_name})
        started = time.perf_counter()
        prompt = getattr(task.agent, "prompt", "")
        reply: p.Message
        try:
            agent = SPEC.validate_python(self._spec_for(prompt))
            local = task.model_copy(update={"agent": agent})
            backend = self.backends[agent.backend]
            state: dict[str, Any] = {}
            ctx = AgentContext(
                task=local,
                input_text=task.input.text,
                workdir=self._workdir(task),
                heartbeat=lambda: None,
                emit=self._emitter(),
                resumed={},
                record=state.update,
            )
            outcome = await backend.run(ctx)
            if outcome.error is not None:
                reply = p.Error(task_id=task_id, message=outcome.error, output=outcome.text)
            else:
                reply = p.Result(
                    task_id=task_id,
                    output=outcome.text,
                    exit_code=outcome.exit_code,
                    stderr=outcome.stderr,
                    truncated=outcome.truncated,
                    duration_ms=(time.perf_counter() - started) * 1000,
                    usage=outcome.usage,
                    session_id=outcome.session_id,
                )
        except ApplicationError as exc:
            reply = p.Error(
                task_id=task_id,
                message=exc.message,
                error_type=exc.type or "AgentFailed",
                retryable=not exc.non_retryable,
            )
        except Exception as exc:
            reply = p.Error(task_id=task_id, message=str(exc) or repr(exc))
        if self.tasks.pop(task_id, None) is None:
            return  # cancelled meanwhile: the node no longer waits for it
        with contextlib.suppress(ConnectionClosed):
            await ws.send(p.encode(reply))
            self.completed += 1
            self.on_event(reply.type, {"task_id": task_id, "run_id": task.run_id})

    def _emitter(self) -> Any:
        async def emit(kind: str, data: dict[str, Any]) -> None:
            self.on_event(kind, data)

        return emit

    def _workdir(self, task: AgentTask) -> Path:
        return self.settings.data_dir / "agent" / (self.agent_id or "agent") / task.run_id
