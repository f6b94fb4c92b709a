"""Render the evaluation report as ONE self-contained HTML file: plotly.js embedded, no CDN.

Charts are built as plotly figures (the ``plotly`` package) and drawn by the embedded
plotly.js. A small inline script records, after drawing, how many charts rendered an
SVG and any script errors into ``#cf-render-status`` (read by the headless-browser test).
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;margin:0;
background:#f6f7f9;color:#1d2433}
header{background:#1f3b63;color:#fff;padding:18px 28px}
header h1{margin:0 0 4px;font-size:22px}header p{margin:0;opacity:.85;font-size:13px}
main{padding:16px 28px;max-width:1400px}
section{background:#fff;border:1px solid #e1e4ea;border-radius:8px;padding:14px 18px;margin:14px 0}
h2{font-size:17px;margin:4px 0 10px}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:12px}
.chart{min-height:340px}
table{border-collapse:collapse;font-size:12.5px;width:100%}
th,td{border-bottom:1px solid #eceff3;padding:4px 8px;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}th{background:#f1f3f6;position:sticky;top:0}
.kpis{display:flex;gap:14px;flex-wrap:wrap}
.kpi{background:#fff;border:1px solid #e1e4ea;border-radius:8px;padding:10px 16px;min-width:140px}
.kpi b{display:block;font-size:22px}.kpi span{font-size:12px;color:#5b6475}
.note{font-size:12px;color:#5b6475}
.warning{font-size:13px;color:#8a4b00;background:#fff4e0;padding:6px 10px;border-radius:4px}
details summary{cursor:pointer;font-size:13px;margin:6px 0}
"""

_PRELUDE = """
window.__cfErrors = [];
window.addEventListener('error', function (e) {
  window.__cfErrors.push(String(e.message || e.type || e));
});
window.addEventListener('unhandledrejection', function (e) {
  window.__cfErrors.push('unhandled rejection: ' + String(e.reason));
});
(function () {
  var orig = console.error;
  console.error = function () {
    window.__cfErrors.push(Array.prototype.join.call(arguments, ' '));
    if (orig) { orig.apply(console, arguments); }
  };
})();
"""

_DRAW = """
(function () {
  var figures = JSON.parse(document.getElementById('cf-figures').textContent);
  var done = [];
  Object.keys(figures).forEach(function (id) {
    var fig = figures[id];
    try {
      done.push(Plotly.newPlot(id, fig.data, fig.layout,
        {displaylogo: false, responsive: true}));
    } catch (err) { window.__cfErrors.push(id + ': ' + err); }
  });
  function report() {
    var charts = document.querySelectorAll('.chart');
    var drawn = 0;
    charts.forEach(function (c) { if (c.querySelector('svg.main-svg')) { drawn += 1; } });
    var status = document.getElementById('cf-render-status');
    status.textContent = JSON.stringify({charts: charts.length, rendered: drawn,
      svgs: document.querySelectorAll('svg.main-svg').length, errors: window.__cfErrors});
    status.setAttribute('data-done', '1');
  }
  Promise.all(done).then(report, function (err) {
    window.__cfErrors.push('plot failed: ' + err); report();
  });
})();
"""

_COLORS = ("#1f6fb2", "#e07b39", "#3a9e5c", "#c8453b", "#7b5ea7", "#8c6d4f", "#d16ba5",
           "#6b7280", "#b8a422", "#1fa7b8")


def _esc(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return html.escape(f"{value:,.2f}".rstrip("0").rstrip(".") if value % 1 else
                           f"{value:,.0f}")
    if isinstance(value, int):
        return f"{value:,}"
    return html.escape(str(value))


def _pct(value: Any) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def _table(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]],
           pct: Sequence[str] = ()) -> str:
    if not rows:
        return '<p class="note">None in this period.</p>'
    head = "".join(f"<th>{html.escape(title)}</th>" for _, title in columns)
    body = []
    for row in rows:
        cells = "".join(f"<td>{_pct(row.get(k)) if k in pct else _esc(row.get(k))}</td>"
                        for k, _ in columns)
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "title": {"text": title, "font": {"size": 14}}, "margin": {"l": 60, "r": 20, "t": 40,
                                                                    "b": 50},
        "height": 340, "paper_bgcolor": "#fff", "plot_bgcolor": "#fff",
        "font": {"family": "system-ui, sans-serif", "size": 11}, "colorway": list(_COLORS),
        "legend": {"orientation": "h", "y": -0.18},
    }
    layout.update(extra)
    return layout


