import gymnasium as gym
import pytest
from agent_testutil import ENV

import dialog_gym  # noqa: F401
from dialog_gym.agents import make_agent
from dialog_gym.agents.retrieval import (
    SUPPORTED_ENVS,
    TRAIN_SEED,
    EntityIndex,
    RetrievalAgent,
    _read,
    delexicalize,
)
from dialog_gym.error import ConfigError
from dialog_gym.evaluation import evaluate
from dialog_gym.messages import assistant_message, system_message, tool_message, user_message
from dialog_gym.testing import check_agent
from dialog_gym.tools import ToolCall, ToolResult


@pytest.fixture(scope="module")
def retrieval():
    return make_agent("retrieval", env_id=ENV, episodes=30)


def test_demonstrations_come_from_training_seeds_disjoint_from_evaluation(retrieval):
    assert retrieval.seed == TRAIN_SEED and len(retrieval.demos) >= 30
    result = evaluate(retrieval, ENV, episodes=5, seed=0)
    assert not retrieval.demo_scenarios & {r["scenario_id"] for r in result["records"]}


def test_beats_random_on_customer_service(retrieval):
    ours = evaluate(retrieval, ENV, episodes=10, seed=100_000)
    rand = evaluate(make_agent("random"), ENV, episodes=10, seed=100_000)
    assert ours["mean_return"] > rand["mean_return"] + 1.0
    assert ours["success_rate"] > rand["success_rate"]


def _looked_up(order, tracking):
    """An observation in which the user named ``order`` and a lookup returned it."""
    call = ToolCall("lookup_order", {"order": order}, "")
    result = ToolResult("lookup_order", True, f"order {order}; status=processing",
                        {"order": order, "status": "processing", "tracking": tracking})
    return {"messages": [system_message("Shop"),
                         user_message(f"cancel my order {order} please"),
                         assistant_message("Let me look.", [call], ["c1"]),
                         tool_message(result, "c1")]}


def test_adapts_values_from_the_current_observation_only():
    demo_obs, now_obs = _looked_up("K1111", "1ZAAA1111111"), _looked_up("Q2222", "1ZBBB2222222")
    agent = RetrievalAgent.__new__(RetrievalAgent)
    agent.adapt, agent.history_lines = True, 3
    demo = agent._demonstration(demo_obs, "Order K1111 (tracking 1ZAAA1111111) is cancelled. "
                                          "[cancel_order order=K1111]", "s")
    # the tracking number is only in the tool result's data: traced there, by its key
    assert ("key", "tracking") in [sl.anchor for sl in demo.slots]
    assert agent.fill(demo, now_obs) == ("Order Q2222 (tracking 1ZBBB2222222) is cancelled. "
                                         "[cancel_order order=Q2222]")
    agent.adapt = False
    assert "K1111" in agent.fill(demo, now_obs)  # pure retrieval: verbatim


def test_delexicalize_and_entity_index():
    assert delexicalize("mail a.b@c.io, zip 12345, $4.50 on 2026-01-02 for A1234") == \
        "mail <EMAIL>, zip <NUMBER>, <MONEY> on <DATE> for <ID>"
    idx = EntityIndex.of({"messages": [system_message("Shop Z9999"),
                                       user_message("A1111 then B2222")]})
    assert idx.resolve(("rank", "ID", "user", "1")) == "B2222"
    assert idx.anchor("ID", "A1111") == ("rank", "ID", "user", "0")
    assert idx.anchor("ID", "Z9999") == ("rank", "ID", "context", "0")


def test_entity_index_reads_nested_tool_data_and_call_arguments():
    call = ToolCall("refund", {"order": "A1234", "amount": 12.5}, "")
    result = ToolResult("refund", True, "refunded",
                        {"order": {"id": "A1234", "items": [{"name": "mug", "price": 12.5}]}})
    idx = EntityIndex.of({"messages": [system_message("Shop"), user_message("refund A1234"),
                                       assistant_message("", [call], ["c1"]),
                                       tool_message(result, "c1")]})
    assert idx.keyed == {"order": "A1234", "amount": "12.50", "order.id": "A1234",
                         "order.items.0.name": "mug", "order.items.0.price": "12.50"}
    assert idx.anchor("MONEY", "12.50") == ("key", "amount")


def test_an_observation_without_messages_is_a_clear_error():
    agent = RetrievalAgent.__new__(RetrievalAgent)
    agent.history_lines = 3
    with pytest.raises(ConfigError, match=r"RetrievalAgent reads observation\['messages'\]"
                                          r".*\['context', 'history'\]"):
        agent.state_key({"context": "Shop", "history": "Customer: hi"})


def test_a_reply_reads_as_its_assistant_message_in_the_env():
    """The "said before" check compares a reply with the env's own assistant messages."""
    env = gym.make(ENV)
    obs, _ = env.reset(seed=3)
    expert = env.unwrapped.domain.make_expert()
    agent = RetrievalAgent.__new__(RetrievalAgent)
    agent.tools, agent.labels = env.unwrapped.tools, env.unwrapped.domain.labels
    said, done = [], False
    while not done:
        reply = expert.act(obs)
        said.append(agent.as_said(reply))
        obs, _, terminated, truncated, _ = env.step(reply)
        done = terminated or truncated
    assert any("[" in x for x in said)  # the expert called tools: calls are compared too
    history = [ln for ln in obs["history"].split("\n") if ln.startswith("Agent: ")]
    assert [agent.as_said(ln[len("Agent: "):]) for ln in history] == said
    assert [m.text for m in _read(obs)[1] if m.role == "assistant"] == said
    env.close()


def test_meets_the_agent_contract_and_never_repeats_itself(retrieval):
    check_agent(retrieval, ENV, episodes=1)
    result = evaluate(retrieval, ENV, episodes=4, seed=300, keep_transcripts=True)
    for rec in result["records"]:
        replies = [ln for ln in rec["transcript"].split("\n") if ln.startswith("Agent: ")]
        assert len(replies) == len(set(replies))


def test_unsupported_env_is_warned_about():
    with pytest.warns(UserWarning, match="not validated on 'Dialog-QA-v0'"):
        make_agent("retrieval", env_id="Dialog-QA-v0", episodes=2)


def test_corpus_demonstrations_come_from_the_train_split_only():
    from dialog_gym.envs.corpus import default_corpus_path, load_corpus

    agent = make_agent("retrieval", env_id="Dialog-Corpus-v0", episodes=60)
    assert agent.env_kwargs == {"split": "train"}
    said = {d.reply for d in agent.demos}
    gold = {split: {x for d in load_corpus(default_corpus_path(), split)
                    for s, x in d.turns if s == "agent"} for split in ("train", "test")}
    assert said <= gold["train"] and not said & (gold["test"] - gold["train"])


@pytest.mark.slow
@pytest.mark.parametrize("env_id", SUPPORTED_ENVS)
def test_beats_random_on_every_supported_env(env_id):
    # the corpus env is played on its test split: dialogues the index has not seen
    kw = {"split": "test"} if env_id == "Dialog-Corpus-v0" else None
    agent = make_agent("retrieval", env_id=env_id)
    ours = evaluate(agent, env_id, episodes=40, seed=100_000, env_kwargs=kw)
    rand = evaluate(make_agent("random", env_id=env_id), env_id, episodes=40, seed=100_000,
                    env_kwargs=kw)
    assert ours["mean_return"] > rand["mean_return"]
