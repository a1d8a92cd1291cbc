"""Consensus: every participant proposes; then rounds of voting until agreement or the
round limit. Each voter reads a JSON ballot (task, round, proposals with ids, the previous
round's votes) and answers with a proposal id (`p1`, or `{"vote": "p1"}`).

Agreement rules: majority (more than half of the voters), unanimous (every voter), or
weighted (the winner's share of the participants' weights reaches `threshold`). The run
always completes with a JSON record of how agreement was reached, or why not; its quality
is the winning share (0 without agreement).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from core.contracts import WORKFLOW_OF_PATTERN, AgentResult, Output, RunInput, RunState
    from core.specs import ConsensusSpec, Participant
    from workflows.base import PatternWorkflow
    from workflows.scoring import parse_vote


@workflow.defn(name=WORKFLOW_OF_PATTERN["consensus"])
class ConsensusWorkflow(PatternWorkflow):
    @workflow.run
    async def run(self, inp: RunInput) -> RunState:
        return await self.execute(inp)

    async def body(self) -> Output:
        spec = self.inp.spec
        assert isinstance(spec, ConsensusSpec)
        proposals = await self._propose(spec)
        ids = list(proposals)
        rounds: list[dict[str, Any]] = []
        previous: dict[str, str | None] = {}
        for number in range(1, spec.max_rounds + 1):
            ballot = json.dumps(
                {
                    "task": spec.input,
                    "round": number,
                    "previous_votes": previous,
                    "proposals": [
                        {"id": i, "by": p[0], "text": p[1]} for i, p in proposals.items()
                    ],
                }
            )
            answers = await asyncio.gather(
                *(self._vote(p, ballot, number) for p in spec.participants)
            )
            previous = {
                p.name: parse_vote(a.output.text, ids) if a is not None else None
                for p, a in zip(spec.participants, answers, strict=True)
            }
            winner, share, reached = self._tally(spec, previous)
            rounds.append(
                {
                    "round": number,
                    "votes": previous,
                    "leader": winner,
                    "share": round(share, 4),
                    "agreed": reached,
                }
            )
            self.note(
                f"round {number}: {winner or 'nobody'} leads with {share:.0%}"
                + (" - agreement" if reached else "")
            )
            if reached and winner is not None:
                self.quality = round(share, 4)
                return _record(
                    True, spec, rounds, proposals, winner, f"{spec.rule} reached in round {number}"
                )
        self.quality = 0.0
        reason = f"no {spec.rule} agreement after {spec.max_rounds} round(s)"
        return _record(False, spec, rounds, proposals, None, reason)

    async def _propose(self, spec: ConsensusSpec) -> dict[str, tuple[str, str]]:
        async def one(p: Participant) -> AgentResult | ApplicationError:
            try:
                return await self.agent_step(
                    p.propose, Output.of(spec.input), group="proposals", name=f"{p.name}-propose"
                )
            except ApplicationError as err:
                return err

        answers = await asyncio.gather(*(one(p) for p in spec.participants))
        proposals: dict[str, tuple[str, str]] = {}
        for p, answer in zip(spec.participants, answers, strict=True):
            if isinstance(answer, AgentResult):
                proposals[f"p{len(proposals) + 1}"] = (p.name, answer.output.text.strip())
            else:
                self.note(f"{p.name} made no proposal: {answer.message}")
        if not proposals:
            raise ApplicationError(
                "no participant made a proposal", type="NoProposals", non_retryable=True
            )
        return proposals

    async def _vote(self, p: Participant, ballot: str, number: int) -> AgentResult | None:
        """A voter whose step fails abstains for the round."""
        try:
            return await self.agent_step(
                p.vote, Output.of(ballot), group=f"round-{number}", name=f"{p.name}-vote"
            )
        except ApplicationError as err:
            self.note(f"{p.name} abstained in round {number}: {err.message}")
            return None

    @staticmethod
    def _tally(spec: ConsensusSpec, votes: dict[str, str | None]) -> tuple[str | None, float, bool]:
        weights = {
            p.name: (p.weight if spec.rule == "weighted" else 1.0) for p in spec.participants
        }
        totals: dict[str, float] = {}
        for voter, choice in votes.items():
            if choice is not None:
                totals[choice] = totals.get(choice, 0.0) + weights[voter]
        if not totals:
            return None, 0.0, False
        winner = max(sorted(totals), key=lambda c: totals[c])
        share = totals[winner] / sum(weights.values())
        reached = {
            "majority": share > 0.5,
            "unanimous": share >= 1.0,
            "weighted": share >= spec.threshold,
        }[spec.rule]
        return winner, share, reached


def _record(
    agreed: bool,
    spec: ConsensusSpec,
    rounds: list[dict[str, Any]],
    proposals: dict[str, tuple[str, str]],
    winner: str | None,
    reason: str,
) -> Output:
    return Output.of(
        json.dumps(
            {
                "agreed": agreed,
                "rule": spec.rule,
                "reason": reason,
                "winner": {"id": winner, "by": proposals[winner][0], "text": proposals[winner][1]}
                if winner
                else None,
                "proposals": {i: {"by": p[0], "text": p[1]} for i, p in proposals.items()},
                "rounds": rounds,
            },
            indent=2,
        )
    )
