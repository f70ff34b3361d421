"""Dialog-CustomerService-v0: solvability, resistance to degenerate agents, bad input."""

import re

import gymnasium as gym
import numpy as np
import pytest

import dialog_gym  # noqa: F401
from dialog_gym.agents import make_agent
from dialog_gym.error import ResetNeeded
from dialog_gym.evaluation import evaluate
from dialog_gym.testing import with_tool_data

ENV = "Dialog-CustomerService-v0"


@pytest.fixture(scope="module")
def results():
    out = {}
    for name in ["expert", "random", "keyword-stuffing", "echo", "repeat"]:
        out[name] = evaluate(make_agent(name, env_id=ENV), ENV, episodes=100, seed=1000)
    return out


def test_random_succeeds_at_most_10_percent(results):
    assert results["random"]["success_rate"] <= 0.1


@pytest.mark.parametrize("probe", ["keyword-stuffing", "echo", "repeat"])
def test_degenerate_strategies_fail_and_earn_far_less(results, probe):
    r, e = results[probe], results["expert"]
    assert r["success_rate"] <= 0.1
    # "well below": the expert's CI lies far above the probe's
    assert r["ci95"][1] < e["ci95"][0] - 1.5
    assert r["mean_return"] < 0.0


class PoliteAsker:
    """Asks well-formed questions forever, never acts: the patience must run out."""

    lines = ["I'm sorry for the trouble. Could you give me your order number?",
             "Thanks! Could you share the email and zip code on the account?",
             "I understand. Which order is this about, please?",
             "Thank you for your patience. What is your email address?",
             "Could you confirm your postal code, please?"]

    def reset(self):
        self.i = 0

    def act(self, obs):
        self.i += 1
        return self.lines[(self.i - 1) % len(self.lines)]


class ToolSpammer:
    """Copies every id, email and zip from the history into every write tool."""

    def reset(self):
        pass

    def act(self, obs):
        h = obs["history"]
        orders = set(re.findall(r"\b[A-Z]\d{4}\b", h))
        email = re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", h)
        zips = re.findall(r"(?<!\d)\d{5}(?!\d)", h)
        calls = []
        if email and zips:
            calls.append(f"[verify_identity email={email[-1]} zip={zips[-1]}]")
            calls.append(f"[reset_password email={email[-1]}]")
        for o in orders:
            calls += [f"[lookup_order order={o}]", f"[cancel_order order={o}]",
                      f'[escalate order={o} reason="x"]']
        return ("Could you give me your order number and your email and zip code? "
                "I have cancelled and refunded everything. " + " ".join(calls))


class FakeClaimer:
    """Says the right-sounding words ("refunded", "cancelled", "reset link", a tracking
    number shape) without doing anything."""

    def reset(self):
        self.i = 0

    def act(self, obs):
        self.i += 1
        return [
            "Your order has shipped; the tracking number is 1ZABC1234567.",
            "I've refunded $49.99 to your card and cancelled the order.",
            "I've sent a password reset link to your email.",
            "The order was delivered on 2026-01-05 and I escalated your case.",
        ][self.i % 4] + f" (ref {self.i})"


@pytest.mark.parametrize("cls", [PoliteAsker, ToolSpammer, FakeClaimer])
def test_stronger_adversaries_fail(results, cls):
    r = evaluate(cls(), ENV, episodes=60, seed=2000)
    assert r["success_rate"] <= 0.1, r["success_rate"]
    assert r["mean_return"] < results["expert"]["mean_return"] - 1.0


def test_success_requires_the_right_database_state():
    env = gym.make(ENV)
    expert = make_agent("expert", env_id=ENV)
    # find a standard refund scenario
    for seed in range(200):
        obs, info = env.reset(seed=seed)
        g = env.unwrapped.scenario.goal
        if g["type"] == "refund" and g["outcome"] == "standard":
            break
    expert.reset()
    done = False
    while not done:
        action = expert.act(obs)
        if "[refund " in action:  # refund one cent less than the item's price
            amount = re.search(r"amount=([\d.]+)", action).group(1)
            action = action.replace(f"amount={amount}", f"amount={float(amount) - 0.01:.2f}")
        obs, r, term, trunc, info = env.step(action)
        done = term or trunc
    assert not info["success"]


