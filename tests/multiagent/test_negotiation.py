import pytest
from pettingzoo.test import api_test, seed_test

from dialog_gym.multiagent import negotiation_v0


def test_pettingzoo_api_test_passes():
    api_test(negotiation_v0.env(), num_cycles=300)


def test_pettingzoo_seed_test_passes():
    seed_test(negotiation_v0.env, num_cycles=50)


def _play(messages, **kw):
    env = negotiation_v0.env(**kw)
    env.reset(seed=3)
    raw = env.unwrapped
    game = raw.game
    finals = {}
    msgs = iter(messages)
    for agent in env.agent_iter():
        obs, r, term, trunc, info = env.last()
        if term or trunc:
            finals[agent] = (env._cumulative_rewards[agent], info, r)
            env.step(None)
            continue
        env.step(next(msgs, "Let me think."))
    return raw, game, finals


def test_accepted_deal_pays_each_agent_its_private_value():
    raw, game, finals = _play(["I keep the books. [propose books=1 hats=0 balls=0]",
                               "Deal. [accept]"])
    v0, v1 = game["values"]
    c = game["counts"]
    assert finals["agent_0"][1]["deal"] is True
    assert finals["agent_0"][2] == pytest.approx(v0[0] * 1 / 10)
    assert finals["agent_1"][2] == pytest.approx(
        ((c[0] - 1) * v1[0] + c[1] * v1[1] + c[2] * v1[2]) / 10)


def test_no_deal_truncates_with_zero_reward():
    raw, game, finals = _play([f"message number {i}" for i in range(12)], max_turns=4)
    assert all(info["deal"] is False for _, info, _ in finals.values())
    assert all(r == 0.0 for _, _, r in finals.values())


def test_invalid_moves_are_reported_not_applied():
    env = negotiation_v0.env()
    env.reset(seed=0)
    env.step("[accept]")
    env.step("[propose books=99 hats=0 balls=0]")
    env.step("[propose books=1]")
    h = env.unwrapped.dialogue.render()
    assert "no proposal from the other agent" in h
    assert "counts must lie between 0 and the pool" in h
    assert "missing argument(s) hats, balls" in h
    assert env.unwrapped.deal is None


def test_private_values_only_in_own_context():
    env = negotiation_v0.env()
    env.reset(seed=5)
    raw = env.unwrapped
    v0, v1 = raw.game["values"]
    assert raw.game["values"][0] != raw.game["values"][1]
    c0, c1 = raw.observe("agent_0")["context"], raw.observe("agent_1")["context"]
    assert c0 != c1 and "You are agent_0" in c0 and "You are agent_1" in c1


def test_repetition_costs():
    raw, game, finals = _play(["Give me books.", "No.", "Give me books.", "No way."],
                              max_turns=4)
    assert finals["agent_0"][0] == pytest.approx(-0.2)
    assert finals["agent_1"][0] == 0.0


def test_messages_from_each_side_and_message_actions():
    from dialog_gym.messages import validate
    from dialog_gym.multiagent import negotiation_v0

    def play(form):
        env = negotiation_v0.env()
        env.reset(seed=3)
        seen = {}
        script = ["I'd like the books. [propose books=2 hats=0 balls=1]", "Deal. [accept]"]
        for i, agent in enumerate(env.agent_iter()):
            obs, *_ = env.last()
            msgs = obs["messages"]
            assert validate(msgs) is None and msgs[0]["role"] == "system"
            prev = seen.get(agent, [])
            assert msgs[: len(prev)] == prev  # append-only for each side
            seen[agent] = msgs
            if env.terminations[agent] or env.truncations[agent]:
                env.step(None)
                continue
            text = script[min(i, 1)]
            if form == "message":
                speech, call = text.split(" [")
                name, *args = call.rstrip("]").split()
                text = {"role": "assistant", "content": speech, "tool_calls": [
                    {"name": name, "arguments": dict(a.split("=") for a in args)}]}
            env.step(text)
        return seen, dict(env._cumulative_rewards)

    a, ra = play("text")
    b, rb = play("message")
    assert a == b and ra == rb
    first, second = list(a)
    assert [m["role"] for m in a[second][1:3]] == ["user", "assistant"]
    assert a[second][1]["source"] == "other_agent"
    assert any(m["source"] == "env" for m in a[first])
