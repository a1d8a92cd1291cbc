"""`acc review --lsp`: the review engine as a Language Server (pygls, stdio), so VS Code,
Neovim or any LSP editor shows findings as the user works.

- On open and on save the document's file is reviewed (one semgrep run, the shipped rules,
  the team's standards and calibrated confidences) and its findings are published as
  diagnostics: severity, the rule id as the code, and category, CWE and confidence in the
  message. Each review is stored like an API review (`review_reports`).
- Code actions: a finding with a fix offers it as a quick fix (a WorkspaceEdit of the
  flagged range) while the text is still what was reviewed; every finding offers
  "dismiss". Both carry the `acc.review.feedback` command, which the editor runs when the
  action is applied: it stores accept / reject through the API's feedback store
  (`review_feedback`), so the rule's confidence for the team learns from the editor too.
  A dismissed finding's diagnostic is withdrawn.

The tenant is ACC_TENANT, the team ACC_REVIEW_TEAM (or `initializationOptions.team`); the
database is ACC_DATABASE_URL (a SQLite file under ACC_DATA_DIR by default)."""

from __future__ import annotations

import asyncio
import getpass
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path
from pygls.workspace.position_codec import PositionCodec
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import create_engine, migrate
from core.settings import Settings
from review import semgrep, standards
from review.engine import ReviewInputError, review
from review.models import Report, ReviewRequest, Suggestion
from review.store import ReviewStore

FEEDBACK = "acc.review.feedback"
SOURCE = "acc review"
SEVERITY = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "info": types.DiagnosticSeverity.Information,
}


@dataclass
class Reviewed:
    review_id: str
    report: Report
    lines: list[bytes]  # the file as reviewed: semgrep's columns count its bytes
    dismissed: set[str]


class ReviewLanguageServer(LanguageServer):
    def __init__(self, settings: Settings) -> None:
        super().__init__("acc-review", "0.1.0")
        self.settings = settings
        self.team = settings.REVIEW_TEAM
        self.reviews: dict[str, Reviewed] = {}
        self._engine: AsyncEngine | None = None
        self._migrated = asyncio.Lock()

    async def store(self) -> ReviewStore:
        async with self._migrated:
            if self._engine is None:
                engine = create_engine(self.settings)
                await migrate(engine, self.settings.DATABASE_SCHEMA)
                self._engine = engine
        return ReviewStore(self._engine)

    def locate(self, name: str) -> tuple[Path, Path]:
        """The file and its root: the innermost workspace folder holding it, else its folder."""
        path = Path(name).resolve()
        roots = [self.workspace.root_path, *(to_fs_path(f) for f in self.workspace.folders)]
        holding = [Path(r).resolve() for r in roots if r]
        holding = [r for r in holding if path.is_relative_to(r)]
        return path, max(holding, key=lambda p: len(p.parts)) if holding else path.parent

    async def review_document(self, uri: str) -> None:
        name = to_fs_path(uri)
        if name is None:
            return
        path, root = self.locate(name)
        settings = self.settings
        try:
            store = await self.store()
            team = await store.standards(settings.TENANT, self.team)
            team = team or standards.for_root(root, settings.REVIEW_STANDARDS_FILE)
            calibration = await store.calibration(settings.TENANT, self.team)
            report = await asyncio.to_thread(
                review,
                ReviewRequest(root=str(root), paths=[path.relative_to(root).as_posix()]),
                standards=team,
                calibration=calibration,
                semgrep_binary=settings.REVIEW_SEMGREP,
                max_file_bytes=settings.REVIEW_MAX_FILE_BYTES,
                timeout=settings.REVIEW_TIMEOUT_SECONDS,
            )
            review_id = await store.save(settings.TENANT, self.team, report)
            lines = (await asyncio.to_thread(path.read_bytes)).split(b"\n")
        except (
            OSError,
            ReviewInputError,
            standards.StandardsError,
            semgrep.SemgrepUnavailable,
        ) as exc:
            self.window_show_message(
                types.ShowMessageParams(type=types.MessageType.Error, message=f"acc: {exc}")
            )
            return
        self.reviews[uri] = Reviewed(review_id, report, lines, set())
        self.publish(uri)

    def publish(self, uri: str) -> None:
        reviewed = self.reviews.get(uri)
        codec = self.workspace.position_codec
        diagnostics = [] if reviewed is None else diagnostics_of(reviewed, codec)
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics)
        )

    def code_actions(self, params: types.CodeActionParams) -> list[types.CodeAction]:
        uri = params.text_document.uri
        reviewed = self.reviews.get(uri)
        if reviewed is None:
            return []
        document = self.workspace.get_text_document(uri)
        codec = self.workspace.position_codec
        actions: list[types.CodeAction] = []
        for s in live(reviewed):
            where = range_of(s, reviewed.lines, codec)
            if not overlaps(where, params.range):
                continue
            diagnostic = diagnostic_of(s, where, reviewed.review_id)
            start = document.offset_at_position(where.start)
            end = document.offset_at_position(where.end)
            if s.replacement is not None and document.source[start:end] == s.snippet:
                actions.append(
                    types.CodeAction(
                        title=f"acc: {fix_title(s)}",
                        kind=types.CodeActionKind.QuickFix,
                        diagnostics=[diagnostic],
                        is_preferred=True,
                        edit=types.WorkspaceEdit(
                            changes={uri: [types.TextEdit(range=where, new_text=s.replacement)]}
                        ),
                        command=feedback_command("accept", reviewed.review_id, s, uri),
                    )
                )
            actions.append(
                types.CodeAction(
                    title=f"acc: dismiss {s.rule_id} here (not a problem)",
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[diagnostic],
                    command=feedback_command("reject", reviewed.review_id, s, uri),
                )
            )
        return actions

    async def record_feedback(self, argument: dict[str, Any]) -> dict[str, Any]:
        review_id, suggestion_id = str(argument["review_id"]), str(argument["suggestion_id"])
        action = str(argument.get("action", "accept"))
        if action not in ("accept", "reject", "modify"):
            raise ValueError(f"action {action!r}: use accept, reject or modify")
        store = await self.store()
        tenant = self.settings.TENANT
        found = await store.get(tenant, review_id)
        if found is None:
            raise ValueError(f"review {review_id} not found")
        team, report = found
        suggestion = next((s for s in report.suggestions if s.id == suggestion_id), None)
        if suggestion is None:
            raise ValueError(f"review {review_id} has no suggestion {suggestion_id}")
        comment = argument.get("comment")
        await store.add_feedback(
            tenant,
            team,
            review_id,
            suggestion,
            action,  # type: ignore[arg-type]  # checked above
            None if comment is None else str(comment),
            f"lsp:{getpass.getuser()}",
        )
        confidence = (await store.calibration(tenant, team)).get(suggestion.rule_id)
        uri = argument.get("uri")
        reviewed = self.reviews.get(str(uri)) if uri else None
        if reviewed is not None and reviewed.review_id == review_id:
            reviewed.dismissed.add(suggestion_id)  # fixed or rejected: no longer shown
            self.publish(str(uri))
        return {"rule_id": suggestion.rule_id, "action": action, "confidence": confidence}

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()


