"""What feedback teaches: each rule's confidence, recalibrated per tenant and per team.

A rule's shipped confidence p is a prior belief that its findings are right, worth
`PRIOR_STRENGTH` (k = 10) observations: Beta(a0 = p*k, b0 = (1-p)*k). Every accepted or
modified suggestion counts as one success (the finding was right; a modified fix still
means the code needed changing), every rejected one as one failure. The calibrated
confidence is the posterior mean

    (a0 + accepted + modified) / (k + accepted + modified + rejected)

first over the feedback of the tenant's other teams, then, with that as the prior (again
worth k), over the team's own (each answer counts once): a team's habits move its
numbers, and a team without feedback inherits the rest of the tenant's. Ten rejections
of a 0.8 rule bring it to 0.4; ten acceptances of a 0.5 rule to 0.75.
"""

from __future__ import annotations

from dataclasses import dataclass

PRIOR_STRENGTH = 10.0


@dataclass(frozen=True)
class Counts:
    accepted: int = 0
    rejected: int = 0
    modified: int = 0

    @property
    def total(self) -> int:
        return self.accepted + self.rejected + self.modified

    @property
    def acceptance_rate(self) -> float | None:
        return (self.accepted + self.modified) / self.total if self.total else None

    def __sub__(self, other: Counts) -> Counts:
        return Counts(
            self.accepted - other.accepted,
            self.rejected - other.rejected,
            self.modified - other.modified,
        )

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.accepted + other.accepted,
            self.rejected + other.rejected,
            self.modified + other.modified,
        )


def posterior(prior: float, counts: Counts, strength: float = PRIOR_STRENGTH) -> float:
    """The Beta posterior mean of a rule whose prior mean is `prior`."""
    successes = counts.accepted + counts.modified
    return (prior * strength + successes) / (strength + counts.total)


def calibrated(prior: float, others: Counts, team: Counts) -> float:
    """The other teams' posterior, then the team's own feedback on top of it."""
    return posterior(posterior(prior, others), team)
