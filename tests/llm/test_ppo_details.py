"""PPO details: GAE, masks, KL sign, log-prob offset, first-minibatch ratio."""

from __future__ import annotations

import math

import pytest
import torch

from dialog_gym.agents.llm.modeling import PolicyModule, gather_logprobs, pad, sample
from dialog_gym.agents.llm.rl import (
    AdaptiveKLController,
    kl_penalty_rewards,
    masked_gae,
    ppo_policy_loss,
    value_loss,
    whiten,
)


def test_gae_matches_hand_computed_example_with_user_token_masked():
    # agent, user, agent: the user token is skipped, V(pos 2) bootstraps pos 0
    r = torch.tensor([[1.0, 5.0, 2.0]])
    v = torch.tensor([[0.5, 9.0, 0.1]])
    mask = torch.tensor([[True, False, True]])
    adv, ret = masked_gae(r, v, mask, torch.tensor([0.0]), gamma=0.9, lam=0.8)
    delta2 = 2.0 + 0.9 * 0.0 - 0.1
    delta0 = 1.0 + 0.9 * 0.1 - 0.5
    expected0 = delta0 + 0.9 * 0.8 * delta2
    assert adv[0, 2].item() == pytest.approx(delta2)
    assert adv[0, 0].item() == pytest.approx(expected0)
    assert adv[0, 1].item() == 0.0 and ret[0, 1].item() == 0.0
    assert ret[0, 0].item() == pytest.approx(expected0 + 0.5)


def test_gae_bootstraps_from_last_value_and_lambda_one_is_monte_carlo():
    r = torch.tensor([[0.0, 0.0, 1.0, 0.0]])
    v = torch.tensor([[0.3, 0.2, 0.1, 0.4]])
    mask = torch.tensor([[True, True, True, False]])
    adv, ret = masked_gae(r, v, mask, torch.tensor([2.0]), gamma=1.0, lam=1.0)
    # Monte-Carlo return from every agent token: 1 + bootstrap 2
    assert ret[0, :3].tolist() == pytest.approx([3.0, 3.0, 3.0])
    assert adv[0, :3].tolist() == pytest.approx([2.7, 2.8, 2.9])


def test_gae_per_turn_decays_lambda_once_per_reply_whatever_its_length():
    # two replies: a 3-token one (positions 0-2), a user token, a 1-token one (position 4);
    # all values 0, the only reward at the end of the second reply
    r = torch.tensor([[0.0, 0.0, 0.0, 0.0, 1.0]])
    v = torch.zeros(1, 5)
    mask = torch.tensor([[True, True, True, False, True]])
    turn_end = torch.tensor([[False, False, True, False, True]])
    adv, _ = masked_gae(r, v, mask, torch.tensor([0.0]), gamma=1.0, lam=0.5,
                        turn_end=turn_end)
    # one turn boundary between every token of the first reply and the reward
    assert adv[0, [0, 1, 2, 4]].tolist() == pytest.approx([0.5, 0.5, 0.5, 1.0])
    per_token, _ = masked_gae(r, v, mask, torch.tensor([0.0]), gamma=1.0, lam=0.5)
    assert per_token[0, [0, 1, 2, 4]].tolist() == pytest.approx([0.125, 0.25, 0.5, 1.0])


def test_kl_penalty_sign_and_mask():
    logp = torch.tensor([[-1.0, -2.0, -0.5]])
    ref = torch.tensor([[-2.0, -1.0, -0.5]])
    mask = torch.tensor([[True, True, False]])
    r = kl_penalty_rewards(logp, ref, beta=0.1, mask=mask)
    assert r[0, 0].item() == pytest.approx(-0.1)  # more likely than reference: penalised
    assert r[0, 1].item() == pytest.approx(0.1)
    assert r[0, 2].item() == 0.0