def figures(report: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every chart of the report as a plotly figure dict (built with plotly.graph_objects)."""
    import plotly.graph_objects as go  # type: ignore[import-untyped]

    figs: dict[str, Any] = {}
    stages = [s for s in report["stages"] if s["outcome"] != "lost"]
    figs["chart-funnel"] = go.Figure(
        go.Funnel(y=[s["label"] for s in stages], x=[s["entered"] for s in stages],
                  textinfo="value+percent initial", marker={"color": _COLORS[0]}),
        layout=_layout("Stage funnel: deals that entered each stage"))
    timed = [s for s in report["stages"] if s["box"]]
    box = go.Figure(layout=_layout("Time in stage (days): min, quartiles, max",
                                   showlegend=False))
    for i, s in enumerate(timed):
        b = s["box"]
        box.add_trace(go.Box(name=s["label"], q1=[b["q1"]], median=[b["median"]],
                             q3=[b["q3"]], lowerfence=[b["min"]], upperfence=[b["max"]],
                             x=[s["label"]], marker={"color": _COLORS[i % len(_COLORS)]}))
    figs["chart-time-box"] = box
    hist = go.Figure(layout=_layout("Time in stage: distribution of completed stays",
                                    barmode="overlay", xaxis={"title": {"text": "days"}},
                                    yaxis={"title": {"text": "stays"}}))
    for s in timed:
        h = s["histogram"]
        width = h["width_days"]
        hist.add_trace(go.Bar(name=s["label"], x=[i * width + width / 2
                                                  for i in range(len(h["counts"]))],
                              y=h["counts"], width=width, opacity=0.6))
    figs["chart-time-hist"] = hist
    rules = report["rules"][:25]
    names = [r["rule"] for r in rules][::-1]
    rule_fig = go.Figure(layout=_layout("Rule firings (top 25 rules by times fired)",
                                        barmode="group", height=max(340, 26 * len(rules) + 80),
                                        margin={"l": 190, "r": 20, "t": 40, "b": 50}))
    for key, title in (("fired", "fired"), ("blocked", "blocked a move"),
                       ("led_to_approval", "led to an approval")):
        rule_fig.add_trace(go.Bar(name=title, y=names, x=[r[key] for r in rules][::-1],
                                  orientation="h"))
    figs["chart-rules"] = rule_fig
    weeks = report["weeks"]
    x = [w["week"] for w in weeks]
    trend = go.Figure(layout=_layout("Week by week: deals created, won, lost; moves blocked",
                                     xaxis={"title": {"text": "week starting"}}))
    for key, title in (("created", "created"), ("won", "won"), ("lost", "lost"),
                       ("blocked", "moves blocked"), ("needs_approval", "needed approval")):
        trend.add_trace(go.Scatter(name=title, x=x, y=[w[key] for w in weeks],
                                   mode="lines+markers", marker={"size": 4}))
    figs["chart-trends"] = trend
    rate = go.Figure(layout=_layout("Week by week: win rate and blocked rate",
                                    yaxis={"tickformat": ".0%"}))
    for key, title in (("win_rate", "win rate (won / closed)"),
                       ("blocked_rate", "blocked / decided moves")):
        rate.add_trace(go.Scatter(name=title, x=x, y=[w[key] for w in weeks],
                                  mode="lines+markers", marker={"size": 4},
                                  connectgaps=False))
    figs["chart-rates"] = rate
    top = [r["rule"] for r in report["rules"][:6] if r["fired"]]
    per: dict[str, dict[str, int]] = {r: {} for r in top}
    for row in report["week_rules"]:
        if row["rule"] in per:
            per[row["rule"]][row["week"]] = row["fired"]
    rule_trend = go.Figure(layout=_layout("Week by week: firings of the most frequent rules"))
    for rule in top:
        rule_trend.add_trace(go.Scatter(name=rule, x=x, y=[per[rule].get(w, 0) for w in x],
                                        mode="lines"))
    figs["chart-rule-trends"] = rule_trend
    owners = report["owners"]
    owner_fig = go.Figure(layout=_layout("Deals per owner: won, lost, open", barmode="stack"))
    for key in ("won", "lost", "open"):
        owner_fig.add_trace(go.Bar(name=key, x=[o["owner"] for o in owners],
                                   y=[o[key] for o in owners]))
    figs["chart-owners"] = owner_fig
    gates = report["gates"]
    gate_fig = go.Figure(layout=_layout("Approval gates: requests and decisions",
                                        barmode="group"))
    for key in ("requests", "grants", "refusals", "pending"):
        gate_fig.add_trace(go.Bar(name=key, x=[g["gate"] for g in gates],
                                  y=[g[key] for g in gates]))
    figs["chart-gates"] = gate_fig
    return {k: f.to_plotly_json() for k, f in figs.items()}


def render_html(report: Mapping[str, Any], *, title: str = "Sales-cycle evaluation") -> str:
    """The whole report page: KPIs, charts, tables; plotly.js inlined."""
    from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]
    from plotly.utils import PlotlyJSONEncoder  # type: ignore[import-untyped]

    figs = figures(report)
    # in a <script>, "</script" ends it and "<!--" changes how it is parsed: the data's
    # <, > and & are written as JSON escapes (a deal owner "<!--<script>" broke the page)
    data = (json.dumps(figs, cls=PlotlyJSONEncoder)
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))
    meta = report["generated_from"]
    period = meta["period"]
    policy = meta.get("policy")
    stages = report["stages"]
    first = stages[0]["entered"] if stages else 0
    won = sum(w.get("won", 0) for w in report["weeks"])  # deals, each counted once
    lost = sum(w.get("lost", 0) for w in report["weeks"])
    blocked = sum(w["blocked"] for w in report["weeks"])
    requested = sum(w["requested"] for w in report["weeks"])
    kpis = [("events in period", _esc(meta["events_in_period"])),
            (f"entered {stages[0]['label']}" if stages else "deals", _esc(first)),
            ("won", _esc(won)), ("lost", _esc(lost)),
            ("win rate (won / closed)", _pct(won / (won + lost)) if won + lost else "–"),
            ("moves blocked", f"{_esc(blocked)} of {_esc(requested)}")]
    never = report.get("never_fired")
    never_html = ('<p class="note">Give the policy (<code>-p</code>) to list the rules that '
                  'never fired.</p>' if never is None else _table(
                      never, [("rule", "rule"), ("effect", "effect"),
                              ("evaluated", "evaluated")]))
    sub = (f"{_esc(period.get('from'))} → {_esc(period.get('to'))} · "
           + (f"policy {_esc(policy['id'])} {_esc(policy['version'])} · " if policy else "")
           + f"{_esc(meta['events'])} audit events read")
    charts = {k: f'<div class="chart" id="{k}"></div>' for k in figs}
    warned = "".join(f'<p class="warning">⚠ {_esc(w)}</p>' for w in meta.get("warnings", ()))
    body = f"""
<header><h1>{html.escape(title)}</h1><p>{sub}</p>{warned}</header>
<main>
<div class="kpis">{''.join(f'<div class="kpi"><b>{v}</b><span>{html.escape(k)}</span></div>'
                           for k, v in kpis)}</div>
<section><h2>Stages</h2>
<div class="grid">{charts['chart-funnel']}{charts['chart-time-box']}</div>
{charts['chart-time-hist']}
{_table(stages, [("label", "stage"), ("entered", "entered"), ("next", "next stage"),
                 ("converted", "converted"), ("conversion", "conversion"),
                 ("lost_from", "lost from here"), ("exits_timed", "stays timed"),
                 ("median_days", "median days"), ("p90_days", "p90 days"),
                 ("max_days", "max_days"), ("over_max_days", "over max_days")],
        pct=("conversion",))}
</section>
<section><h2>Rules</h2>{charts['chart-rules']}
{_table(report['rules'], [("rule", "rule"), ("kind", "kind"), ("effect", "effect"),
                          ("evaluated", "evaluated"), ("fired", "fired"),
                          ("fire_rate", "fire rate"), ("blocked", "blocked a move"),
                          ("led_to_approval", "led to approval")], pct=("fire_rate",))}
<h2>Rules that never fired in the period (candidates for review)</h2>{never_html}
</section>
<section><h2>Approval gates</h2>
<div class="grid">{charts['chart-gates']}<div>
{_table(report['gates'], [("gate", "gate"), ("requests", "requests"), ("grants", "grants"),
                          ("refusals", "refusals"), ("pending", "pending"),
                          ("grant_rate", "grant rate"),
                          ("median_days_to_decision", "median days to decision"),
                          ("p90_days_to_decision", "p90 days")], pct=("grant_rate",))}
</div></div></section>
<section><h2>Owners (team performance)</h2>{charts['chart-owners']}
{_table(report['owners'], [("owner", "owner"), ("deals", "deals"), ("won", "won"),
                           ("lost", "lost"), ("open", "open"), ("conversion", "win rate"),
                           ("blocked_decisions", "moves blocked"),
                           ("deals_with_violations", "deals with violations")],
        pct=("conversion",))}
</section>
<section><h2>Trends</h2><div class="grid">{charts['chart-trends']}{charts['chart-rates']}</div>
{charts['chart-rule-trends']}
<details><summary>Week-by-week table</summary>
{_table(report['weeks'], [("week", "week"), ("created", "created"), ("won", "won"),
                          ("lost", "lost"), ("requested", "moves asked"),
                          ("blocked", "blocked"), ("needs_approval", "needed approval"),
                          ("rule_fired", "rules fired"), ("approval_requests", "approvals asked"),
                          ("approval_grants", "granted"), ("approval_refusals", "refused")])}
</details></section>
<p class="note">How each figure is derived: docs/evaluation.md. Generated by cycleflow report.
</p>
<pre id="cf-render-status" class="note" data-done="0"></pre>
</main>"""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style>"
            f"<script>{_PRELUDE}</script><script>{get_plotlyjs()}</script></head>"
            f"<body>{body}"
            f'<script type="application/json" id="cf-figures">{data}</script>'
            f"<script>{_DRAW}</script></body></html>\n")


def report_json(report: Mapping[str, Any]) -> bytes:
    """The report as indented JSON for BI tools."""
    return orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)


__all__ = ["figures", "render_html", "report_json"]
