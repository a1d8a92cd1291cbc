"""The circuit-breaker state machine (`BreakerRecord`, pure, clock passed in) against a naive
model, driven by hypothesis through random calls and clock jumps; plus the backoff helpers."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from agents.breakers import BreakerConfig, BreakerRecord, BreakerStatus
from agents.limits import RateLimited, parse_retry_after, retry_delay
from core.settings import load_settings

pytestmark = pytest.mark.unit


class BreakerModel:
    """The rules as the issue states them, with every failure kept and nothing optimised."""

    def __init__(self, config: BreakerConfig) -> None:
        self.config = config
        self.state = "closed"
        self.failure_log: list[float] = []
        self.opened_at = 0.0
        self.probe_sent_at: float | None = None

    def open(self, now: float) -> None:
        self.state, self.opened_at, self.failure_log, self.probe_sent_at = "open", now, [], None

    def allow(self, now: float) -> bool:
        if self.state == "open" and now - self.opened_at >= self.config.reset_seconds:
            self.state = "half_open"
        if self.state == "half_open":
            probe_lost = (
                self.probe_sent_at is None
                or now - self.probe_sent_at >= self.config.probe_timeout_seconds
            )
            if probe_lost:
                self.probe_sent_at = now
            return probe_lost
        return self.state == "closed"

    def success(self, now: float) -> None:
        if self.state == "half_open":
            self.state, self.failure_log, self.probe_sent_at = "closed", [], None

    def failure(self, now: float) -> None:
        if self.state == "half_open":
            self.open(now)
        elif self.state == "closed":
            self.failure_log.append(now)
            window = [t for t in self.failure_log if now - t < self.config.window_seconds]
            if len(window) >= self.config.failure_threshold:
                self.open(now)


class BreakerMachine(RuleBasedStateMachine):
    @initialize(
        threshold=st.integers(1, 5),
        window=st.sampled_from([1.0, 5.0, 30.0]),
        reset=st.sampled_from([1.0, 10.0]),
        probe=st.sampled_from([2.0, 60.0]),
    )
    def configure(self, threshold: int, window: float, reset: float, probe: float) -> None:
        self.config = BreakerConfig(threshold, window, reset, probe)
        self.model = BreakerModel(self.config)
        self.record = BreakerRecord()
        self.now = 1_000.0

    @rule(seconds=st.sampled_from([0.0, 0.25, 1.0, 4.0, 9.5, 10.0, 61.0]))
    def wait(self, seconds: float) -> None:
        self.now += seconds

    @rule()
    def allow(self) -> None:
        self.record, allowed = self.record.allow(self.now, self.config)
        assert allowed == self.model.allow(self.now)

    @rule()
    def success(self) -> None:
        self.record = self.record.success(self.now, self.config)
        self.model.success(self.now)

    @rule()
    def failure(self) -> None:
        self.record = self.record.failure(self.now, self.config)
        self.model.failure(self.now)

    @precondition(lambda self: hasattr(self, "record"))
    @invariant()
    def agrees_with_the_model(self) -> None:
        assert self.record.state == self.model.state
        assert self.record.allows(self.now, self.config) == copy.deepcopy(self.model).allow(
            self.now
        )
        assert BreakerRecord.decode(self.record.encode()) == self.record
        status = BreakerStatus.of("agent:a", self.record, self.now, self.config)
        assert status.failures <= self.config.failure_threshold - (status.state == "closed")


TestBreakerStateMachine = BreakerMachine.TestCase


def test_the_lifecycle_with_a_fake_clock() -> None:
    config = BreakerConfig(failure_threshold=3, window_seconds=10, reset_seconds=30)
    record = BreakerRecord()
    for now in (0, 5, 11):  # the first failure has left the window when the third comes
        record = record.failure(now, config)
    assert record.state == "closed" and record.failures == (5, 11)
    record = record.failure(12, config)
    assert record.state == "open" and not record.allows(41.9, config)
    record, allowed = record.allow(42, config)
    assert allowed and record.state == "half_open"
    assert record.allow(43, config) == (record, False)  # one probe at a time
    reopened = record.failure(44, config)
    assert reopened.state == "open" and reopened.opened_at == 44
    closed = record.success(44, config)
    assert closed == BreakerRecord(changed_at=44)
    status = BreakerStatus.of("backend:llm", reopened, 50, config)
    assert (status.state, status.allows, status.retry_at) == ("open", False, 74)


def test_a_probe_that_never_reports_frees_its_slot() -> None:
    config = BreakerConfig(failure_threshold=1, reset_seconds=1, probe_timeout_seconds=5)
    record, _ = BreakerRecord().failure(0, config).allow(1, config)
    assert record.allow(5.9, config)[1] is False
    assert record.allow(6, config)[1] is True


def test_config_comes_from_settings() -> None:
    settings = load_settings(
        BREAKER_FAILURE_THRESHOLD=7, BREAKER_WINDOW_SECONDS=9, BREAKER_RESET_SECONDS=11
    )
    config = BreakerConfig.from_settings(settings)
    assert (config.failure_threshold, config.window_seconds, config.reset_seconds) == (7, 9, 11)


@given(st.integers(1, 30), st.floats(0, 1))
def test_backoff_is_full_jitter_capped_and_retry_after_wins(attempt: int, draw: float) -> None:
    delay = retry_delay(attempt, base=0.5, cap=20, jitter=lambda: draw)
    assert 0 <= delay <= min(20, 0.5 * 2 ** (attempt - 1))
    assert retry_delay(attempt, retry_after=3.5, jitter=lambda: draw) == 3.5


def test_retry_after_header_as_seconds_or_date() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC).timestamp()
    assert parse_retry_after("12", now) == 12.0
    assert parse_retry_after(format_datetime(datetime(2030, 1, 1, 0, 0, 30, tzinfo=UTC)), now) == 30
    assert parse_retry_after("soon", now) is None and parse_retry_after(None, now) is None
    error = RateLimited(2.5, "openai")
    assert error.status_code == 429 and error.details["retry_after_seconds"] == 2.5
