"""The scorer breakdown shows weighted contributions that add up to the mean return."""

import math

from dialog_gym.leaderboard import LeaderboardConfig, run_leaderboard
from dialog_gym.report import contribution, scorer_names


def test_weighted_contributions_add_up_to_the_mean_return(tmp_path):
    report = run_leaderboard(LeaderboardConfig(
        agents=["expert", "random"], envs=["Dialog-CustomerService-v0", "Dialog-QA-v0"],
        seeds=2, k=1, workers=1, out=str(tmp_path)))
    cells = [c for c in report["cells"] if c["status"] == "ok"]
    assert len(cells) == 4
    names = scorer_names(report)
    for c in cells:
        assert c["reward_weights"], c["agent"]
        total = sum(contribution(c, s) for s in names)
        assert math.isclose(total, c["mean_return"], rel_tol=1e-6, abs_tol=1e-9), c["agent"]
    # a weight other than 1 is applied (CustomerService weighs bleu 0.1)
    cs = next(c for c in cells if c["env_id"] == "Dialog-CustomerService-v0"
              and c["agent"] == "expert")
    assert cs["reward_weights"]["bleu"] == 0.1
    assert math.isclose(contribution(cs, "bleu"), 0.1 * cs["scores"]["bleu"])
    assert (tmp_path / "plots" / "scorer_breakdown.png").stat().st_size > 10_000
