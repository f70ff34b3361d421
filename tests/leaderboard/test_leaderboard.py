import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from dialog_gym.agents import Agent, agent_registry
from dialog_gym.leaderboard import LeaderboardConfig, pass_hat_k, run_leaderboard, wilson_ci

AGENTS = ["expert", "random", "echo"]
ENVS = ["Dialog-CustomerService-v0", "Dialog-Corpus-v0"]


def _cfg(out, **kw):
    base = dict(agents=AGENTS, envs=ENVS, seeds=3, k=2, workers=1, out=str(out))
    base.update(kw)
    return LeaderboardConfig(**base)


def _tables(out):
    return {name: open(os.path.join(out, name), encoding="utf-8").read()
            for name in ["leaderboard.md", "leaderboard.csv"]}


def test_statistics_helpers():
    lo, hi = wilson_ci(0, 10)
    assert lo == 0.0 and 0.25 < hi < 0.35
    assert pass_hat_k([[True, True], [True, False]], 2) == 0.5
    assert pass_hat_k([[True, True, False]], 2) == pytest.approx(1 / 3)
    assert pass_hat_k([[True, True, False]], 1) == pytest.approx(2 / 3)


def test_two_runs_with_the_same_seeds_give_identical_tables(tmp_path):
    run_leaderboard(_cfg(tmp_path / "a"))
    run_leaderboard(_cfg(tmp_path / "b", workers=2))
    assert _tables(tmp_path / "a") == _tables(tmp_path / "b")
    report = json.loads((tmp_path / "a" / "leaderboard.json").read_text())
    ranks = {r["agent"]: r["rank"] for r in report["ranking"]}
    assert ranks["expert"] == 1
    assert report["meta"]["seeds"] == 3 and report["meta"]["git_commit"]
    assert all(report["meta"]["reward_signatures"][e] for e in ENVS)
    # the corpus env is evaluated on its test split, and the tables say so
    assert report["meta"]["env_kwargs"] == {"Dialog-Corpus-v0": {"split": "test"}}
    cell = json.loads((tmp_path / "a" / "cells" / "expert__Dialog-Corpus-v0.json").read_text())
    assert cell["env_kwargs"] == {"split": "test"}
    assert "Dialog-Corpus-v0 split='test'" in _tables(tmp_path / "a")["leaderboard.md"]
    for p in ["index.html", "plots/normalized_score.png", "plots/return_ci.png",
              "plots/success_rate.png", "plots/scorer_breakdown.png"]:
        assert (tmp_path / "a" / p).stat().st_size > 1000


def test_a_killed_run_resumes_to_the_same_table_without_redoing_cells(tmp_path):
    full = tmp_path / "full"
    run_leaderboard(_cfg(full, seeds=6))
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "dialog_gym.cli", "leaderboard", "--agents", *AGENTS,
           "--envs", *ENVS, "--seeds", "6", "--episodes", "2", "--workers", "1",
           "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cells = out / "cells"
    deadline = time.time() + 240
    while time.time() < deadline:
        done = [p for p in cells.glob("*.json")] if cells.exists() else []
        if len(done) >= 2:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = {p.name: p.stat().st_mtime_ns for p in cells.glob("*.json")}
    assert 2 <= len(finished) < len(AGENTS) * len(ENVS), finished
    assert not (out / "leaderboard.md").exists()
    run_leaderboard(_cfg(out, seeds=6))
    assert _tables(out) == _tables(full)
    for name, mtime in finished.items():
        assert (cells / name).stat().st_mtime_ns == mtime, f"{name} was recomputed"


class _Crashy(Agent):
    def __init__(self, env_id=None):
        pass

    def act(self, observation):
        raise RuntimeError("boom in act")


def test_a_crashing_agent_is_recorded_not_fatal(tmp_path):
    agent_registry.register("crashy-test", _Crashy, override=True)
    try:
        report = run_leaderboard(_cfg(tmp_path, agents=["crashy-test", "expert", "random"],
                                      envs=ENVS[:1]))
    finally:
        agent_registry._entries.pop("crashy-test", None)
    cell = next(c for c in report["cells"] if c["agent"] == "crashy-test")
    assert cell["status"] == "failed" and "boom in act" in cell["error"]
    assert {r["agent"]: r["rank"] for r in report["ranking"]}["expert"] == 1
    assert "failed: RuntimeError: boom in act" in (tmp_path / "leaderboard.md").read_text()


