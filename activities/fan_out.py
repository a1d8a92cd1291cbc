"""The activities of large fan-outs: a batch's results written to the artifact store, and
the reducers over every batch (workflows/fan_out.py, workflows/scatter_gather.py).

Outputs of fan-out jobs are always in the artifact store, so a reducer reads them from
there, however many there are, and writes its answer there: no workflow payload grows
with the number of jobs.
"""

from __future__ import annotations

import json
from collections import Counter

from pydantic import TypeAdapter
from temporalio import activity

from core.artifacts import ArtifactStore
from core.contracts import (
    REDUCE_BATCHES,
    STORE_BATCH,
    BatchResults,
    JobResult,
    ReduceInput,
    ReduceResult,
)

JOB_RESULTS: TypeAdapter[list[JobResult]] = TypeAdapter(list[JobResult])


class FanOutActivities:
    def __init__(self, artifacts: ArtifactStore) -> None:
        self._artifacts = artifacts

    @activity.defn(name=STORE_BATCH)
    async def store_batch(self, batch: BatchResults) -> str:
        """Keep a batch's job results; returns their artifact id."""
        content = JOB_RESULTS.dump_json(batch.results)
        return await self._artifacts.put(batch.tenant, content, "application/json")

    @activity.defn(name=REDUCE_BATCHES)
    async def reduce_batches(self, inp: ReduceInput) -> ReduceResult:
        """collect: every answer, as one JSON list; majority: the most common answer."""
        answers: list[tuple[JobResult, str]] = []
        for n, ref in enumerate(inp.batches):
            for job in await self._results(inp.tenant, ref):
                if job.output is not None:
                    answers.append((job, await self._artifacts.read_output(inp.tenant, job.output)))
            activity.heartbeat(n)
        answers.sort(key=lambda item: item[0].index)
        if inp.reducer == "majority":
            counts = Counter(text.strip() for _, text in answers)
            winner, votes = counts.most_common(1)[0]
            note = f"majority: {votes} of {len(answers)} answers agree"
            quality = round(votes / len(answers), 4)
            return ReduceResult(
                output=await self._artifacts.to_output(inp.tenant, winner),
                quality=quality,
                note=note,
            )
        collected = [
            {
                "agent": job.agent,
                "task": job.task_index,
                "output": text,
                "artifact": job.output.artifact_id if job.output else None,
            }
            for job, text in answers
        ]
        return ReduceResult(
            output=await self._artifacts.to_output(inp.tenant, json.dumps(collected, indent=2))
        )

    async def _results(self, tenant: str, ref: str) -> list[JobResult]:
        artifact = await self._artifacts.get(tenant, ref)
        if artifact is None:
            raise LookupError(f"the results of a batch ({ref}) are missing from the artifacts")
        return JOB_RESULTS.validate_json(artifact.content)
