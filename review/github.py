"""A review as a GitHub pull-request review: one `POST /repos/{owner}/{repo}/pulls/{n}/
reviews` (REST API) with an inline comment per suggestion on the changed lines.

Comments go on the right side of the diff, anchored on the last line of the finding that
the diff changed (GitHub refuses comments on lines outside the pull request's hunks). A
one-line fix rides along as a ```suggestion block the author can commit from the page.
Findings the diff cannot anchor (a file not in the pull request) are listed in the
review's body instead. The review is a COMMENT review: it informs, it does not approve or
block (a CI check on `acc review`'s exit code does that)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from review import diffs
from review.models import Report, Suggestion

TARGET = re.compile(r"^(?P<owner>[\w.-]+)/(?P<repo>[\w.-]+)#(?P<number>\d+)$")
API_VERSION = "2022-11-28"
MAX_COMMENTS = 100  # a review with hundreds of comments is noise; the rest go in the body


class GitHubError(RuntimeError):
    """GitHub refused or did not answer the review."""


@dataclass(frozen=True)
class PullRequest:
    owner: str
    repo: str
    number: int

    @classmethod
    def parse(cls, text: str) -> PullRequest:
        match = TARGET.match(text.strip())
        if match is None:
            raise ValueError(f"{text!r} is not a pull request: write it as owner/repo#123")
        return cls(match["owner"], match["repo"], int(match["number"]))

    @property
    def path(self) -> str:
        return f"/repos/{self.owner}/{self.repo}/pulls/{self.number}/reviews"


def comment_body(s: Suggestion, fixed_line: str | None) -> str:
    cwe = f", {s.cwe}" if s.cwe else ""
    lines = [
        f"**{s.severity}** `{s.rule_id}` ({s.category}{cwe}, confidence {s.confidence:.2f})",
        "",
        s.message,
    ]
    if s.explanation:
        lines += ["", f"Why: {s.explanation}"]
    if fixed_line is not None:
        lines += ["", "```suggestion", fixed_line, "```"]
    elif s.alternatives:
        lines += ["", f"Try: {s.alternatives[0]}"]
    return "\n".join(lines)


def _fixed_line(s: Suggestion, source: bytes) -> str | None:
    """The flagged line with the fix applied, for a fix within one line."""
    if s.replacement is None or s.start_offset is None or s.end_offset is None:
        return None
    if s.line != s.end_line or "\n" in s.replacement:
        return None
    start = source.rfind(b"\n", 0, s.start_offset) + 1
    end = source.find(b"\n", s.end_offset)
    end = len(source) if end < 0 else end
    fixed = source[start : s.start_offset] + s.replacement.encode() + source[s.end_offset : end]
    return fixed.decode(errors="replace").rstrip("\r")


def build(report: Report, changed: dict[str, set[int]], commit: str, top: Path) -> dict[str, Any]:
    """The review's request body: commit_id, body, event and the inline comments."""
    root = Path(report.root)
    comments: list[dict[str, Any]] = []
    unanchored: list[Suggestion] = []
    sources: dict[str, bytes] = {}
    for s in report.suggestions:
        lines = changed.get(s.path, set())
        on_diff = (
            [] if lines == diffs.WHOLE_FILE else [n for n in lines if s.line <= n <= s.end_line]
        )
        if not on_diff or len(comments) >= MAX_COMMENTS:
            unanchored.append(s)
            continue
        if s.path not in sources:
            try:
                sources[s.path] = (root / s.path).read_bytes()
            except OSError:
                sources[s.path] = b""
        anchor = max(on_diff)
        fixed = _fixed_line(s, sources[s.path]) if anchor == s.line else None
        comments.append(
            {
                "path": (root / s.path).resolve().relative_to(top).as_posix(),
                "line": anchor,
                "side": "RIGHT",
                "body": comment_body(s, fixed),
            }
        )
    counts = report.counts()
    summary = ", ".join(f"{counts[k]} {k}" for k in ("error", "warning", "info") if k in counts)
    body = [
        f"acc review: {len(report.suggestions)} suggestions"
        + (f" ({summary})" if summary else "")
        + f" on the changes since {report.diff_ref or 'the base'}, {report.rules} rules."
    ]
    if unanchored:
        body += ["", "Outside the diff's lines:"]
        body += [
            f"- `{s.path}:{s.line}` {s.severity} `{s.rule_id}`: {s.message}" for s in unanchored
        ]
    return {"commit_id": commit, "body": "\n".join(body), "event": "COMMENT", "comments": comments}


def post(
    payload: dict[str, Any], target: PullRequest, *, api_url: str, token: str, timeout: float = 30
) -> dict[str, Any]:
    """Create the review; GitHub's answer (its `id` and `html_url`)."""
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": API_VERSION,
        "User-Agent": "acc-review",
    }
    url = api_url.rstrip("/") + target.path
    try:
        response = httpx.post(url, json=payload, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise GitHubError(f"GitHub at {api_url} did not answer: {exc}") from None
    if response.status_code >= 400:
        try:
            detail = response.json().get("message", response.text)
        except ValueError:
            detail = response.text
        hint = " (check ACC_GITHUB_TOKEN)" if response.status_code in (401, 403) else ""
        raise GitHubError(
            f"GitHub refused the review of {target.owner}/{target.repo}#{target.number}: "
            f"{response.status_code} {str(detail)[:300]}{hint}"
        )
    answer: dict[str, Any] = response.json()
    return answer
