"""`/v1/reports` as JSON, CSV and PDF over rollups the real sink wrote; the PDF rendered
to an image (pdfium) and checked for its text and its charts."""

from __future__ import annotations

import asyncio
import csv
import io
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pytest
import uvicorn
from PIL import Image
from typer.testing import CliRunner

from analytics.sink import EventSink
from api.main import create_app
from cli.main import app as cli_app
from core.settings import Settings
from tests.conftest import api_client
from tests.integration.analytics.test_aggregator import migrated, until
from tests.integration.analytics.test_analytics_api import run

pytestmark = pytest.mark.integration


async def test_a_report_has_a_row_per_step_as_json_and_csv(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    tenant = f"acme-{uuid.uuid4().hex[:6]}"
    now = datetime.now(UTC)
    events = [
        e
        for minutes_ago in range(1, 6)
        for e in run(tenant, now - timedelta(minutes=minutes_ago), "llm:a", 200, 0.5, True)
    ]
    async with migrated(settings) as engine:
        await EventSink(engine).apply(events)
        async with api_client(settings, ("runs:read",), tenant) as http:
            as_json = await http.get("/v1/reports", params={"range": "15m"})
            as_csv = await http.get("/v1/reports", params={"range": "15m", "format": "csv"})
    report = as_json.json()
    assert as_json.status_code == 200 and len(report["rows"]) == 15
    assert sum(row["runs_completed"] for row in report["rows"]) == 5
    assert report["agents"][0]["agent"] == "llm:a" and report["patterns"][0]["runs_started"] == 5
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in as_csv.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert len(rows) == 15 and sum(float(r["cost_usd"]) for r in rows) == pytest.approx(2.5)
    assert list(rows[0]) == report["columns"]


def _pixels_near(image: Image.Image, box: tuple[int, int, int, int], rgb: tuple[int, ...]) -> int:
    """How many pixels of the box are within 40 of the colour on each channel."""
    region = np.asarray(image.crop(box).convert("RGB"), dtype=np.int16)
    return int((np.abs(region - np.array(rgb, dtype=np.int16)) <= 40).all(axis=-1).sum())


async def test_a_pdf_report_has_its_title_range_and_charts(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    tenant = f"acme-{uuid.uuid4().hex[:6]}"
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    hour = {"start": (now - timedelta(hours=1)).isoformat(), "end": now.isoformat()}
    events = [
        e
        for minutes_ago in range(1, 40)
        for i in range(1 + minutes_ago % 4)
        for e in run(
            tenant, now - timedelta(minutes=minutes_ago), "llm:a", 100 * (1 + i), 0.01, i != 2
        )
    ]
    async with migrated(settings) as engine:
        await EventSink(engine).apply(events)
        async with api_client(settings, ("runs:read",), tenant) as http:
            answer = await http.get("/v1/reports", params={**hour, "format": "pdf"})
        async with api_client(settings, ("runs:read",), "someone-else") as http:
            empty = await http.get("/v1/reports", params={**hour, "format": "pdf"})

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["content-disposition"].endswith('.pdf"')
    document = pdfium.PdfDocument(answer.content)
    page = document[0]
    text = page.get_textpage().get_text_bounded()
    start = now - timedelta(hours=1)
    assert f"acc report: {tenant}" in text
    assert f"{start:%Y-%m-%d %H:%M} UTC to {now:%Y-%m-%d %H:%M} UTC" in text
    assert "Agents" in text and "llm:a" in text and "pipeline" in text

    scale = 2  # 144 dpi
    image = page.render(scale=scale).to_pil()
    px = scale * 72 / 25.4  # pixels per mm
    width, height = image.size
    # Each chart's box (two a row, from 52 mm down, 90 x 60 mm) holds its series' colour:
    # completed runs' bars and the completion-rate line in blue, failed runs in red.
    boxes = [
        (int((10 + col * 95) * px), int((52 + row * 64) * px),
         int((100 + col * 95) * px), int((112 + row * 64) * px))
        for row in (0, 1) for col in (0, 1)
    ]  # fmt: skip
    blue, red = (0x25, 0x63, 0xEB), (0xDC, 0x26, 0x26)
    in_charts = [_pixels_near(image, box, blue) for box in boxes]
    assert all(n > 2000 for n in in_charts)
    assert _pixels_near(image, boxes[0], red) > 1000
    # The page is not blank, and white space stays white (a margin strip).
    assert _pixels_near(image, (0, 0, width, height), (255, 255, 255)) < width * height * 0.97
    assert _pixels_near(image, (0, 0, int(8 * px), height), (255, 255, 255)) == int(8 * px) * height

    # Another tenant's report: the same layout, no bars.
    # (only the legends' swatches: a few hundred pixels).
    quiet_document = pdfium.PdfDocument(empty.content)
    quiet = quiet_document[0]
    assert "nothing in this range" in quiet.get_textpage().get_text_bounded()
    quiet_image = quiet.render(scale=scale).to_pil()
    assert all(_pixels_near(quiet_image, box, blue) < 500 for box in boxes)
    document.close()
    quiet_document.close()


async def test_acc_report_writes_a_pdf_from_the_api(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings()
    tenant = f"acme-{uuid.uuid4().hex[:6]}"
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    events = [
        e
        for m in range(1, 10)
        for e in run(tenant, now - timedelta(minutes=m), "llm:a", 50, 0.1, True)
    ]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with migrated(settings) as engine:  # before the API's own migration (SQLite locks)
        await EventSink(engine).apply(events)
    api = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(api, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    out = tmp_path / "month.pdf"
    try:
        await until(lambda: server.started, timeout=20)
        _, key = await api.state.authenticator.keys.create("cli", tenant, ["runs:read"])
        env = {"ACC_API_URL": f"http://127.0.0.1:{port}", "ACC_API_KEY": key}
        args = [
            "report",
            "--start",
            (now - timedelta(minutes=30)).isoformat(),
            "--end",
            now.isoformat(),
        ]
        written = await asyncio.to_thread(
            CliRunner().invoke, cli_app, [*args, "--format", "pdf", "-o", str(out)], env=env
        )
        wrong = await asyncio.to_thread(
            CliRunner().invoke, cli_app, [*args, "--format", "docx"], env=env
        )
    finally:
        server.should_exit = True
        await serving
    assert written.exit_code == 0, written.output
    assert "PDF report" in written.output and out.read_bytes().startswith(b"%PDF-")
    document = pdfium.PdfDocument(str(out))
    assert f"acc report: {tenant}" in document[0].get_textpage().get_text_bounded()
    document.close()
    assert wrong.exit_code == 1 and "csv, json or pdf" in wrong.output