def test_bad_actions_raise_or_flag_and_do_not_corrupt():
    env = gym.make(ENV)
    obs, info = env.reset(seed=5)
    with pytest.raises(TypeError, match="action must be a str"):
        env.step(42)
    with pytest.raises(TypeError, match="str"):
        env.step(None)
    obs2, r, term, trunc, info = env.step("x" * 5000)
    assert info["action_truncated"] is True
    assert env.observation_space.contains(obs2)
    obs3, r, term, trunc, info = env.step("")
    assert info["action_truncated"] is False
    assert np.isfinite(r)
    obs4, r, term, trunc, info = env.step("Привет! 你好 😀 ¿Cómo puedo ayudarle?")
    assert env.observation_space.contains(obs4)
    # a later episode with the same seed is unaffected by the bad ones
    fresh = gym.make(ENV)
    assert env.reset(seed=9)[0] == fresh.reset(seed=9)[0]


def test_step_after_end_and_before_reset_raise_clear_errors():
    env = gym.make(ENV).unwrapped
    with pytest.raises(ResetNeeded, match="before reset"):
        env.step("hi")
    obs, _ = env.reset(seed=3)
    expert = make_agent("expert", env_id=ENV)
    term = False
    while not term:
        obs, r, term, trunc, info = env.step(expert.act(obs))
    assert "episode_summary" in info
    with pytest.raises(ResetNeeded, match="ended"):
        env.step("hello again")
    env.reset(seed=4)
    obs, r, term, trunc, info = env.step("Hello!")
    assert info["scenario_id"]


def test_malformed_tool_calls_are_reported_in_the_observation():
    env = gym.make(ENV)
    env.reset(seed=0)
    obs, r, term, trunc, info = env.step(
        "Let me check. [lookup_ordr order=A1] [lookup_order] [refund order=A1 amount=abc]")
    h = obs["history"]
    assert "unknown tool 'lookup_ordr'" in h and "Did you mean 'lookup_order'" in h
    assert "missing argument(s) order" in h
    assert "not a valid float" in h


def test_card_number_leak_ends_episode_as_failure():
    env = gym.make(ENV)
    env.reset(seed=0)
    obs, r, term, trunc, info = env.step("Your card is 4111 1111 1111 1111.")
    assert term and not info["success"]
    assert "no_card_number" in info["violations"]
    assert info["scores"]["rule_compliance"] == -1.0


def test_write_before_verification_is_blocked_and_penalised():
    env = gym.make(ENV)
    for seed in range(100):
        obs, _ = env.reset(seed=seed)
        if env.unwrapped.scenario.goal["type"] == "cancel":
            break
    oid = env.unwrapped.scenario.goal["order"]
    obs, r, term, trunc, info = env.step(f"Cancelling now. [cancel_order order={oid}]")
    assert "verify_before_action" in info["violations"]
    assert "blocked by rule verify_before_action" in obs["history"]
    assert env.unwrapped.world["log"] == []
    assert r < 0


def test_reward_swap_is_one_argument():
    env = gym.make(ENV, reward={"bleu": 1.0, "task_success": 0.5})
    env.reset(seed=0)
    _, r, _, _, info = env.step("Hello, could you give me your order number?")
    assert set(info["scores"]) == {"bleu", "task_success"}
    assert r == pytest.approx(info["scores"]["bleu"] + 0.5 * info["scores"]["task_success"])


def test_reset_options_scenario_id_replays_and_difficulty_applies():
    env = gym.make(ENV)
    _, info = env.reset(seed=11)
    sid = info["scenario_id"]
    obs_a, _ = env.reset(seed=1, options={"scenario_id": sid})
    assert env.unwrapped.scenario.id == sid
    _, info = env.reset(seed=2, options={"difficulty": 2})
    assert info["difficulty"] == 2 and info["scenario_id"].endswith("/2")
    with pytest.raises(dialog_gym.error.ConfigError, match="unknown reset option"):
        env.reset(options={"dificulty": 1})
    with pytest.raises(dialog_gym.error.ScenarioError, match="not of the form"):
        env.reset(options={"scenario_id": "nonsense"})


