"""Leaderboard reports: Markdown, CSV, JSON, a static HTML page and PNG plots."""

from __future__ import annotations

import csv
import html
import io
import math
import os
from collections.abc import Mapping
from typing import Any

from dialog_gym.fileio import atomic_write_text
from dialog_gym.leaderboard import write_json_atomic

PLOTS = ("normalized_score.png", "return_ci.png", "success_rate.png", "scorer_breakdown.png")


def _fmt(x: Any, nd: int = 2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def _k(report: Mapping[str, Any]) -> int:
    return int(report["meta"]["k"])


def ranking_rows(report: Mapping[str, Any], complete: bool = True) -> list[list[str]]:
    """Rows of the overall ranking: agents scored on every env (``complete``) or the rest."""
    return [[_fmt(r["rank"]), r["agent"], _fmt(r["mean_normalized_score"]),
             str(r["envs_scored"]), ", ".join(r["failed_envs"]) or "-"]
            for r in report["ranking"] if r.get("complete", True) == complete]


RANK_HEADER = ["rank", "agent", "normalized score", "envs", "failed on"]
ENV_RANK_HEADER = ["env", "rank", "agent", "mean return", "success", "normalized"]

#: what the columns mean, shown under the tables
EXPLANATIONS = (
    "**normalized score**: (mean return - random's) / (expert's - random's) on each env, "
    "so random = 0 and the scripted expert = 1; the overall score is its mean over the "
    "envs. Only agents run on every env are ranked overall; agents run on fewer envs are "
    "listed apart, unranked (compare them in the per-environment rankings). "
    "**mean return [95% CI]**: episode return with a bootstrap interval. "
    "**success [95% CI]**: share of episodes whose goal was met, Wilson interval. "
    "**pass^k**: the chance that k reruns of the same scenario all succeed (tau-bench), "
    "averaged over scenarios. **turns**: agent replies per episode. "
    "**violations/ep**: rule violations per episode. **score:NAME**: the scorer's "
    "per-episode sum before weighting.")


def env_ranking_rows(report: Mapping[str, Any]) -> list[list[str]]:
    """Rows of the per-environment rankings (by mean return)."""
    rows = []
    for e, ranked in report.get("env_rankings", {}).items():
        for r in ranked:
            rows.append([e, str(r["rank"]), r["agent"], _fmt(r["mean_return"]),
                         f"{r['success_rate']:.0%}", _fmt(r.get("normalized_score"))])
    return rows


def scorer_names(report: Mapping[str, Any]) -> list[str]:
    """Every scorer that appears in some cell, sorted."""
    return sorted({n for c in report["cells"] for n in c.get("scores", {})})


def cell_rows(report: Mapping[str, Any]) -> list[list[str]]:
    """Rows of the per-environment table.

    Envs in order; within an env, agents by their mean return there (ties and failed
    cells: by overall rank).
    """
    order = {r["agent"]: i for i, r in enumerate(report["ranking"])}
    k = _k(report)
    scorers = scorer_names(report)
    rows = []

    def key(c: Mapping[str, Any]) -> tuple:
        ok = c.get("status") == "ok"
        return (report["meta"]["envs"].index(c["env_id"]), not ok,
                -c["mean_return"] if ok else 0.0, order.get(c["agent"], 1e9))

    for c in sorted(report["cells"], key=key):
        if c.get("status") != "ok":
            rows.append([c["env_id"], c["agent"], "failed: " + c.get("error", "?")[:80],
                         "", "", "", "", "", *["" for _ in scorers]])
            continue
        lo, hi = c["return_ci95"]
        slo, shi = c["success_ci95"]
        rows.append([
            c["env_id"], c["agent"],
            f"{c['mean_return']:.2f} [{lo:.2f}, {hi:.2f}]",
            f"{c['success_rate']:.0%} [{slo:.0%}, {shi:.0%}]",
            _fmt(c.get(f"pass^{k}")),
            _fmt(c["mean_turns"], 1),
            _fmt(c["violations_per_episode"]),
            _fmt(c.get("normalized_score")),
            *[_fmt(c.get("scores", {}).get(n)) for n in scorers],
        ])
    return rows


def cell_header(k: int, scorers: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Header of the per-environment table."""
    return ["env", "agent", "mean return [95% CI]", "success [95% CI]", f"pass^{k}",
            "turns", "violations/ep", "normalized", *[f"score:{n}" for n in scorers]]


def markdown(report: Mapping[str, Any]) -> str:
    """The leaderboard as Markdown (ranking, then one table over all cells)."""
    def table(header: list[str], rows: list[list[str]]) -> str:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)

    m = report["meta"]
    trained_on = (f" Trainable agents were trained and evaluated on {', '.join(m['train_envs'])}"
                  " only." if m.get("train_envs") else "")
    if m.get("env_kwargs"):
        trained_on += " Env arguments: " + "; ".join(
            f"{e} " + ", ".join(f"{k}={v!r}" for k, v in kw.items())
            for e, kw in m["env_kwargs"].items()) + "."
    return "\n".join([
        "# dialog-gym leaderboard",
        "",
        f"{len(m['agents'])} agents x {len(m['envs'])} envs, {m['seeds']} held-out scenarios "
        f"(seeds from {m['first_seed']}) x {m['k']} reruns each; normalized score: random = 0, "
        f"expert = 1 per env.{trained_on}",
        "",
        "## Ranking (agents run on every environment)",
        "",
        table(RANK_HEADER, ranking_rows(report)),
        "",
        *(["## Agents run on fewer environments (not ranked overall)", "",
           table(RANK_HEADER, ranking_rows(report, complete=False)), ""]
          if ranking_rows(report, complete=False) else []),
        "## Per-environment rankings",
        "",
        table(ENV_RANK_HEADER, env_ranking_rows(report)),
        "",
        "## All cells",
        "",
        table(cell_header(_k(report), scorer_names(report)), cell_rows(report)),
        "",
        EXPLANATIONS,
        "",
    ])


def csv_text(report: Mapping[str, Any]) -> str:
    """One row per cell with every metric and per-scorer means."""
    scorers = sorted({n for c in report["cells"] for n in c.get("scores", {})})
    k = _k(report)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["env", "agent", "status", "mean_return", "return_ci_low", "return_ci_high",
                "success_rate", "success_ci_low", "success_ci_high", f"pass^{k}",
                "mean_turns", "violations_per_episode", "normalized_score",
                *[f"score:{s}" for s in scorers], "error"])
    for c in sorted(report["cells"], key=lambda c: (c["env_id"], c["agent"])):
        ok = c.get("status") == "ok"
        m = c if ok else {}
        w.writerow([
            c["env_id"], c["agent"], c.get("status"), m.get("mean_return"),
            *(c["return_ci95"] if ok else [None, None]), m.get("success_rate"),
            *(c["success_ci95"] if ok else [None, None]), m.get(f"pass^{k}"),
            m.get("mean_turns"), m.get("violations_per_episode"), m.get("normalized_score"),
            *[c.get("scores", {}).get(s) for s in scorers], c.get("error", ""),
        ])
    return buf.getvalue()


def contribution(cell: Mapping[str, Any] | None, scorer: str) -> float:
    """A scorer's weighted contribution to a cell's mean return (weight x mean score sum).

    Cells written before weights were recorded count every scorer with weight 1.
    """
    if not cell:
        return 0.0
    weight = cell.get("reward_weights", {}).get(scorer, 1.0)
    return float(weight) * float(cell.get("scores", {}).get(scorer, 0.0))


def plots(report: Mapping[str, Any], out: str) -> list[str]:
    """Write the PNG plots; returns their file names."""
    from dialog_gym.extras import require

    matplotlib = require("matplotlib", "the leaderboard plots")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    envs = report["meta"]["envs"]
    agents = [r["agent"] for r in report["ranking"]]
    by = {(c["agent"], c["env_id"]): c for c in report["cells"] if c.get("status") == "ok"}
    os.makedirs(out, exist_ok=True)
    width = 0.8 / max(1, len(agents))
    x = np.arange(len(envs))
    colors = plt.get_cmap("tab20")

    def bars(metric: str, ci: str | None, title: str, ylabel: str, fname: str) -> None:
        fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(envs) + 4.5), 4.2))
        for j, a in enumerate(agents):
            vals, err = [], [[], []]
            for e in envs:
                c = by.get((a, e))
                v = c.get(metric) if c else None
                vals.append(np.nan if v is None else v)
                if ci and c:
                    lo, hi = c[ci]
                    err[0].append(max(0.0, v - lo))
                    err[1].append(max(0.0, hi - v))
                else:
                    err[0].append(0.0)
                    err[1].append(0.0)
            ax.bar(x + (j - (len(agents) - 1) / 2) * width, vals, width, label=a,
                   color=colors(j % 20), yerr=err if ci else None, capsize=2)
        ax.set_xticks(x)
        ax.set_xticklabels([e.replace("Dialog-", "").replace("-v0", "") for e in envs],
                           rotation=20, ha="right")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.axhline(0, color="black", linewidth=0.6)
        # outside the axes: inside, it hides bars whatever corner it picks
        ax.legend(fontsize=7, ncol=1, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  borderaxespad=0.0)
        fig.tight_layout()
        fig.savefig(os.path.join(out, fname), dpi=110)
        plt.close(fig)

    bars("normalized_score", None, "Normalized score (random = 0, expert = 1)", "score",
         PLOTS[0])
    bars("mean_return", "return_ci95", "Mean return with 95% bootstrap CI", "return", PLOTS[1])
    bars("success_rate", "success_ci95", "Success rate with 95% Wilson CI", "success",
         PLOTS[2])

    all_scorers = scorer_names(report)
    distinct = plt.get_cmap("tab10")  # same colour for a scorer in every panel
    scorer_color = {n: distinct(j % 10) for j, n in enumerate(all_scorers)}
    fig, axes = plt.subplots(1, len(envs), figsize=(max(6, 4.2 * len(envs)), 4.4),
                             squeeze=False)
    for i, e in enumerate(envs):
        ax = axes[0][i]
        xs = np.arange(len(agents))
        pos, neg = np.zeros(len(agents)), np.zeros(len(agents))
        drawn: set[str] = set()
        for s in all_scorers:
            vals = np.array([contribution(by.get((a, e)), s) for a in agents])
            if not np.any(vals):
                continue
            up, down = np.clip(vals, 0, None), np.clip(vals, None, 0)
            ax.bar(xs, up, 0.7, bottom=pos, color=scorer_color[s], label=s)
            ax.bar(xs, down, 0.7, bottom=neg, color=scorer_color[s])
            pos, neg = pos + up, neg + down
            drawn.add(s)
        totals = [by[(a, e)]["mean_return"] if (a, e) in by else np.nan for a in agents]
        ax.scatter(xs, totals, marker="_", s=220, color="black", zorder=3,
                   label="mean return")
        ax.margins(y=0.08)
        ax.set_xticks(xs)
        ax.set_xticklabels(agents, rotation=45, ha="right", fontsize=7)
        ax.set_title(e.replace("Dialog-", "").replace("-v0", ""), fontsize=9)
        ax.axhline(0, color="black", linewidth=0.6)
        if i == 0:
            ax.set_ylabel("weight x per-episode score sum")
        if drawn:
            ax.legend(fontsize=6)
    fig.suptitle("Reward breakdown: weight x score of each scorer\n"
                 "(each stack adds up to the agent's mean return, marked -)", fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(out, PLOTS[3]), dpi=110)
    plt.close(fig)
    return list(PLOTS)


_SORT_JS = """
function sortKey(text) {
  var n = parseFloat(text.replace(/[^0-9eE.+-].*$/, ''));
  return isNaN(n) ? null : n;
}
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('thead th').forEach(function (th) {
    th.style.cursor = 'pointer';
    th.addEventListener('click', function () {
      var col = th.cellIndex, body = table.tBodies[0];
      var rows = Array.from(body.rows), asc = th.dataset.asc !== 'true';
      rows.sort(function (a, b) {
        var x = a.cells[col] ? a.cells[col].innerText : '';
        var y = b.cells[col] ? b.cells[col].innerText : '';
        var nx = sortKey(x), ny = sortKey(y), c;
        if (nx !== null && ny !== null) c = nx - ny;
        else if (nx !== null) c = -1;       // numbers before text and blanks
        else if (ny !== null) c = 1;
        else c = x.localeCompare(y);
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
      table.querySelectorAll('thead th').forEach(function (h) { delete h.dataset.asc; });
      th.dataset.asc = asc;
    });
  });
});
"""


def html_page(report: Mapping[str, Any]) -> str:
    """A static page: the sortable tables and the plots."""
    def table(header: list[str], rows: list[list[str]], tid: str) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                       for r in rows)
        return (f'<table class="sortable" id="{tid}"><thead><tr>{head}</tr></thead>'
                f"<tbody>{body}</tbody></table>")

    m = report["meta"]
    imgs = "".join(f'<figure><img src="plots/{p}" alt="{p}"><figcaption>{p}</figcaption>'
                   f"</figure>" for p in PLOTS)
    rest = ranking_rows(report, complete=False)
    partial = ("<h2>Agents run on fewer environments (not ranked overall)</h2>"
               + table(RANK_HEADER, rest, "partial") if rest else "")
    explain = html.escape(EXPLANATIONS).replace("**", "")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dialog-gym leaderboard</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 14px; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: left; }}
th {{ background: #f0f0f0; }}
tr:nth-child(even) td {{ background: #fafafa; }}
figure {{ display: inline-block; margin: 0.5em; }} img {{ max-width: 640px; }}
</style></head><body>
<h1>dialog-gym leaderboard</h1>
<p>{len(m['agents'])} agents x {len(m['envs'])} environments, {m['seeds']} held-out scenarios
x {m['k']} reruns. Normalized score: random = 0, expert = 1 per environment. dialog-gym
{html.escape(str(m['dialog_gym_version']))}, commit {html.escape(str(m['git_commit']))}.
Click a column header to sort.</p>
<h2>Ranking (agents run on every environment)</h2>
{table(RANK_HEADER, ranking_rows(report), "ranking")}
{partial}
<h2>Per-environment rankings</h2>
{table(ENV_RANK_HEADER, env_ranking_rows(report), "env-rankings")}
<h2>All cells</h2>
{table(cell_header(_k(report), scorer_names(report)), cell_rows(report), "cells")}
<p>{explain}</p>
<h2>Plots</h2>
{imgs}
<script>{_SORT_JS}</script>
</body></html>
"""


def write_reports(report: Mapping[str, Any], out: str) -> dict[str, str]:
    """Write leaderboard.{md,csv,json}, index.html and plots/ under ``out`` (atomically)."""
    paths = {}

    def put(name: str, text: str) -> None:
        path = os.path.join(out, name)
        atomic_write_text(path, text)
        paths[name] = path

    write_json_atomic(os.path.join(out, "leaderboard.json"), report)
    paths["leaderboard.json"] = os.path.join(out, "leaderboard.json")
    put("leaderboard.md", markdown(report))
    put("leaderboard.csv", csv_text(report))
    plots(report, os.path.join(out, "plots"))
    put("index.html", html_page(report))
    return paths
