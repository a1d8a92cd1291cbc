"""Feature flags through OpenFeature (the vendor-neutral API, `openfeature-sdk`), evaluated
per tenant by flagd's own evaluation engine (`openfeature-flagd-core`: variants, targeting
rules and `fractional` percentage rollouts, bucketed by a murmur3 hash of the tenant) over
a flagd-format file (ACC_FLAGS_FILE, JSON or YAML). The file is read again when it changes,
so a rollout goes 0% -> 25% -> 100% without a restart; a file that does not parse is
reported and the last good definitions stay in force.

    {"flags": {"analytics-v2": {"state": "ENABLED",
        "variants": {"on": true, "off": false}, "defaultVariant": "off",
        "targeting": {"fractional": [{"var": "targetingKey"}, ["on", 25], ["off", 75]]}}}}

Without a file every flag is off (its default).
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.contrib.tools.flagd.core import FlagdCore
from openfeature.evaluation_context import EvaluationContext
from openfeature.flag_evaluation import FlagEvaluationDetails, FlagResolutionDetails
from openfeature.hook import Hook, HookContext
from openfeature.provider import AbstractProvider, Metadata

from core.settings import Settings

log = logging.getLogger(__name__)

_DOMAINS = itertools.count(1)
# The roadmap's release flags; a file may define more.
ROADMAP_FLAGS = ("ws-pooling-enabled", "analytics-v2", "ai-review-beta", "k8s-autoscale")


class FileFlagProvider(AbstractProvider):
    """An OpenFeature provider over a flagd-format file, re-read when its mtime changes."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._core = FlagdCore()
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self.definitions: dict[str, Any] = {}
        self.error: str | None = None
        self.reloads = 0
        self.refresh()

    def get_metadata(self) -> Metadata:
        return Metadata(name="acc-flag-file")

    def refresh(self) -> None:
        """Load the file when it changed since the last look (cheap: one stat)."""
        if self.path is None:
            return
        try:
            stat = self.path.stat()
        except OSError as exc:
            self._fail(f"cannot read {self.path}: {exc}")
            return
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return
        with self._lock:
            if stamp == self._stamp:
                return
            try:
                loaded = yaml.safe_load(self.path.read_text()) or {}
                flags = loaded.get("flags") if isinstance(loaded, dict) else None
                if not isinstance(flags, dict):
                    raise ValueError("it needs a top-level 'flags' mapping")
                self._core.set_flags(loaded)
            except Exception as exc:
                self._stamp = stamp  # do not parse the same bad file on every evaluation
                self._fail(f"{self.path} was not loaded, the last good flags stay: {exc}")
                return
            self._stamp = stamp
            self.definitions = flags
            self.error = None
            self.reloads += 1
            log.info("feature flags loaded from %s: %s", self.path, ", ".join(sorted(flags)))

    def _fail(self, message: str) -> None:
        if message != self.error:
            log.error("feature flags: %s", message)
        self.error = message

    def rollout(self, name: str) -> float | None:
        """The share of tenants (0..1) a boolean flag is on for, read from its definition:
        a `fractional` rule's weights, else its state and default variant; None when its
        targeting is some other rule."""
        flag = self.definitions.get(name)
        if not isinstance(flag, dict):
            return 0.0
        variants = flag.get("variants", {})
        if flag.get("state") == "DISABLED":
            return 0.0
        targeting = flag.get("targeting") or {}
        if not targeting:
            return 1.0 if variants.get(flag.get("defaultVariant")) is True else 0.0
        buckets = targeting.get("fractional") if isinstance(targeting, dict) else None
        if not isinstance(buckets, list) or len(targeting) != 1:
            return None
        weights = [b for b in buckets if isinstance(b, list) and b and isinstance(b[0], str)]
        total = sum(b[1] if len(b) > 1 else 1 for b in weights)
        on = sum(b[1] if len(b) > 1 else 1 for b in weights if variants.get(b[0]) is True)
        return on / total if total else 0.0

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        self.refresh()
        return self._core.resolve_boolean_value(flag_key, default_value, evaluation_context)

    def resolve_string_details(
        self, flag_key: str, default_value: str, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[str]:
        self.refresh()
        return self._core.resolve_string_value(flag_key, default_value, evaluation_context)

    def resolve_integer_details(
        self, flag_key: str, default_value: int, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[int]:
        self.refresh()
        return self._core.resolve_integer_value(flag_key, default_value, evaluation_context)

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        self.refresh()
        return self._core.resolve_float_value(flag_key, default_value, evaluation_context)

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Sequence[Any] | Mapping[str, Any],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Sequence[Any] | Mapping[str, Any]]:
        self.refresh()
        return self._core.resolve_object_value(flag_key, default_value, evaluation_context)


class EvaluationCounter(Hook):
    """Counts evaluations by flag and value (an OpenFeature hook), for `/metrics`; a flag
    the file does not define counts with the default it answered."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()

    def finally_after(
        self, hook_context: HookContext, details: Any, hints: Mapping[str, Any]
    ) -> None:
        self.counts[(hook_context.flag_key, str(details.value).lower())] += 1


class Flags:
    """The process's flags: an OpenFeature client of its own domain, the provider behind it
    and the evaluation counts."""

    def __init__(self, settings: Settings) -> None:
        self.provider = FileFlagProvider(settings.FLAGS_FILE)
        self.counter = EvaluationCounter()
        domain = f"acc-flags-{next(_DOMAINS)}"  # its own provider, never another's
        api.set_provider(self.provider, domain=domain)
        self.client: OpenFeatureClient = api.get_client(domain)
        self.client.add_hooks([self.counter])

    def names(self) -> list[str]:
        self.provider.refresh()
        return sorted({*ROADMAP_FLAGS, *self.provider.definitions})

    def enabled(self, name: str, tenant: str) -> bool:
        """Whether `name` is on for `tenant` (off when undefined)."""
        return self.client.get_boolean_value(name, False, _context(tenant))

    def evaluate(self, tenant: str) -> dict[str, FlagEvaluationDetails[bool]]:
        """Every known flag's details for `tenant`."""
        return {
            name: self.client.get_boolean_details(name, False, _context(tenant))
            for name in self.names()
        }


def _context(tenant: str) -> EvaluationContext:
    return EvaluationContext(targeting_key=tenant, attributes={"tenant": tenant})