def test_render_modes():
    env = gym.make(ENV, render_mode="ansi")
    env.reset(seed=0)
    env.step("Hello! Could you share your order number?")
    text = env.render()
    assert "Customer:" in text and "Agent: Hello!" in text
    with pytest.raises(dialog_gym.error.ConfigError, match="render_mode"):
        gym.make(ENV, render_mode="rgb_array")


def test_record_episode_statistics_wrapper_coexists():
    env = gym.wrappers.RecordEpisodeStatistics(gym.make(ENV))
    expert = make_agent("expert", env_id=ENV)
    obs, _ = env.reset(seed=0)
    done = False
    while not done:
        obs, r, term, trunc, info = env.step(expert.act(obs))
        done = term or trunc
    assert info["episode"]["r"] == pytest.approx(info["episode_summary"]["return"])


def test_wording_varies_by_seed():
    env = gym.make(ENV, difficulty=1)
    openings = {env.reset(seed=s)[0]["history"].split(": ", 1)[1] for s in range(40)}
    assert len(openings) >= 30


def test_user_rules_are_appended():
    from dialog_gym.rules import ForbiddenContent

    env = gym.make(ENV, rules=[ForbiddenContent("no_competitor", [r"\bamazon\b"])])
    env.reset(seed=0)
    _, r, _, _, info = env.step("You could just buy it on Amazon.")
    assert "no_competitor" in info["violations"]


# ---------------------------------------------------------------- meaning, not wording

def test_expert_succeeds_in_at_least_95_percent(results):
    assert results["expert"]["success_rate"] >= 0.95


def test_negation_attack_fails():
    """The expert's work with every statement negated ("has not shipped") earns no success."""
    from dialog_gym.testing import NegatingAgent, attack_success_rate

    rate, ret = attack_success_rate(ENV, NegatingAgent(make_agent("expert", env_id=ENV)),
                                    range(100))
    assert rate <= 0.05, rate


#: each expert move said differently (none of the expert's templates), several per move
PARAPHRASES = {
    "empathy": ["Oh no, I'm really sorry about that.", "Sorry you're dealing with this!",
                "That sounds frustrating, let's get it sorted."],
    "ask_order_and_verification": [
        "Happy to help! What's the order number, and could you also share the account email "
        "and billing zip so I can confirm it's you?",
        "Sure, could I get your order number? I'll need the email address and zip code on "
        "the account too, to verify you."],
    "ask_order": ["Which order is this about? The order number would help.",
                  "Could you share the order number with me?",
                  "What's the order number on your confirmation?"],
    "ask_verification": [
        "Before I make any changes, can you confirm the email on the account and your "
        "billing zip code?",
        "For security, what's the account email address and the zip code on file?"],
    "ask_new_address": ["Where would you like the order shipped instead?",
                        "What's the new address you'd like us to use?"],
    "checking": ["Thanks, give me a second to pull that up.",
                 "Great, one moment while I check."],
    "status_shipped": [
        "Good news: order {order} is on its way with {carrier}, tracking number {tracking}.",
        "It left our warehouse already. {carrier} has it, and you can track it with "
        "{tracking}."],
    "status_delivered": ["According to the carrier, order {order} arrived on {delivered}.",
                         "It shows as delivered: it was dropped off on {delivered}."],
    "status_processing": [
        "Order {order} hasn't shipped yet, it's still being prepared at our warehouse.",
        "It's still processing on our end, so it hasn't gone out yet."],
    "refund_done": ["Done! ${amount} for the {item} has been refunded to {card}.",
                    "I've processed a refund of ${amount} for the {item}; it'll go back to "
                    "{card}."],
    "refund_window": [
        "Unfortunately order {order} was delivered on {delivered}, and that's past our "
        "{window}-day return window, so I'm not able to refund it.",
        "I'm sorry, but it arrived on {delivered}, which puts it outside the {window}-day "
        "return window, so a refund isn't possible."],
    "refund_escalated": [
        "Because ${amount} is over my ${limit} refund limit, I've passed the {item} refund "
        "on to our returns team.",
        "That's above the ${limit} I can refund myself, so a specialist will handle the "
        "${amount} refund for the {item}; I've escalated it."],
    "cancel_done": ["All set, order {order} is cancelled.",
                    "Order {order} has been cancelled, so you won't be charged for it."],
    "cancel_shipped": [
        "Unfortunately order {order} already shipped, so I can't cancel it now; once it "
        "arrives you can send it back.",
        "I'm sorry, it's already on its way, so cancelling is no longer possible."],
    "address_done": ["Done, order {order} will now ship to {address}.",
                     "I've changed the delivery address on order {order} to {address}."],
    "reset_done": ["A password reset link is on its way to {email}.",
                   "I just emailed a reset link to {email}; it should arrive in a few "
                   "minutes."],
    "billing_checking": ["Thanks, let me look over the charges on your account.",
                         "One moment, I'm reviewing your recent charges."],
    "billing_done": [
        "You're right, {charge} was a duplicate, so I've refunded ${amount} to {card}.",
        "I found the second charge ({charge}) and reversed it: ${amount} goes back to "
        "{card}."],
    "anything_else": ["Can I help with anything else?",
                      "Anything more I can do for you today?"],
}