def live(reviewed: Reviewed) -> list[Suggestion]:
    return [s for s in reviewed.report.suggestions if s.id not in reviewed.dismissed]


def range_of(s: Suggestion, lines: list[bytes], codec: PositionCodec) -> types.Range:
    """semgrep's 1-based lines and byte columns (end exclusive) as the protocol's 0-based
    lines and characters in the client's units (UTF-16 unless it chose otherwise)."""

    def position(line: int, column: int) -> types.Position:
        text = lines[line - 1] if 0 < line <= len(lines) else b""
        prefix = text[: max(column - 1, 0)].decode(errors="replace")
        return types.Position(line=line - 1, character=codec.client_num_units(prefix))

    return types.Range(start=position(s.line, s.column), end=position(s.end_line, s.end_column))


def overlaps(a: types.Range, b: types.Range) -> bool:
    def key(p: types.Position) -> tuple[int, int]:
        return (p.line, p.character)

    return key(a.start) <= key(b.end) and key(b.start) <= key(a.end)


def diagnostic_of(s: Suggestion, where: types.Range, review_id: str) -> types.Diagnostic:
    cwe = f", {s.cwe}" if s.cwe else ""
    return types.Diagnostic(
        range=where,
        severity=SEVERITY[s.severity],
        code=s.rule_id,
        source=SOURCE,
        message=f"{s.message} [{s.category}{cwe}, confidence {s.confidence:.2f}]",
        data={"review_id": review_id, "suggestion_id": s.id},
    )


def diagnostics_of(reviewed: Reviewed, codec: PositionCodec) -> list[types.Diagnostic]:
    return [
        diagnostic_of(s, range_of(s, reviewed.lines, codec), reviewed.review_id)
        for s in live(reviewed)
    ]


def fix_title(s: Suggestion) -> str:
    after = (s.replacement or "").strip().splitlines()
    shown = after[0][:60] if after else "(remove)"
    return f"replace with `{shown}` ({s.rule_id})"


def feedback_command(action: str, review_id: str, s: Suggestion, uri: str) -> types.Command:
    title = "record the fix as accepted" if action == "accept" else "record the finding as wrong"
    argument = {"review_id": review_id, "suggestion_id": s.id, "action": action, "uri": uri}
    return types.Command(title=title, command=FEEDBACK, arguments=[argument])


def build(settings: Settings) -> ReviewLanguageServer:
    server = ReviewLanguageServer(settings)

    @server.feature(types.INITIALIZE)
    def initialize(ls: ReviewLanguageServer, params: types.InitializeParams) -> None:
        options = params.initialization_options
        if isinstance(options, dict) and isinstance(options.get("team"), str):
            ls.team = options["team"]

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    async def did_open(ls: ReviewLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
        await ls.review_document(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    async def did_save(ls: ReviewLanguageServer, params: types.DidSaveTextDocumentParams) -> None:
        await ls.review_document(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: ReviewLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.reviews.pop(params.text_document.uri, None)
        ls.publish(params.text_document.uri)

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]),
    )
    def code_action(
        ls: ReviewLanguageServer, params: types.CodeActionParams
    ) -> list[types.CodeAction]:
        return ls.code_actions(params)

    @server.command(FEEDBACK)
    async def feedback(ls: ReviewLanguageServer, *arguments: Any) -> dict[str, Any]:
        if len(arguments) != 1 or not isinstance(arguments[0], dict):
            raise ValueError(f"{FEEDBACK} takes one object: review_id, suggestion_id, action")
        return await ls.record_feedback(arguments[0])

    @server.feature(types.SHUTDOWN)
    async def shutdown(ls: ReviewLanguageServer, params: None) -> None:
        await ls.close()

    return server


def serve(settings: Settings) -> None:
    """Speak LSP on stdin/stdout until the editor says exit."""
    build(settings).start_io()
