"""The run's HTML report: one self-contained file (styles inline, the timeline as inline SVG,
screenshots as data: URIs), rendered by a jinja2 template, every secret value redacted.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import jinja2

from .record import RESULTS, RunRecord, scenario_label
from .redact import Redactor

TEMPLATES = Path(__file__).parent / "templates"
COLORS = {"passed": "#2e7d32", "failed": "#c62828", "error": "#ad1457", "skipped": "#9e9e9e",
          "interrupted": "#ef6c00", "not run": "#cfd8dc", "stage work": "#1565c0",
          "stage work interrupted": "#ef6c00"}


@dataclass
class Bar:
    lane: int
    label: str
    x: float
    width: float
    color: str
    href: str
    title: str


@dataclass
class Timeline:
    width: int
    height: int
    left: int
    lane_height: int
    bars: list[Bar]
    ticks: list[tuple[float, str]]
    lanes: list[tuple[int, str, str]]  # (lane, label, href)


def timeline(record: RunRecord, width: int = 960, left: int = 300, lane_height: int = 22) -> Timeline:
    """Geometry of the timeline chart: one lane per stage the lab applied, then one per
    scenario that started; x is wall time since the run started."""
    t0 = record.started
    end = record.finished or max([t0] + [r.finished or r.started or t0 for r in record.rows.values()])
    span = max(end - t0, 1e-6)
    plot = width - left - 20
    scale = plot / span
    lanes: list[tuple[int, str, str]] = []
    bars: list[Bar] = []

    def add(label: str, start: float, stop: float, color: str, href: str, title: str) -> None:
        lane = len(lanes)
        lanes.append((lane, label, href))
        x = left + (start - t0) * scale
        bars.append(Bar(lane, label, x, max(2.0, (stop - start) * scale), color, href, title))

    rows = {r.nodeid: i for i, r in enumerate(record.ordered())}
    for w in record.work:
        stop = w.finished or end
        color = COLORS["stage work interrupted" if w.interrupted else "stage work"]
        state = "interrupted" if w.interrupted else "applied"
        add(f"lab: stage {w.label}", w.started, stop, color, "#stages",
            f"the lab {state} stage {w.label} in {stop - w.started:.1f}s")
    for row in record.ordered():
        if row.started is None:
            continue
        stop = row.finished or end
        add(f"{row.stage.key} {row.stage.slug}: {scenario_label(row)}"[:48], row.started, stop,
            COLORS[row.result], f"#row-{rows[row.nodeid]}",
            f"{row.result} in {row.seconds:.1f}s: {row.scenario}")
    step = _tick_step(span)
    ticks = [(left + k * step * scale, f"{k * step:g}s") for k in range(int(span // step) + 1)]
    return Timeline(width, 40 + lane_height * max(1, len(lanes)), left, lane_height, bars, ticks, lanes)


def _tick_step(span: float) -> float:
    raw = span / 8
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    return next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)


def _data_uri(path: str) -> Optional[str]:
    try:
        blob = Path(path).read_bytes()
    except OSError:
        return None
    return "data:image/png;base64," + base64.b64encode(blob).decode("ascii")


def _when(ts: Optional[float]) -> str:
    if ts is None:
        return "—"
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def render(record: RunRecord, *, header: dict, faults: list[dict], redact: Redactor,
           exitstatus: int, grades: Optional[list[dict]] = None) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             autoescape=jinja2.select_autoescape(["html", "j2"]),
                             undefined=jinja2.StrictUndefined)
    env.filters["redact"] = redact
    rows = record.ordered()
    index = {r.nodeid: i for i, r in enumerate(rows)}
    shots = [{"n": k, "row": index.get(s.nodeid), "caption": s.caption,
              "file": os.path.basename(s.path), "path": s.path, "uri": _data_uri(s.path),
              "scenario": record.rows[s.nodeid].scenario if s.nodeid in record.rows else s.nodeid}
             for k, s in enumerate(record.shots)]
    html = env.get_template("report.html.j2").render(
        header=header, rows=rows, index=index, counts=record.counts(), results=RESULTS,
        colors=COLORS, timeline=timeline(record), faults=faults, shots=shots, grades=grades or [],
        interrupted=record.interrupted, in_progress=record.in_progress(),
        started=_when(record.started), finished=_when(record.finished),
        seconds=(record.finished or record.started) - record.started, exitstatus=exitstatus,
        label=scenario_label,
        shots_of=lambda i: [s for s in shots if s["row"] == i])
    return redact(html)  # a last pass over everything, template text included


def write_report(path: Path, record: RunRecord, **kw) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render(record, **kw), encoding="utf-8")
    os.replace(tmp, path)
    return path