class Paraphraser:
    """The expert's decisions (and tool calls), every move worded by a seeded variant."""

    def __init__(self, seed):
        import random

        from dialog_gym.envs.customer_service import CustomerServiceExpert

        rng = random.Random(seed)
        expert = CustomerServiceExpert()
        expert._t = lambda name, **slots: rng.choice(PARAPHRASES[name]).format(**slots)
        self.expert = expert

    def reset(self):
        self.expert.reset()

    def act(self, obs):
        return self.expert.act(obs)


def test_paraphrases_of_every_expert_move_succeed():
    from dialog_gym.envs.customer_service import load_data

    templates = load_data()["expert_templates"]
    assert set(PARAPHRASES) == set(templates)  # every move has paraphrases
    for name, variants in PARAPHRASES.items():
        assert not set(variants) & set(templates[name])
    env = gym.make(ENV)
    wins, goals = 0, set()
    for seed in range(30):
        agent = Paraphraser(seed)
        obs, _ = env.reset(seed=seed)
        agent.reset()
        goals.add(env.unwrapped.scenario.goal["type"])
        done = False
        while not done:
            obs, r, term, trunc, info = env.step(agent.act(obs))
            done = term or trunc
        wins += bool(info["success"])
    assert len(goals) == 6
    assert wins >= 27, wins


# ---------------------------------------------------------------- policy over the episode

def _scenario(env, pred, seeds=range(400)):
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        if pred(env.unwrapped.scenario):
            return obs
    raise AssertionError("no such scenario")


def _verified(env):
    c = env.unwrapped.world["customer"]
    oid = env.unwrapped.scenario.goal["order"]
    env.step(f"Thanks. [verify_identity email={c['email']} zip={c['zip']}] "
             f"[lookup_order order={oid}]")
    assert env.unwrapped.world["verified"]
    return oid


def _over_limit(s):
    return s.goal["type"] == "refund" and s.goal["outcome"] == "over_limit"


def _standard_refund(s):
    return s.goal["type"] == "refund" and s.goal["outcome"] == "standard"


@pytest.mark.parametrize("same_turn", [True, False])
def test_split_refund_over_the_limit_is_a_violation(same_turn):
    env = gym.make(ENV)
    _scenario(env, _over_limit)
    oid = _verified(env)
    price = env.unwrapped.scenario.goal["item_price"]
    assert price > 200
    first, second = f"[refund order={oid} amount=150.00]", \
        f"[refund order={oid} amount={price - 150:.2f}]"
    if same_turn:
        _, r, _, _, info = env.step(f"Splitting it in two. {first} {second}")
    else:
        _, _, _, _, info = env.step(f"First part. {first}")
        assert "refund_policy" not in info["violations"]
        _, r, _, _, info = env.step(f"And the rest. {second}")
    assert "refund_policy" in info["violations"]
    assert any("limit" in m for m in info["violation_messages"])
    assert sum(e[2] for e in env.unwrapped.world["log"] if e[0] == "refund") == 150.0
    assert r < 0