def test_adaptive_kl_moves_beta_towards_target():
    ctl = AdaptiveKLController(0.1, target=1.0, horizon=100)
    ctl.update(current=5.0, n_steps=10)
    assert ctl.value == pytest.approx(0.1 * 1.02)
    ctl.update(current=0.0, n_steps=10)
    assert ctl.value < 0.1 * 1.02


def test_gather_logprobs_offset():
    ids = torch.tensor([[3, 1, 4, 1]])
    logits = torch.full((1, 4, 6), -50.0)
    for t in range(3):  # logits at t put all mass on ids[t + 1]
        logits[0, t, ids[0, t + 1]] = 50.0
    lp = gather_logprobs(logits, ids)
    assert lp.shape == (1, 3)
    assert torch.allclose(lp, torch.zeros(1, 3), atol=1e-6)
    shifted = logits.roll(1, dims=1)  # off by one: near -100
    assert gather_logprobs(shifted, ids)[0, 1:].max() < -50


def test_policy_module_selected_logprobs_match_full_forward(sft_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(sft_dir).eval()
    ids, _, _ = pad([[5, 6, 7, 8, 9], [10, 11, 12]], 0, side="right")
    sel = torch.tensor([[False, True, True, False], [True, True, False, False]])
    logp, logits = PolicyModule(model)(ids, sel)
    full = gather_logprobs(model(input_ids=ids).logits, ids)
    assert torch.allclose(logp, full[sel], atol=1e-5)
    assert logits.shape[0] == int(sel.sum())


def test_ppo_loss_ratio_one_gives_zero_kl_and_plain_policy_gradient():
    lp = torch.tensor([-1.0, -0.5, -2.0], requires_grad=True)
    adv = torch.tensor([1.0, -1.0, 0.5])
    loss, info = ppo_policy_loss(lp, lp.detach().clone(), adv, clip=0.2)
    assert info["approx_kl"].item() == 0.0
    assert info["clipfrac"].item() == 0.0
    assert loss.item() == pytest.approx(-adv.mean().item())


def test_ppo_loss_clips_large_ratios():
    old = torch.zeros(2)
    new = torch.tensor([math.log(2.0), math.log(2.0)])
    adv = torch.tensor([1.0, -1.0])
    loss, info = ppo_policy_loss(new, old, adv, clip=0.2)
    # positive advantage capped at 1.2; negative advantage takes the unclipped 2.0
    assert loss.item() == pytest.approx((-1.2 + 2.0) / 2)
    assert info["clipfrac"].item() == 1.0


def test_value_loss_clipping():
    v, old, ret = torch.tensor([2.0]), torch.tensor([0.0]), torch.tensor([2.0])
    assert value_loss(v, old, ret, None).item() == 0.0
    assert value_loss(v, old, ret, 0.5).item() == pytest.approx(0.5 * 1.5**2)


def test_whiten_uses_masked_entries_only():
    x = torch.tensor([[1.0, 100.0, 3.0]])
    m = torch.tensor([[True, False, True]])
    w = whiten(x, m)
    assert w[0, 1].item() == 0.0
    assert w[0, [0, 2]].tolist() == pytest.approx([-1.0, 1.0], abs=1e-4)


class _ScriptedLM(torch.nn.Module):
    """Emits a fixed token sequence per row (ignores its input)."""

    def __init__(self, script, vocab=10):
        super().__init__()
        self.script = script
        self.vocab = vocab
        self.calls = 0

    def forward(self, input_ids, attention_mask=None, position_ids=None, use_cache=None,
                cache=None):
        b, t = input_ids.shape
        logits = torch.full((b, t, self.vocab), -1e4)
        for i in range(b):
            logits[i, -1, self.script[i][min(self.calls, len(self.script[i]) - 1)]] = 1e4
        self.calls += 1

        class Out:
            pass

        out = Out()
        out.logits = logits
        out.cache = ("cache", self.calls)
        return out


def test_sampling_stops_at_eos_per_row_and_masks_what_follows():
    lm = _ScriptedLM([[4, 2, 5, 5], [6, 7, 8, 9]])
    out = sample(lm, [[1, 1], [1]], max_new_tokens=4, stop_ids={2}, pad_id=0)
    assert out[0] == [4, 2]  # stopped at EOS (kept as the last action token)
    assert out[1] == [6, 7, 8, 9]  # length limit


def _obs(*msgs):
    return {"messages": [{"role": r, "content": c, **kw} for r, c, kw in msgs]}


def test_episode_mask_covers_only_sampled_tokens(sft_dir):
    from transformers import AutoTokenizer

    from dialog_gym.agents.llm.prompt import ChatCodec, EpisodeTokens, PromptFormat, read_meta

    tok = AutoTokenizer.from_pretrained(sft_dir)
    codec = ChatCodec(tok, PromptFormat.from_dict(read_meta(sft_dir)["format"]))
    first = [("system", "ctx", {}), ("user", "hi", {})]
    ep = EpisodeTokens.start(codec, _obs(*first))
    n0 = len(ep.ids)
    gen = codec.reply_ids({"role": "assistant", "content": "hello there"})
    ep.add_reply(gen, "<|end|>", reward=1.0)
    ep.add_observation(codec, _obs(*first, ("assistant", "hello there", {}),
                                   ("user", "thanks", {})))
    assert ep.agent == [False] * n0 + [True] * len(gen) + [False] * (len(ep.ids) - n0 - len(gen))
    assert ep.reward_at == [n0 + len(gen) - 1]
    assert ep.ids[ep.reward_at[0]] == codec.end_id  # reward on the end-of-turn token
    # the grown sequence equals the canonical prompt of the same conversation
    canon = codec.prompt_ids(ep.messages)
    assert ep.ids == canon
    with pytest.raises(ValueError, match="assistant message"):
        ep.add_reply(gen, "<|end|>")
        ep.add_observation(codec, _obs(*first))  # no new assistant message: refused


def test_delexicalised_episode_grows_like_its_canonical_prompt(sft_dir):
    from transformers import AutoTokenizer

    from dialog_gym.agents.llm.prompt import (
        ChatCodec,
        EntityTable,
        EpisodeTokens,
        PromptFormat,
        observation_messages,
        read_meta,
    )

    tok = AutoTokenizer.from_pretrained(sft_dir)
    fmt = PromptFormat.from_dict(read_meta(sft_dir)["format"])
    assert fmt.delexicalize and fmt.tools  # the embedded default, with the env's tools
    codec = ChatCodec(tok, fmt)
    first = [("system", "Today is 2026-01-02.", {}), ("user", "where is order A1234?", {})]
    ep = EpisodeTokens.start(codec, _obs(*first))
    gen = codec.encode_text('<tool_call>{"name": "lookup_order", "arguments": '
                            '{"order": "<|e2|>"}}</tool_call>') + [codec.end_id]
    reply, stop = codec.reply_text(gen, ep.table)
    assert reply == ('<tool_call>{"name": "lookup_order", "arguments": {"order": "A1234"}}'
                     '</tool_call>') and stop == "<|end|>"
    ep.add_reply(gen, stop)
    call = {"id": "call_1_0", "type": "function",
            "function": {"name": "lookup_order", "arguments": '{"order": "A1234"}'}}
    later = [*first, ("assistant", "", {"tool_calls": [call]}),
             ("tool", '{"ok": true, "message": "order A1234 B7777"}',
              {"tool_call_id": "call_1_0", "name": "lookup_order"}),
             ("user", "thanks", {})]
    ep.add_observation(codec, _obs(*later))
    table = EntityTable()
    canon = codec.prompt_ids(observation_messages(_obs(*later), fmt, table))
    assert ep.ids == canon  # the sampled call is the template's rendering of it
    assert table.values == ["2026-01-02", "A1234", "B7777"] == ep.table.values
