"""One pool node (`acc pool`): a websockets asyncio server that holds agent and subscriber
connections, delivers tasks workers dispatch to its agents (dispatcher.py), and reports
for those tasks to Temporal by task token, as agents/backends/remote.py specifies.

Per connection: a hello (with an API key or OIDC token) within ACC_POOL_HELLO_TIMEOUT_SECONDS,
then messages until either side closes. Per task: `task` -> `accepted` -> `progress`... ->
`result` or `error`. The node heartbeats every task it holds every HEARTBEAT_SECONDS (the
step's heartbeat timeout is 5 s), with the agent's last progress, and learns of a cancelled
run from that heartbeat. An agent that disconnects fails its tasks as retryable
"RemoteDisconnected", so another agent gets them at once; a node that dies stops
heartbeating, so Temporal times the attempt out after 5 s and retries it. Either way the
abandoned attempt's token is dead: a late completion of it is refused by Temporal, so a
step's end state comes from one agent only.

Plain HTTP on the same port: /healthz, /readyz, /metrics.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import AsyncActivityCancelledError, AsyncActivityHandle, Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from agents.breakers import BreakerConfig, CircuitBreakers, breaker_event
from agents.router import remote_agent_breaker
from core.artifacts import ArtifactStore
from core.auth import SCOPES, ApiKeys, Authenticator, OidcTokens, Principal, Unauthorized
from core.bus import EventBus
from core.contracts import AgentResult, AgentTask
from core.events import Event
from core.redact import Redactor
from core.settings import Settings
from core.transport import pool_server_tls
from pool import protocol as p
from pool.dispatcher import REPLY_TTL_SECONDS, encode_reply
from pool.registry import REFRESH_SECONDS, AgentRecord, Registry
from pool.subscriptions import Fanout, metrics_item

log = logging.getLogger("pool")

HEARTBEAT_SECONDS = 1.5
MAX_RETRY_DELAY_SECONDS = 3600.0
RETRY_HINT_SECONDS = 5
ROLE_SCOPES = {"agent": "agents:connect", "subscriber": "runs:read"}
SHORTFALL_EVERY = 30  # refreshes between two warnings of missing warm agents
KEEPALIVE_TIMEOUT = 1011  # websockets closes a connection that missed its pongs with it


def _reason(text: str) -> str:
    """A close reason fits in 123 bytes."""
    raw = text.encode()[:120]
    return raw.decode(errors="ignore")


@dataclass
class InFlight:
    task_id: str
    task: AgentTask
    handle: AsyncActivityHandle
    attempt: int
    progress: dict[str, Any]  # the step's progress from run_agent (failures counted there)
    started: float = field(default_factory=time.perf_counter)
    details: dict[str, Any] = field(default_factory=dict)  # the agent's last progress
    accepted: asyncio.Future[None] | None = None

    def beat_details(self, agent_id: str, node: str) -> dict[str, Any]:
        return {**self.progress, "remote": {"agent": agent_id, "node": node, **self.details}}


class Connection:
    def __init__(self, ws: ServerConnection, principal: Principal, hello: p.Hello) -> None:
        self.id = uuid.uuid4().hex[:16]
        self.ws, self.principal, self.hello = ws, principal, hello
        self.opened = time.monotonic()
        self.tasks: dict[str, InFlight] = {}
        self.agent: AgentRecord | None = None
        self.leaving = False  # asked to reconnect: no new tasks

    async def send(self, message: p.Message) -> None:
        await self.ws.send(p.encode(message))


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.connections = Gauge("acc_pool_connections", "Open connections", ["role"], registry=r)
        self.agents = Gauge(
            "acc_pool_agents", "Connected agents by capability", ["capability"], registry=r
        )
        self.tasks = Gauge("acc_pool_tasks_in_flight", "Tasks held by agents here", registry=r)
        self.dispatch = Histogram(
            "acc_pool_dispatch_seconds",
            "From a worker's dispatch to the agent's acceptance",
            buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=r,
        )
        self.errors = Counter("acc_pool_errors", "Refused or failed things", ["kind"], registry=r)
        self.outcomes = Counter("acc_pool_task_outcomes", "Task ends", ["outcome"], registry=r)
        self.attempts = Counter(
            "acc_pool_connection_attempts",
            "WebSocket connections by how their opening ended: accepted, refused (full), "
            "hello_timeout, rejected (bad hello or credential)",
            ["outcome"],
            registry=r,
        )
        self.short = Gauge(
            "acc_pool_agents_short",
            "Warm agents missing per capability (ACC_POOL_MIN_AGENTS)",
            ["capability"],
            registry=r,
        )


class PoolNode:
    def __init__(
        self,
        settings: Settings,
        *,
        temporal: Client,
        redis: Redis,
        engine: AsyncEngine,
        bus: EventBus,
        node_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.node_id = node_id or settings.POOL_NODE_ID or f"node-{uuid.uuid4().hex[:8]}"
        self._tls = pool_server_tls(settings)  # wss:// with ACC_POOL_TLS_CERT/_KEY
        scheme = "wss" if self._tls is not None else "ws"
        self.url = f"{scheme}://{settings.POOL_HOST}:{settings.POOL_PORT}"
        self.temporal, self.redis, self.bus = temporal, redis, bus
        self.registry = Registry(redis, settings.REDIS_PREFIX)
        # The same breakers as local agents (agents/breakers.py): each remote agent's
        # outcomes, so the dispatcher routes around one that keeps failing.
        self.breakers = CircuitBreakers(
            redis, BreakerConfig.from_settings(settings), prefix=settings.REDIS_PREFIX
        )
        self.artifacts = ArtifactStore(engine, settings.INLINE_OUTPUT_LIMIT)
        self._http = httpx.AsyncClient(timeout=10)
        oidc = OidcTokens(settings, self._http) if settings.OIDC_ISSUER else None
        self.auth = Authenticator(ApiKeys(engine), oidc)
        self.redact = Redactor.of(settings).text
        self.metrics = Metrics()
        self.connections: dict[str, Connection] = {}
        self.agents: dict[tuple[str, str], Connection] = {}  # (tenant, agent id)
        # Connections by role and agents by capability, kept as connections come and go so
        # a hello or a close costs the same at 10 connections as at 10,000.
        self._roles: dict[str, int] = {"agent": 0, "subscriber": 0}
        self._caps: dict[str, int] = {}
        for cap in settings.POOL_MIN_AGENTS:  # watched capabilities show 0, not nothing
            self.metrics.agents.labels(cap).set(0)
        self.draining = False
        self.fanout = Fanout(settings, self.metrics.errors)  # the events topic
        self.metrics_feed = Fanout(  # the aggregator's 1-second windows
            settings, self.metrics.errors, settings.METRICS_TOPIC, metrics_item
        )
        self._background: set[asyncio.Task[Any]] = set()
        self._server: Server | None = None
        self._idle = asyncio.Event()  # no task in flight (drain waits for it)
        self._total = (0, -REFRESH_SECONDS)  # connections across nodes, and when read

    # lifecycle

    async def serve(self, stop: asyncio.Event, ready: Callable[[], None] | None = None) -> None:
        """Serve until `stop` is set, then drain (see `drain`)."""
        s = self.settings
        await self.registry.beat_node(self.node_id, self.url, 0, False)
        await self.fanout.start()
        await self.metrics_feed.start()
        loops = [
            asyncio.create_task(self._inbox_loop()),
            asyncio.create_task(self._heartbeat_loop()),
            asyncio.create_task(self._refresh_loop()),
        ]
        try:
            async with serve(
                self._handle,
                s.POOL_HOST,
                s.POOL_PORT,
                process_request=self._http_request,
                max_size=s.POOL_MAX_MESSAGE_BYTES,
                ping_interval=s.POOL_PING_INTERVAL_SECONDS,
                ping_timeout=s.POOL_PING_TIMEOUT_SECONDS,
                close_timeout=2,
                server_header=None,
                ssl=self._tls,
            ) as server:
                self._server = server
                log.info("pool node %s serving on %s", self.node_id, self.url)
                if ready is not None:
                    ready()
                await stop.wait()
                await self.drain()
        finally:
            for loop in loops:
                loop.cancel()
            for loop in loops:
                with contextlib.suppress(asyncio.CancelledError):
                    await loop
            await self.fanout.stop()
            await self.metrics_feed.stop()
            with contextlib.suppress(RedisError):
                await self.registry.remove_node(self.node_id)
            await self._http.aclose()

    async def drain(self) -> None:
        """Stop accepting, ask every client to reconnect elsewhere, let in-flight tasks
        finish for up to ACC_POOL_DRAIN_SECONDS, hand back the rest, then close."""
        self.draining = True
        log.info("pool node %s draining", self.node_id)
        with contextlib.suppress(RedisError):
            await self.registry.beat_node(self.node_id, self.url, len(self.connections), True)
        if self._server is not None:
            self._server.close(close_connections=False)
        ask = p.encode(p.Reconnect(reason=f"node {self.node_id} is shutting down"))
        for conn in self.connections.values():
            conn.leaving = True
        await asyncio.gather(
            *(c.ws.send(ask) for c in list(self.connections.values())), return_exceptions=True
        )
        if any(c.tasks for c in self.connections.values()):
            self._idle.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), self.settings.POOL_DRAIN_SECONDS)
        for conn in list(self.connections.values()):
            for task_id in list(conn.tasks):
                await self._hand_back(conn, task_id, f"node {self.node_id} shut down")
        why = "node shutting down; reconnect elsewhere"
        await asyncio.gather(
            *(c.ws.close(p.CLOSE_GOING_AWAY, why) for c in list(self.connections.values())),
            return_exceptions=True,
        )
        if self._server is not None:
            await self._server.wait_closed()

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # connections

    async def _handle(self, ws: ServerConnection) -> None:
        s = self.settings
        if self.draining:
            await self._refuse(ws, "this node is draining; connect to another node")
            return
        if len(self.connections) >= s.POOL_MAX_CONNECTIONS:
            await self._refuse(ws, f"node full ({s.POOL_MAX_CONNECTIONS} connections)")
            return
        if await self._total_connections() >= s.POOL_MAX_TOTAL_CONNECTIONS:
            await self._refuse(ws, f"pool full ({s.POOL_MAX_TOTAL_CONNECTIONS} connections)")
            return
        conn = await self._hello(ws)
        if conn is None:
            return
        try:
            async for raw in ws:
                try:
                    await self._on_message(conn, p.parse_client(raw))
                except p.ProtocolError as exc:
                    self.metrics.errors.labels("protocol").inc()
                    log.info("closing %s: %s", conn.id, exc.reason, extra={"connection": conn.id})
                    await ws.close(exc.code, _reason(exc.reason))
                    break
        except ConnectionClosed:
            pass
        finally:
            await self._closed(conn)

    async def _total_connections(self) -> int:
        """Connections across all nodes, as the registry says (each node refreshes its count
        every second, so it is read at most that often)."""
        now = time.monotonic()
        if now - self._total[1] >= REFRESH_SECONDS:
            try:
                self._total = (await self.registry.total_connections(), now)
            except RedisError:
                return len(self.connections)
        return max(self._total[0], len(self.connections))

    async def _refuse(self, ws: ServerConnection, why: str) -> None:
        self.metrics.errors.labels("refused").inc()
        self.metrics.attempts.labels("refused").inc()
        await ws.close(p.CLOSE_TRY_AGAIN, _reason(f"{why}; retry in {RETRY_HINT_SECONDS}s"))

    async def _hello(self, ws: ServerConnection) -> Connection | None:
        s = self.settings
        try:
            async with asyncio.timeout(s.POOL_HELLO_TIMEOUT_SECONDS):
                raw = await ws.recv()
        except TimeoutError:
            self.metrics.errors.labels("hello_timeout").inc()
            self.metrics.attempts.labels("hello_timeout").inc()
            await ws.close(p.CLOSE_POLICY, f"no hello within {s.POOL_HELLO_TIMEOUT_SECONDS:g}s")
            return None
        except ConnectionClosed:
            return None
        try:
            hello = p.parse_client(raw)
            if not isinstance(hello, p.Hello):
                raise p.ProtocolError(
                    f"the first message must be hello, not {hello.type}", p.CLOSE_POLICY
                )
            principal = await self._principal(hello.token)
            scope = ROLE_SCOPES[hello.role]
            if not principal.allows(scope):
                raise p.ProtocolError(f"this credential lacks the {scope} scope", p.CLOSE_POLICY)
        except p.ProtocolError as exc:
            self.metrics.errors.labels("hello").inc()
            self.metrics.attempts.labels("rejected").inc()
            await ws.close(exc.code, _reason(exc.reason))
            return None
        conn = Connection(ws, principal, hello)
        self.connections[conn.id] = conn
        self.metrics.attempts.labels("accepted").inc()
        if hello.role == "agent":
            agent_id = hello.agent_id or f"agent-{uuid.uuid4().hex[:8]}"
            conn.agent = AgentRecord(
                agent_id=agent_id,
                tenant=principal.tenant,
                node=self.node_id,
                connection=conn.id,
                capabilities=sorted(set(hello.capabilities)),
                capacity=hello.capacity,
                connected_at=time.time(),
                labels=hello.labels,
            )
            previous = self.agents.get((principal.tenant, agent_id))
            self.agents[(principal.tenant, agent_id)] = conn
            if previous is not None and previous is not conn:  # the same agent, reconnected
                previous.leaving = True
                self._spawn(previous.ws.close(p.CLOSE_POLICY, "replaced by a newer connection"))
            await self.registry.register(conn.agent)
        self._count(conn, +1)
        if s.POOL_RECYCLE_SECONDS > 0:
            self._spawn(self._recycle(conn, s.POOL_RECYCLE_SECONDS))
        await conn.send(
            p.Registered(
                connection_id=conn.id,
                node=self.node_id,
                tenant=principal.tenant,
                agent_id=conn.agent.agent_id if conn.agent else None,
                capabilities=conn.agent.capabilities if conn.agent else [],
                capacity=conn.agent.capacity if conn.agent else 0,
                heartbeat_seconds=HEARTBEAT_SECONDS,
            )
        )
        await self._lifecycle(conn, "pool.registered", "hello")
        log.info(
            "%s %s connected (tenant %s)",
            hello.role,
            conn.agent.agent_id if conn.agent else conn.id,
            principal.tenant,
            extra={"connection": conn.id},
        )
        return conn

    async def _principal(self, token: str) -> Principal:
        if self.settings.AUTH == "off":
            return Principal(
                subject="anonymous",
                tenant=self.settings.TENANT,
                scopes=frozenset(SCOPES),
                credential="none",
            )
        if not token:
            raise p.ProtocolError(
                "hello carries no token (an API key or OIDC token)", p.CLOSE_POLICY
            )
        try:
            return await self.auth.principal(token)
        except Unauthorized as exc:
            raise p.ProtocolError(exc.message, p.CLOSE_POLICY) from None

    async def _recycle(self, conn: Connection, after: float) -> None:
        await asyncio.sleep(after)
        if conn.id in self.connections and not conn.leaving:
            conn.leaving = True
            with contextlib.suppress(ConnectionClosed):
                await conn.send(p.Reconnect(reason="connection recycled", after_seconds=0))
            await self._lifecycle(conn, "pool.recycled", f"open for {after:g}s")
            # In-flight tasks finish on this connection; the client closes it after them.

    async def _closed(self, conn: Connection) -> None:
        if self.connections.pop(conn.id, None) is not None:
            self._count(conn, -1)
        self.fanout.drop(conn)
        self.metrics_feed.drop(conn)
        for task_id in list(conn.tasks):
            await self._hand_back(conn, task_id, "disconnected")
        if conn.agent is not None:
            key = (conn.agent.tenant, conn.agent.agent_id)
            if self.agents.get(key) is conn:
                del self.agents[key]
            with contextlib.suppress(RedisError):
                await self.registry.unregister(conn.agent)
        sent = conn.ws.protocol.close_sent  # what the node said, when it closed
        code = sent.code if sent is not None else conn.ws.close_code
        if code == KEEPALIVE_TIMEOUT:
            self.metrics.errors.labels("evicted").inc()
            await self._lifecycle(conn, "pool.evicted", "missed its pongs")
        else:
            await self._lifecycle(conn, "pool.disconnected", conn.ws.close_reason or "closed")
        log.info("connection %s closed (%s)", conn.id, code, extra={"connection": conn.id})

    def _count(self, conn: Connection, delta: int) -> None:
        """Count `conn` in (+1) or out (-1) of the connection and per-capability gauges."""
        role = conn.hello.role
        self._roles[role] = self._roles.get(role, 0) + delta
        self.metrics.connections.labels(role).set(self._roles[role])
        for cap in conn.agent.capabilities if conn.agent else []:
            self._caps[cap] = self._caps.get(cap, 0) + delta
            self.metrics.agents.labels(cap).set(self._caps[cap])

    # messages

    async def _on_message(self, conn: Connection, msg: p.ClientMessage) -> None:
        if isinstance(msg, p.Ping):
            await conn.send(p.Pong(nonce=msg.nonce))
        elif isinstance(msg, p.Pong):
            pass
        elif isinstance(msg, p.Subscribe | p.Unsubscribe):
            if conn.hello.role != "subscriber":
                raise p.ProtocolError("only subscribers subscribe", p.CLOSE_POLICY)
            feed = self.metrics_feed if msg.channel == "metrics" else self.fanout
            if isinstance(msg, p.Subscribe):
                await feed.subscribe(conn, msg)
            else:
                feed.unsubscribe(conn, msg.channel)
        elif isinstance(msg, p.Hello):
            raise p.ProtocolError("hello was already said")
        elif conn.agent is None:
            raise p.ProtocolError(f"{msg.type} is an agent's message", p.CLOSE_POLICY)
        else:
            flight = conn.tasks.get(msg.task_id)
            if flight is None:  # a late message for a task handed back or cancelled
                return
            if isinstance(msg, p.Accepted):
                if flight.accepted is not None and not flight.accepted.done():
                    flight.accepted.set_result(None)
            elif isinstance(msg, p.Progress):
                flight.details = msg.details
            elif isinstance(msg, p.Result):
                del conn.tasks[msg.task_id]
                await self._completed(conn, flight, msg)
            elif isinstance(msg, p.Error):
                del conn.tasks[msg.task_id]
                await self._failed(conn, flight, msg)

    # dispatch

    async def _inbox_loop(self) -> None:
        inbox = self.registry.inbox(self.node_id)
        while True:
            try:
                item = await self.redis.blpop([inbox], timeout=1)
            except RedisError as exc:
                log.warning("inbox unreadable: %r", exc)
                await asyncio.sleep(1)
                continue
            if item is not None:
                self._spawn(self._deliver(json.loads(item[1])))

    async def _deliver(self, request: dict[str, Any]) -> None:
        reply_key = self.registry.reply_key(request["dispatch_id"])

        async def answer(accepted: bool, reason: str = "") -> None:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.rpush(reply_key, encode_reply(accepted, reason))
                pipe.expire(reply_key, REPLY_TTL_SECONDS)
                await pipe.execute()

        task = AgentTask.model_validate(request["task"])

        async def refuse(reason: str) -> None:
            await self._dead_letter(request, task, reason)
            await answer(False, reason)

        if request["expires_at"] <= time.time():
            # The worker stopped waiting: starting the task now could run it twice.
            await self._dead_letter(request, task, "expired before this node read it")
            return
        conn = self.agents.get((task.tenant, request["agent_id"]))
        if self.draining:
            await refuse("node draining")
            return
        if conn is None or conn.agent is None or conn.id != request["connection"]:
            await refuse("the agent is not connected here any more")
            return
        if conn.leaving or len(conn.tasks) >= conn.agent.capacity:
            await refuse("the agent is at capacity")
            return
        task_id = uuid.uuid4().hex[:16]
        token = base64.b64decode(request["task_token"])
        flight = InFlight(
            task_id=task_id,
            task=task,
            handle=self.temporal.get_async_activity_handle(task_token=token),
            attempt=int(request["attempt"]),
            progress=dict(request.get("progress") or {}),
            accepted=asyncio.get_running_loop().create_future(),
        )
        conn.tasks[task_id] = flight
        self._load(conn)
        try:
            await conn.send(p.TaskMessage(task_id=task_id, task=task, attempt=flight.attempt))
            assert flight.accepted is not None
            await asyncio.wait_for(flight.accepted, request["expires_at"] - time.time())
        except (TimeoutError, ConnectionClosed):
            conn.tasks.pop(task_id, None)
            self._load(conn)
            with contextlib.suppress(ConnectionClosed):
                await conn.send(p.Cancel(task_id=task_id, reason="not accepted in time"))
            await refuse("the agent did not accept in time")
            return
        await answer(True)
        self.metrics.dispatch.observe(max(0.0, time.time() - request["sent_at"]))
        log.info(
            "task %s (run %s step %s) to %s",
            task_id,
            task.run_id,
            task.step_name,
            conn.agent.agent_id,
            extra={"run": task.run_id, "task": task_id, "connection": conn.id},
        )

    def _load(self, conn: Connection) -> None:
        if conn.agent is not None:
            conn.agent.load = len(conn.tasks)
        in_flight = sum(len(c.tasks) for c in self.connections.values())
        self.metrics.tasks.set(in_flight)
        if in_flight == 0:
            self._idle.set()
        if conn.agent is not None:
            self._spawn(self._push_load(conn.agent))

    async def _push_load(self, agent: AgentRecord) -> None:
        with contextlib.suppress(RedisError):
            await self.registry.refresh([agent])

    # reports to Temporal

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            beats = [
                self._beat(conn, flight)
                for conn in list(self.connections.values())
                for flight in list(conn.tasks.values())
                if flight.accepted is not None and flight.accepted.done()
            ]
            await asyncio.gather(*beats)

    async def _beat(self, conn: Connection, flight: InFlight) -> None:
        assert conn.agent is not None
        try:
            await flight.handle.heartbeat(
                flight.beat_details(conn.agent.agent_id, self.node_id),
                rpc_timeout=timedelta(seconds=HEARTBEAT_SECONDS),
            )
        except AsyncActivityCancelledError:
            conn.tasks.pop(flight.task_id, None)
            self._load(conn)
            with contextlib.suppress(ConnectionClosed):
                await conn.send(p.Cancel(task_id=flight.task_id, reason="the run cancelled it"))
            with contextlib.suppress(RPCError):
                await flight.handle.report_cancellation()
            self.metrics.outcomes.labels("cancelled").inc()
            await self._event(flight, "step.failed", {"error": "cancelled", **self._who(conn)})
        except RPCError as exc:  # the attempt is over (timed out): the agent's work is moot
            log.warning("task %s: heartbeat refused (%s); cancelling it", flight.task_id, exc)
            conn.tasks.pop(flight.task_id, None)
            self._load(conn)
            with contextlib.suppress(ConnectionClosed):
                await conn.send(p.Cancel(task_id=flight.task_id, reason="the attempt is over"))
            self.metrics.outcomes.labels("lost").inc()

    async def _completed(self, conn: Connection, flight: InFlight, msg: p.Result) -> None:
        self._load(conn)
        task = flight.task
        result = AgentResult(
            output=await self.artifacts.to_output(
                task.tenant,
                self.redact(msg.output),
                truncated=msg.truncated,
                store=task.store_output,
            ),
            exit_code=msg.exit_code,
            stderr=self.redact(msg.stderr),
            duration_ms=(time.perf_counter() - flight.started) * 1000,
            usage=msg.usage,
            session_id=msg.session_id,
        )
        await self._record(conn, flight, failed=False)
        try:
            await flight.handle.complete(result)
        except (RPCError, AsyncActivityCancelledError) as exc:
            # Another attempt owns the step now: this agent's result is not its end state.
            log.warning("task %s: completion refused (%s)", flight.task_id, exc)
            self.metrics.outcomes.labels("stale").inc()
            return
        self.metrics.outcomes.labels("completed").inc()
        data = {
            "duration_ms": round(result.duration_ms, 2),
            "output_size": result.output.size,
            **result.usage.model_dump(),
            **self._who(conn),
        }
        await self._event(flight, "step.completed", data)

    async def _failed(self, conn: Connection, flight: InFlight, msg: p.Error) -> None:
        """The agent's own failure, counted against the step's retry policy as run_agent
        counts a local agent's (the count travels in the heartbeat details)."""
        self._load(conn)
        retry = flight.task.retry
        failures = int(flight.progress.get("failures", 0)) + 1
        final = not msg.retryable or failures >= retry.max_attempts
        delay = None
        if not final:
            seconds = retry.initial_interval_seconds * retry.backoff ** (failures - 1)
            delay = timedelta(seconds=min(seconds, MAX_RETRY_DELAY_SECONDS))
        message = self.redact(msg.message)
        state = {**flight.progress, "failures": failures, "failed_attempt": flight.attempt}
        error = ApplicationError(
            message, type=msg.error_type, non_retryable=final, next_retry_delay=delay
        )
        if msg.retryable:  # not retryable: bad input or configuration, says nothing of health
            await self._record(conn, flight, failed=True)
        try:
            await flight.handle.fail(error, last_heartbeat_details=[state])
        except (RPCError, AsyncActivityCancelledError) as exc:
            log.warning("task %s: failure refused (%s)", flight.task_id, exc)
            self.metrics.outcomes.labels("stale").inc()
            return
        self.metrics.outcomes.labels("failed").inc()
        await self._event(flight, "step.failed", {"error": message, **self._who(conn)})

    async def _hand_back(self, conn: Connection, task_id: str, why: str) -> None:
        """Give a task back to Temporal as retryable, so another agent takes it now."""
        flight = conn.tasks.pop(task_id, None)
        if flight is None:
            return
        self._load(conn)
        agent = conn.agent.agent_id if conn.agent else conn.id
        message = f"remote agent {agent} {why} (node {self.node_id})"
        if not self.draining:  # an agent lost mid-task; a node shutting down is not its fault
            await self._record(conn, flight, failed=True)
        error = ApplicationError(message, type="RemoteDisconnected")
        with contextlib.suppress(RPCError, AsyncActivityCancelledError):
            await flight.handle.fail(error, last_heartbeat_details=[flight.progress])
        self.metrics.outcomes.labels("handed_back").inc()
        await self._event(flight, "step.failed", {"error": message, **self._who(conn)})

    async def _record(self, conn: Connection, flight: InFlight, *, failed: bool) -> None:
        """The agent's outcome on its circuit breaker; a change of state is published."""
        if conn.agent is None:
            return
        task = flight.task
        key = remote_agent_breaker(task.tenant, conn.agent.agent_id)
        breaker = self.breakers.get(key)
        try:
            status = await (breaker.record_failure() if failed else breaker.record_success())
        except RedisError as exc:
            log.warning("breaker %s not recorded: %r", key, exc)
            return
        if status.previous is not None:
            source = f"pool/{self.node_id}"
            await self.bus.publish(
                breaker_event(status, task.run_id, tenant=task.tenant, source=source)
            )

    async def _lifecycle(self, conn: Connection, kind: str, reason: str) -> None:
        """A connection's life on the events topic (and the `agents` channel)."""
        data: dict[str, Any] = {
            "role": conn.hello.role,
            "connection": conn.id,
            "node": self.node_id,
            "reason": reason,
            "code": conn.ws.close_code,
        }
        if conn.agent is not None:
            data |= {"agent": conn.agent.agent_id, "capabilities": conn.agent.capabilities}
        event = Event.model_validate(
            {
                "type": kind,
                "source": f"pool/{self.node_id}",
                "run_id": f"connection:{conn.id}",
                "tenant": conn.principal.tenant,
                "data": data,
            }
        )
        await self.bus.publish(event)

    async def _dead_letter(self, request: dict[str, Any], task: AgentTask, reason: str) -> None:
        """A dispatch that failed, with why, on the dead-letter topic."""
        self.metrics.errors.labels("dispatch_failed").inc()
        event = Event.model_validate(
            {
                "type": "dispatch.failed",
                "source": f"pool/{self.node_id}",
                "run_id": task.run_id,
                "tenant": task.tenant,
                "step": task.step_name,
                "data": {
                    "index": task.step_index,
                    "attempt": request.get("attempt"),
                    "agent": request.get("agent_id"),
                    "node": self.node_id,
                    "reason": reason,
                },
            }
        )
        await self.bus.publish(event, topic=self.settings.DEAD_LETTER_TOPIC)

    def _who(self, conn: Connection) -> dict[str, Any]:
        return {"agent": conn.agent.agent_id if conn.agent else None, "node": self.node_id}

    async def _event(self, flight: InFlight, kind: str, data: dict[str, Any]) -> None:
        task = flight.task
        event = Event.model_validate(
            {
                "type": kind,
                "source": f"pool/{self.node_id}",
                "run_id": task.run_id,
                "tenant": task.tenant,
                "step": task.step_name,
                "data": {"index": task.step_index, "attempt": flight.attempt, **data},
            }
        )
        await self.bus.publish(event)

    # shared state

    async def _refresh_loop(self) -> None:
        beats = 0
        while True:
            try:
                await self.registry.beat_node(
                    self.node_id, self.url, len(self.connections), self.draining
                )
                await self.registry.refresh(
                    [c.agent for c in self.connections.values() if c.agent is not None]
                )
                if beats % SHORTFALL_EVERY == SHORTFALL_EVERY - 1 and (
                    short := await self.shortfall()
                ):
                    log.warning("warm agents short of ACC_POOL_MIN_AGENTS: %s", short)
            except RedisError as exc:
                log.warning("registry not refreshed: %r", exc)
            beats += 1
            await asyncio.sleep(REFRESH_SECONDS)

    async def shortfall(self) -> dict[str, int]:
        """Warm agents missing per capability (ACC_POOL_MIN_AGENTS), across all nodes."""
        wanted = self.settings.POOL_MIN_AGENTS
        if not wanted:
            return {}
        have: dict[str, int] = {}
        tenants = {c.principal.tenant for c in self.connections.values()} | {self.settings.TENANT}
        for tenant in tenants:
            for agent in await self.registry.agents(tenant):
                for cap in agent.capabilities:
                    have[cap] = have.get(cap, 0) + 1
        short = {cap: n - have.get(cap, 0) for cap, n in wanted.items() if have.get(cap, 0) < n}
        for cap in wanted:
            self.metrics.short.labels(cap).set(short.get(cap, 0))
        return short

    # HTTP on the same port

    async def _http_request(self, ws: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == "/healthz":
            return ws.respond(200, "ok\n")
        if path == "/metrics":
            with contextlib.suppress(RedisError):
                await self.shortfall()
            response = ws.respond(200, generate_latest(self.metrics.registry).decode())
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = "text/plain; version=0.0.4"
            return response
        if path == "/readyz":
            problems: dict[str, Any] = {}
            try:
                await asyncio.wait_for(self.redis.ping(), 2)
                short = await self.shortfall()
            except (RedisError, TimeoutError) as exc:
                problems["redis"] = repr(exc)
                short = {}
            if self.draining:
                problems["draining"] = True
            body = {
                "ready": not problems,
                "node": self.node_id,
                "connections": len(self.connections),
                "agents_short": short,
                "events_feed": self.fanout.ready,
                "metrics_feed": self.metrics_feed.ready,
                **problems,
            }
            response = ws.respond(503 if problems else 200, json.dumps(body) + "\n")
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = "application/json"
            return response
        return None