@pytest.mark.parametrize("same_turn", [True, False])
def test_refunding_one_item_three_times_is_a_violation(same_turn):
    env = gym.make(ENV)
    _scenario(env, lambda s: _standard_refund(s) and len(
        s.world["orders"][s.goal["order"]]["items"]) == 1)
    oid = _verified(env)
    call = f"[refund order={oid} amount={env.unwrapped.scenario.goal['item_price']:.2f}]"
    if same_turn:
        _, r, _, _, info = env.step(f"Refunding. {call} {call} {call}")
        assert info["violations"].count("refund_policy") == 2
    else:
        _, _, _, _, info = env.step(f"Refunding. {call}")
        assert "refund_policy" not in info["violations"]
        for again in ("Once more.", "And again."):
            _, r, term, _, info = env.step(f"{again} {call}")
            assert "refund_policy" in info["violations"]
            assert any("already refunded" in m for m in info["violation_messages"])
    assert [e[0] for e in env.unwrapped.world["log"]] == ["refund"]
    assert not info["success"]


def _guesses(env, n, right_at=None):
    c = env.unwrapped.world["customer"]
    calls = []
    for i in range(n):
        email, z = (c["email"], c["zip"]) if i == right_at else (f"guess{i}@mail.example",
                                                                  "00000")
        calls.append(f"[verify_identity email={email} zip={z}]")
    return " ".join(calls)


def test_brute_forcing_verification_in_one_turn_fails_and_is_penalised():
    env = gym.make(ENV)
    _scenario(env, lambda s: s.goal["type"] == "password_reset")
    obs, r, term, trunc, info = env.step("Let me try a few. " + _guesses(env, 10, right_at=6))
    assert not env.unwrapped.world["verified"]  # the right guess came after the lock
    assert info["violations"].count("verification_limit") == 7
    h = obs["history"]
    assert "the account is now locked" in h and "locked after 3 failed" in h
    assert info["scores"]["rule_compliance"] <= -1.0 and r < -0.5


def test_brute_forcing_verification_across_turns_fails_and_is_penalised():
    env = gym.make(ENV)
    _scenario(env, lambda s: s.goal["type"] == "password_reset")
    for i in range(3):
        _, _, _, _, info = env.step(f"Trying again ({i}). " + _guesses(env, 1))
        assert "verification_limit" not in info["violations"]
    obs, r, term, trunc, info = env.step("One more. " + _guesses(env, 1, right_at=0))
    assert "verification_limit" in info["violations"]
    assert not env.unwrapped.world["verified"]
    assert r < 0


def test_a_right_guess_within_the_attempts_verifies():
    env = gym.make(ENV)
    _scenario(env, lambda s: s.goal["type"] == "password_reset")
    _, _, _, _, info = env.step("Let me check. " + _guesses(env, 3, right_at=2))
    assert env.unwrapped.world["verified"] and "verification_limit" not in info["violations"]


@pytest.mark.parametrize("sep", [".", "-", " ", "mixed"])
def test_card_number_in_any_separator_format_ends_the_episode(sep):
    env = gym.make(ENV)
    env.reset(seed=0)
    card = env.unwrapped.world["customer"]["card_number"]
    groups = [card[i:i + 4] for i in range(0, 16, 4)]
    shown = (f"{groups[0]}.{groups[1]}-{groups[2]} {groups[3]}" if sep == "mixed"
             else sep.join(groups))
    _, r, term, trunc, info = env.step(f"The card on file is {shown}.")
    assert term and not info["success"]
    assert "no_card_number" in info["violations"]
    assert info["user"]["reason"] == "severe_violation"


# ---------------------------------------------------------------- facts by meaning

def _play_until_fact(env, pred, say):
    """Play the expert until it would tell the fact, then say ``say(facts)`` instead."""
    obs = _scenario(env, pred)
    expert = make_agent("expert", env_id=ENV)
    expert.reset()
    facts = env.unwrapped._facts
    for _ in range(10):
        reply = expert.act(obs)
        if any(k in reply for k in ("has shipped", "still processing", "was delivered")):
            return env.step(say(facts))
        obs, r, term, trunc, info = env.step(reply)
        assert not term
    raise AssertionError("the expert never told the status")


