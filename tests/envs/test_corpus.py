import json

import gymnasium as gym
import pytest

import dialog_gym  # noqa: F401
from dialog_gym.agents import make_agent
from dialog_gym.envs.corpus import convert, load_corpus
from dialog_gym.error import ConfigError, ScenarioError
from dialog_gym.evaluation import evaluate

ENV = "Dialog-Corpus-v0"


def _write(path, records):
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return path


def test_converter_maps_speakers_merges_and_drops_leading_agent_turns(tmp_path):
    records = [{"id": "x", "turns": [
        {"speaker": "Bot", "text": "Welcome!"},
        {"speaker": "Human", "text": "Hi."}, {"speaker": "Human", "text": "I need help."},
        {"speaker": "Bot", "text": "Sure, with what?"},
        {"speaker": "Human", "text": "Thanks, bye."}]},
        {"id": "no-agent", "turns": [{"speaker": "Human", "text": "hello?"}]}]
    n = convert(records, tmp_path / "c.jsonl", user=["Human"], agent=["Bot"])
    assert n == 1
    [d] = load_corpus(tmp_path / "c.jsonl")
    assert d.turns == (("user", "Hi. I need help."), ("agent", "Sure, with what?"))


def test_bad_corpus_files_give_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_corpus(tmp_path / "missing.jsonl")
    (tmp_path / "bad.jsonl").write_text("{not json\n")
    with pytest.raises(ScenarioError, match="bad.jsonl:1: not valid JSON"):
        load_corpus(tmp_path / "bad.jsonl")
    _write(tmp_path / "spk.jsonl", [{"turns": [{"speaker": "narrator", "text": "x"}]}])
    with pytest.raises(ScenarioError, match="speaker 'narrator'"):
        load_corpus(tmp_path / "spk.jsonl")


def test_custom_corpus_replays_user_turns_and_scores_against_gold(tmp_path):
    path = _write(tmp_path / "mini.jsonl", [{"id": "a", "context": "bank", "turns": [
        {"speaker": "user", "text": "What is my balance?"},
        {"speaker": "agent", "text": "Your balance is 120 dollars."},
        {"speaker": "user", "text": "And my savings?"},
        {"speaker": "agent", "text": "Your savings account holds 900 dollars."}]}])
    env = gym.make(ENV, path=str(path), success_f1=0.75)
    obs, _ = env.reset(seed=0)
    assert obs["history"] == "User: What is my balance?"
    obs, r, term, trunc, info = env.step("Your balance is 120 dollars.")
    assert info["scores"]["token_f1"] == pytest.approx(1.0) and not term
    assert obs["history"].endswith("User: And my savings?")
    obs, r, term, trunc, info = env.step("I don't know.")
    assert term and not info["success"]  # mean F1 (1.0 + 0.0) / 2 < 0.75
    expert = make_agent("expert", env_id=ENV, env_kwargs={"path": str(path)})
    assert evaluate(expert, ENV, episodes=3, env_kwargs={"path": str(path)})["success_rate"] == 1


def test_echo_and_generic_replies_do_not_pass():
    r = evaluate(make_agent("echo"), ENV, episodes=60, seed=0)
    e = evaluate(make_agent("expert", env_id=ENV), ENV, episodes=60, seed=0)
    assert r["success_rate"] <= 0.1 and e["success_rate"] == 1.0
    assert r["scores"]["token_f1"] < 0.3 * e["scores"]["token_f1"]


def test_difficulty_buckets_order_dialogues_by_length():
    env = gym.make(ENV)
    lengths = {}
    for level in (0, 1, 2):
        lengths[level] = []
        for seed in range(30):
            env.reset(seed=seed, options={"difficulty": level})
            d = env.unwrapped.domain.dialogues[env.unwrapped.scenario.goal["dialogue"]]
            lengths[level].append((d.agent_turns, sum(len(x.split()) for _, x in d.turns)))
    assert max(lengths[0]) <= min(lengths[1]) and max(lengths[1]) <= min(lengths[2])


def test_splits_partition_the_corpus_and_the_env_replays_only_its_split(tmp_path):
    from dialog_gym.envs.corpus import assign_split, default_corpus_path

    every = load_corpus(default_corpus_path())
    train = load_corpus(default_corpus_path(), "train")
    test = load_corpus(default_corpus_path(), "test")
    ids = {d.id for d in every}
    assert {d.id for d in train} | {d.id for d in test} == ids
    assert not {d.id for d in train} & {d.id for d in test}
    assert 0.15 * len(every) <= len(test) <= 0.45 * len(every)
    assert all(d.split == assign_split(d.id) for d in every)
    env = gym.make(ENV, split="test")
    seen = set()
    for seed in range(60):
        _, info = env.reset(seed=seed)
        seen.add(env.unwrapped.scenario.context["dialogue_id"])
    assert seen == {d.id for d in test}
    # the expert still knows every dialogue, so it plays the test split perfectly
    res = evaluate(make_agent("expert", env_id=ENV), ENV, episodes=10, seed=0,
                   env_kwargs={"split": "test"})
    assert res["success_rate"] == 1.0
    # an explicit "split" field wins over the hash; a bad one is refused
    recs = [{"id": "support-07", "split": "train",
             "turns": [{"speaker": "user", "text": "hi"}, {"speaker": "agent", "text": "hello"}]}]
    assert [d.split for d in load_corpus(_write(tmp_path / "s.jsonl", recs))] == ["train"]
    with pytest.raises(ConfigError, match="no dialogue with an agent reply in split 'test'"):
        load_corpus(tmp_path / "s.jsonl", "test")
    with pytest.raises(ScenarioError, match="split 'dev'"):
        load_corpus(_write(tmp_path / "d.jsonl", [{**recs[0], "split": "dev"}]))
    with pytest.raises(ConfigError, match="split='valid'"):
        gym.make(ENV, split="valid")