def test_ray_backend_gives_the_same_table(tmp_path):
    ray = pytest.importorskip("ray", reason="ray extra not installed (pip install "
                              "'dialog-gym[ray]'); CI installs it via the dev extra")
    run_leaderboard(_cfg(tmp_path / "p", envs=ENVS[:1], seeds=2))
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        run_leaderboard(_cfg(tmp_path / "r", envs=ENVS[:1], seeds=2, backend="ray"))
    finally:
        ray.shutdown()
    assert _tables(tmp_path / "p") == _tables(tmp_path / "r")


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("DIALOG_GYM_SKIP_BROWSER") == "1":
        pytest.skip("DIALOG_GYM_SKIP_BROWSER=1 and no Chromium on PATH")
    pytest.fail("headless Chromium is needed for the HTML test: apt-get install chromium "
                "(or set DIALOG_GYM_SKIP_BROWSER=1 to skip explicitly)")


def test_html_page_renders_in_headless_chromium(tmp_path):
    import numpy as np
    from PIL import Image

    chromium = _chromium()
    run_leaderboard(_cfg(tmp_path, envs=ENVS[:1], seeds=2))
    url = (tmp_path / "index.html").as_uri()
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    shot = tmp_path / "shot.png"
    subprocess.run([chromium, *flags, f"--screenshot={shot}", "--window-size=1200,1400", url],
                   capture_output=True, timeout=120, check=True)
    dom = subprocess.run([chromium, *flags, "--dump-dom", url], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    assert '<table class="sortable" id="ranking">' in dom
    assert dom.count("<tr>") >= 1 + 3 + 1 + 3  # header + 3 ranking rows, header + 3 cells
    assert "expert" in dom and "normalized_score.png" in dom
    img = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    assert img.shape[0] >= 1000 and img.std() > 10  # not a blank page
    dark = (img < 128).mean(axis=1)
    assert (dark > 0.01).sum() > 50  # many rows with text or table lines


_CLICK_ALL_HEADERS = """
<script>
window.addEventListener('load', function () {
  var out = [];
  document.querySelectorAll('table.sortable').forEach(function (table) {
    table.querySelectorAll('thead th').forEach(function (th) {
      [1, 2].forEach(function (pass) {  // first click ascending, second descending
        th.click();
        var col = th.cellIndex;
        out.push({table: table.id, header: th.innerText, pass: pass,
                  vals: Array.from(table.tBodies[0].rows).map(function (r) {
                    return r.cells[col] ? r.cells[col].innerText : null; })});
      });
    });
  });
  var pre = document.createElement('pre');
  pre.id = 'clicks';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""


def _sort_key(text):
    import re
    m = re.match(r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)", text)
    return (0, float(m.group(1)), "") if m else (1, 0.0, text)


def test_every_header_of_every_table_sorts_its_own_column(tmp_path):
    """Headless Chromium clicks each header twice; the column is then in order."""
    import html as html_lib
    import re

    chromium = _chromium()
    partial = tmp_path / "partial"
    run_leaderboard(_cfg(tmp_path, seeds=2))
    run_leaderboard(_cfg(partial, agents=["expert", "random", "echo", "repeat"], seeds=2,
                         envs=ENVS))
    page = (partial / "index.html").read_text(encoding="utf-8")
    test_page = partial / "clicks.html"
    test_page.write_text(page.replace("</body>", _CLICK_ALL_HEADERS + "</body>"),
                         encoding="utf-8")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--virtual-time-budget=10000",
             f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([chromium, *flags, "--dump-dom", test_page.as_uri()],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    m = re.search(r'<pre id="clicks">(.*?)</pre>', dom, re.S)
    assert m, dom[-2000:]
    clicks = json.loads(html_lib.unescape(m.group(1)))
    n_headers = len(re.findall(r"<th>", page))
    assert len(clicks) == 2 * n_headers  # every header of every table was clicked
    assert {c["table"] for c in clicks} >= {"ranking", "env-rankings", "cells"}
    for c in clicks:
        assert None not in c["vals"], c  # the header's column exists in every row
        keys = [_sort_key(v) for v in c["vals"]]
        numbers = [k for k in keys if k[0] == 0]
        assert numbers == sorted(numbers, reverse=c["pass"] == 2), (c["table"], c["header"],
                                                                    c["vals"])
        # numbers come before text and blanks when ascending, after them when descending
        kinds = [k[0] for k in keys]
        assert kinds == sorted(kinds, reverse=c["pass"] == 2), (c["header"], c["vals"])
    # text columns: the second click reverses the first (localeCompare order)
    for first, second in zip(clicks[::2], clicks[1::2], strict=True):
        if len(set(first["vals"])) == len(first["vals"]):
            assert second["vals"] == first["vals"][::-1], first["header"]


def test_overall_ranking_ranks_only_agents_run_on_every_env(tmp_path):
    from dialog_gym.leaderboard import build_report

    cells = []
    for agent, envs, ret in [("expert", ENVS, 2.0), ("random", ENVS, 0.0),
                             ("one-env", ENVS[:1], 1.9), ("all-envs", ENVS, 0.5)]:
        for e in envs:
            cells.append({"agent": agent, "env_id": e, "status": "ok", "mean_return": ret,
                          "success_rate": 0.5, "scores": {}})
    report = build_report(cells, _cfg(tmp_path), ENVS,
                          ["expert", "random", "one-env", "all-envs"])
    ranks = {r["agent"]: r["rank"] for r in report["ranking"]}
    assert ranks == {"expert": 1, "all-envs": 2, "random": 3, "one-env": None}
    assert [r["agent"] for r in report["env_rankings"][ENVS[0]]] == [
        "expert", "one-env", "all-envs", "random"]


class _Trainable(Agent):
    """A trainable plugin that records what its quick_train was given."""

    name = "trainable-test"
    seen: list = []

    def __init__(self, env_id=None, **kw):
        self.kw = kw

    @classmethod
    def quick_train(cls, env_id, out_dir, *, seed=0, env_kwargs=None):
        cls.seen.append((env_id, env_kwargs))
        return {"trained": True}

    def act(self, observation):
        return "Hello, how can I help?"


class _OldTrainable(_Trainable):
    """A plugin written before quick_train took env_kwargs."""

    @classmethod
    def quick_train(cls, env_id, out_dir, *, seed=0):
        cls.seen.append((env_id, "no env_kwargs"))
        return {"trained": True}


def test_trainable_agents_train_on_the_train_split(tmp_path):
    from dialog_gym.leaderboard import trained_kwargs

    _Trainable.seen = []
    for cls in (_Trainable, _OldTrainable):
        agent_registry.register("trainable-test", cls, override=True)
        try:
            cfg = _cfg(tmp_path / cls.__name__, quick=True)
            if cls is _OldTrainable:
                with pytest.warns(UserWarning, match="takes no env_kwargs"):
                    assert trained_kwargs("trainable-test", ENVS[1], cfg) == {"trained": True}
            else:
                assert trained_kwargs("trainable-test", ENVS[1], cfg) == {"trained": True}
                trained_kwargs("trainable-test", ENVS[0], cfg)
        finally:
            agent_registry._entries.pop("trainable-test", None)
    assert _Trainable.seen == [(ENVS[1], {"split": "train"}), (ENVS[0], None),
                               (ENVS[1], "no env_kwargs")]
    meta = json.loads((tmp_path / "_Trainable" / "checkpoints" / "trainable-test" / ENVS[1]
                       / "agent.json").read_text())
    assert meta["train_env_kwargs"] == {"split": "train"}


def test_ctrl_c_stops_within_seconds_with_one_line_keeping_finished_cells(tmp_path):
    out = tmp_path / "lb"
    cmd = [sys.executable, "-m", "dialog_gym.cli", "leaderboard", "--agents", "expert",
           "random", "echo", "--seeds", "40", "--episodes", "2", "--workers", "2",
           "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    deadline = time.time() + 120
    while time.time() < deadline and not list(out.glob("cells/*.json")):
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    t0 = time.time()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    stopped_in = time.time() - t0
    assert proc.returncode == 130 and stopped_in < 10, (proc.returncode, stopped_in)
    assert "Traceback" not in err and "interrupted: finished cells are kept" in err
    assert "dialog-gym leaderboard: 3 agents x" in err  # the plan was said up front
    kept = len(list((out / "cells").glob("*.json")))
    assert kept >= 1