@pytest.mark.parametrize("status,say,ok", [
    ("shipped", "Your order has not shipped.", False),
    ("shipped", "Has it shipped? It might have.", False),
    ("shipped", "If it had shipped, you would have a tracking number.", False),
    ("processing", "It hasn't shipped yet, it's still processing.", True),
    ("processing", "Good news: it has shipped.", False),
    ("delivered", "It was not delivered on {delivered}.", False),
])
def test_status_is_understood_by_meaning(status, say, ok):
    env = gym.make(ENV)

    def pred(s):
        return s.goal["type"] == "order_status" and \
            s.world["orders"][s.goal["order"]]["status"] == status

    obs, r, term, trunc, info = _play_until_fact(env, pred, lambda f: say.format(**f))
    from dialog_gym.envs.customer_service import load_data

    assert ("status" in env.unwrapped.user.told) is ok
    answer = obs["history"].rsplit("Customer: ", 1)[1]
    wrong = any(w in answer for w in load_data()["user_templates"]["wrong_fact"])
    # a false or denied status is a wrong fact; a question or a supposition is neither
    assert wrong is (not ok and "?" not in say and not say.startswith("If"))


def test_an_unplaced_question_gets_a_clarification_not_an_answer():
    from dialog_gym.envs.customer_service import load_data

    templates = load_data()["user_templates"]
    env = gym.make(ENV, difficulty=1)
    env.reset(seed=3)
    obs, *_ = env.step("Hi! How is your day going so far?")
    answer = obs["history"].rsplit("Customer: ", 1)[1]
    assert answer in templates["clarify"]
    obs, *_ = env.step("Could you tell me your phone number?")  # a slot it will not give
    answer = obs["history"].rsplit("Customer: ", 1)[1]
    assert answer in templates["no_need"]
    assert env.unwrapped.world["customer"]["email"] not in answer


# ---------------------------------------------------------------- messages and tool data

def _tool_payloads(obs, name):
    from dialog_gym.messages import tool_payload

    return [tool_payload(m) for m in obs["messages"] if m["role"] == "tool" and m["name"] == name]


def _expert_episode(env, seed):
    """Play the expert on ``seed``; return every observation it saw and the last one."""
    from dialog_gym.envs.customer_service import CustomerServiceExpert

    obs, _ = env.reset(seed=seed)
    seen, done = [obs], False
    while not done:
        obs, _, term, trunc, info = env.step(CustomerServiceExpert().act(obs))
        seen.append(obs)
        done = term or trunc
    return seen, info


def test_lookup_order_data_is_the_order_and_its_return_terms():
    from datetime import date

    env = gym.make(ENV)
    checked = 0
    for seed in range(60):
        seen, _ = _expert_episode(env, seed)
        world = env.unwrapped.world
        for p in _tool_payloads(seen[-1], "lookup_order"):
            d = p["data"]
            o = world["orders"][d["order"]]
            assert p["ok"] and p["message"].startswith(f"order {o['id']}; status={d['status']};")
            assert d["items"] == [{"name": it["name"], "price": it["price"]} for it in o["items"]]
            for it in d["items"]:
                assert f"{it['name']} ${it['price']:.2f}" in p["message"]
            assert d["tracking"] == o["tracking"] and d["delivered"] == o["delivered"]
            assert d["carrier"] == (o["carrier"] if o["tracking"] else None)
            if d["tracking"]:
                assert f"carrier={d['carrier']} tracking={d['tracking']}" in p["message"]
            if d["delivered"]:
                assert d["days_since_delivery"] == (date.fromisoformat(world["today"])
                                                    - date.fromisoformat(d["delivered"])).days
            else:
                assert d["days_since_delivery"] is None
            assert d["return_window_days"] == world["policy"]["return_window_days"]
            assert d["refund_limit"] == world["policy"]["refund_limit"]
            checked += 1
    assert checked >= 40, checked


def test_billing_and_refund_data_match_the_world_and_the_message():
    env = gym.make(ENV)
    kinds = set()
    for seed in range(300):
        seen, info = _expert_episode(env, seed)
        c = env.unwrapped.world["customer"]
        for p in _tool_payloads(seen[-1], "lookup_billing"):
            assert p["data"]["card_last4"] == c["card_last4"]
            assert f"card on file {p['data']['card_on_file']}" in p["message"]
            assert [ch["id"] for ch in p["data"]["charges"]] == [
                ch["id"] for ch in env.unwrapped.world["charges"]]
            for ch in p["data"]["charges"]:
                assert f"{ch['id']} {ch['date']} ${ch['amount']:.2f} order {ch['order']}" \
                    in p["message"]
            kinds.add("billing")
        for p in _tool_payloads(seen[-1], "refund"):
            assert p["data"]["card_last4"] == c["card_last4"]
            assert p["message"].endswith(f"card ending {c['card_last4']}")
            assert f"${p['data']['amount']:.2f}" in p["message"]
            kinds.add("refund")
        if kinds == {"billing", "refund"}:
            break
    assert kinds == {"billing", "refund"}, kinds



def test_expert_tells_what_the_tool_data_says():
    """Changing the data (not the message text) of a look-up changes the expert's reply."""
    from dialog_gym.envs.customer_service import CustomerServiceExpert

    env = gym.make(ENV)
    obs = _scenario(env, lambda s: s.goal["type"] == "order_status"
                    and s.goal["gives_order_upfront"]
                    and s.world["orders"][s.goal["order"]]["status"] == "shipped")
    oid = env.unwrapped.scenario.goal["order"]
    obs, *_ = env.step(f"Let me check. [lookup_order order={oid}]")
    truth = env.unwrapped.world["orders"][oid]["tracking"]
    assert truth in CustomerServiceExpert().act(obs)
    told = CustomerServiceExpert().act(with_tool_data(obs, "lookup_order",
                                               lambda d: d.update(tracking="ZZTEST0000001")))
    assert "ZZTEST0000001" in told and truth not in told

    # the refund policy comes from the look-up's return terms
    obs = _scenario(env, lambda s: _standard_refund(s) and s.goal["gives_order_upfront"])
    _verified(env)
    obs = env.unwrapped._obs
    assert "[refund order=" in CustomerServiceExpert().act(obs)
    late = with_tool_data(obs, "lookup_order", lambda d: d.update(return_window_days=3,
                                                           days_since_delivery=5))
    reply = CustomerServiceExpert().act(late)
    assert "[refund order=" not in reply and "3-day return window" in reply, reply
    low = with_tool_data(obs, "lookup_order", lambda d: d.update(refund_limit=0.5))
    reply = CustomerServiceExpert().act(low)
    assert "[escalate order=" in reply and "$0.50" in reply, reply


def test_denying_the_true_status_is_a_wrong_fact_in_any_goal():
    """A refund talk: "it was never delivered" about a delivered order is rejected."""
    env = gym.make(ENV)
    obs = _scenario(env, lambda s: _standard_refund(s) and s.goal["gives_order_upfront"])
    scenario = env.unwrapped.scenario
    oid = scenario.goal["order"]
    assert env.unwrapped.world["orders"][oid]["status"] == "delivered"
    user = env.unwrapped.user
    wrong = user.templates["wrong_fact"] + user.templates.get("wrong_fact.upset", [])
    obs, *_ = env.step(f"Let me look. [lookup_order order={oid}]")
    mood = user.mood
    obs, *_ = env.step("It looks like that order was never delivered to you.")
    said = obs["messages"][-1]["content"]
    assert any(said.startswith(w) for w in wrong), said
    assert user.mood < mood
    # the true status, asserted, is not a wrong fact
    obs = _scenario(env, lambda s: _standard_refund(s) and s.goal["gives_order_upfront"])
    oid = env.unwrapped.scenario.goal["order"]
    obs, *_ = env.step(f"Let me look. [lookup_order order={oid}]")
    obs, *_ = env.step("I can see the order was delivered.")
    assert not any(obs["messages"][-1]["content"].startswith(w) for w in wrong)
