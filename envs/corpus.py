"""Dialog-Corpus-v0: replay the user side of a dialogue corpus, score against gold replies.

Corpus format (JSON lines, one dialogue per line)::

    {"id": "support-01", "context": {"topic": "shipping delay"},
     "turns": [{"speaker": "user", "text": "..."}, {"speaker": "agent", "text": "..."}, ...]}

``speaker`` is ``"user"`` or ``"agent"``; :func:`convert` turns the common
``{"turns": [{"speaker", "text"}]}`` shape with other speaker names (``human``/``bot``,
``customer``/``assistant``, ...) into it. ``context`` (optional) is a string or an object
rendered as ``key: value`` lines. Leading agent turns are dropped, consecutive turns of one
speaker are merged.

Splits: a record may name its ``"split"`` (``"train"`` or ``"test"``); a record without one
is assigned by a stable hash of its ``id`` (:func:`assign_split`: about 30% test). The env's
``split`` argument replays one split (``"all"``, the default, replays every dialogue).
Anything that learns from the corpus (imitation, the ``retrieval`` baseline's index)
should use ``split="train"`` and be evaluated with ``split="test"``: every seed replays
one of the corpus' dialogues, so an agent that has seen a dialogue can recite its gold
replies (the leaderboard evaluates the test split).
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from dialog_gym.dialogue import AGENT, SYSTEM, USER, Dialogue, Turn
from dialog_gym.domain import Domain
from dialog_gym.env import DialogueEnv
from dialog_gym.error import ConfigError, ScenarioError
from dialog_gym.messages import observed
from dialog_gym.rules import LengthLimit, NoRepetition, Politeness, RuleBook, profanity
from dialog_gym.scenario import Scenario, make_scenario_id
from dialog_gym.simulator import AgentReply, Reaction
from dialog_gym.tools import ToolSet

DOMAIN = "corpus"
USER_NAMES = frozenset({"user", "human", "customer", "usr", "client", "speaker1", "a"})
AGENT_NAMES = frozenset({"agent", "assistant", "bot", "system", "sys", "gpt", "model",
                         "speaker2", "b"})
#: Values of a record's ``"split"`` and of the env's ``split`` argument.
SPLITS = ("train", "test")
#: Share of dialogues (per 10, by id hash) that :func:`assign_split` puts in ``"test"``.
TEST_TENTHS = 3


def assign_split(dialogue_id: str) -> str:
    """``"test"`` for about 30% of ids, ``"train"`` for the rest (stable: CRC-32 of the id).

    Example:
        >>> assign_split("support-07"), assign_split("support-01")
        ('test', 'train')
    """
    return "test" if zlib.crc32(dialogue_id.encode("utf-8")) % 10 < TEST_TENTHS else "train"


@dataclass(frozen=True)
class CorpusDialogue:
    """A normalised dialogue: alternating user/agent turns, starting with the user."""

    id: str
    context: str
    turns: tuple[tuple[str, str], ...]
    split: str = "train"

    @property
    def agent_turns(self) -> int:
        """Number of agent replies to produce."""
        return sum(1 for s, _ in self.turns if s == AGENT)


def default_corpus_path() -> str:
    """The small demo corpus written for this project (33 dialogues)."""
    return str(resources.files("dialog_gym.envs").joinpath("data/corpus_demo.jsonl"))


def _render_context(ctx: Any) -> str:
    if ctx is None:
        return ""
    if isinstance(ctx, str):
        return ctx
    if isinstance(ctx, Mapping):
        return "\n".join(f"{k}: {v}" for k, v in ctx.items())
    raise ScenarioError(f"dialogue context must be a str or an object, got {type(ctx).__name__}")


def normalise_dialogue(raw: Mapping[str, Any], *, where: str = "") -> CorpusDialogue | None:
    """Validate one corpus record; ``None`` if it has no agent reply to a user turn.

    Raises:
        ScenarioError: the record is not of the documented shape (``where`` names it).
    """
    if not isinstance(raw, Mapping) or not isinstance(raw.get("turns"), list):
        raise ScenarioError(f"{where}: expected an object with a 'turns' list")
    merged: list[list[str]] = []
    for k, t in enumerate(raw["turns"]):
        if not isinstance(t, Mapping) or not isinstance(t.get("text"), str):
            raise ScenarioError(f"{where}: turn {k} needs a 'text' string")
        spk = str(t.get("speaker", "")).strip().lower()
        if spk in USER_NAMES:
            spk = USER
        elif spk in AGENT_NAMES:
            spk = AGENT
        else:
            raise ScenarioError(
                f"{where}: turn {k} has speaker {t.get('speaker')!r}; expected one of "
                f"{sorted(USER_NAMES | AGENT_NAMES)} (use convert(..., user=..., agent=...))"
            )
        if not merged and spk == AGENT:
            continue
        if merged and merged[-1][0] == spk:
            merged[-1][1] += " " + t["text"].strip()
        else:
            merged.append([spk, t["text"].strip()])
    if merged and merged[-1][0] == USER:
        merged.pop()  # a final user turn has no reply to score
    if not any(s == AGENT for s, _ in merged):
        return None
    did = str(raw.get("id", where))
    split = raw.get("split")
    if split is None:
        split = assign_split(did)
    elif split not in SPLITS:
        raise ScenarioError(f"{where}: split {split!r} is not one of {list(SPLITS)}")
    return CorpusDialogue(did, _render_context(raw.get("context")),
                          tuple((s, x) for s, x in merged), split)


def load_corpus(path: str | os.PathLike[str], split: str = "all") -> list[CorpusDialogue]:
    """Read and validate a JSONL corpus (skipping dialogues without an agent reply).

    Args:
        path: The JSONL file.
        split: ``"all"``, or the split (``"train"`` / ``"test"``) whose dialogues to keep.
    """
    if split != "all" and split not in SPLITS:
        raise ConfigError(f"split={split!r}: expected 'all' or one of {list(SPLITS)}")
    if not os.path.exists(path):
        raise ConfigError(f"corpus file {str(path)!r} does not exist")
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as e:
                raise ScenarioError(f"{path}:{n}: not valid JSON ({e.msg})") from e
            d = normalise_dialogue(raw, where=f"{path}:{n}")
            if d is not None and split in ("all", d.split):
                out.append(d)
    if not out:
        which = "" if split == "all" else f" in split {split!r}"
        raise ConfigError(f"corpus {str(path)!r} holds no dialogue with an agent reply{which}")
    return out


def convert(records: Iterable[Mapping[str, Any]], out_path: str | os.PathLike[str], *,
            user: Sequence[str] = (), agent: Sequence[str] = ()) -> int:
    """Write dialogues of the common ``{"turns": [{"speaker", "text"}]}`` shape as a corpus.

    Args:
        records: Dialogues (e.g. ``json.loads`` of each line of another dataset).
        out_path: Where to write the JSONL corpus.
        user: Extra speaker names to map to ``"user"``.
        agent: Extra speaker names to map to ``"agent"``.

    Returns:
        The number of dialogues written.
    """
    users = {s.lower() for s in user}
    agents = {s.lower() for s in agent}
    n = 0
    tmp = f"{out_path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for i, rec in enumerate(records):
            turns = []
            for t in rec.get("turns", []):
                spk = str(t.get("speaker", "")).lower()
                spk = USER if spk in users else AGENT if spk in agents else spk
                turns.append({"speaker": spk, "text": t.get("text", "")})
            d = normalise_dialogue({**rec, "turns": turns}, where=f"record {i}")
            if d is None:
                continue
            out = {"id": d.id, "context": d.context,
                   "turns": [{"speaker": s, "text": x} for s, x in d.turns]}
            if "split" in rec:
                out["split"] = d.split
            f.write(json.dumps(out, ensure_ascii=False) + "\n")
            n += 1
    os.replace(tmp, out_path)
    return n


class CorpusGenerator:
    """Scenario ``index`` is dialogue ``(index // 3) mod N`` of a difficulty bucket of N.

    Dialogues are ordered by length (agent replies, then words) and split into three
    equal buckets: difficulty 0 holds the shortest third, 2 the longest.
    """

    domain = DOMAIN
    difficulties = (0, 1, 2)

    def __init__(self, dialogues: Sequence[CorpusDialogue]) -> None:
        self.dialogues = list(dialogues)
        order = sorted(range(len(self.dialogues)), key=lambda i: (
            self.dialogues[i].agent_turns,
            sum(len(x.split()) for _, x in self.dialogues[i].turns), i))
        n = len(order)
        self.buckets = {lvl: sorted(order[lvl * n // 3:(lvl + 1) * n // 3])
                        for lvl in self.difficulties}

    def generate(self, index: int, difficulty: int) -> Scenario:
        """The scenario replaying one dialogue."""
        bucket = self.buckets.get(difficulty) or list(range(len(self.dialogues)))
        # not ``index % len(bucket)``: the env picks the level as ``index % 3``, and a
        # bucket whose size shares a factor with 3 would then replay some dialogues only
        k = bucket[(index // len(self.difficulties)) % len(bucket)]
        d = self.dialogues[k]
        return Scenario(
            id=make_scenario_id(DOMAIN, index, difficulty), domain=DOMAIN,
            context={"topic": d.context, "dialogue_id": d.id},
            goal={"dialogue": k, "agent_turns": d.agent_turns},
            references=tuple(x for s, x in d.turns if s == AGENT),
            world={"turns": [list(t) for t in d.turns]}, difficulty=difficulty)


class ReplayUser:
    """The corpus' user side: says the next user turn whatever the agent replied.

    Each agent reply is compared with the gold reply by the ``token_f1`` scorer; a reply
    with F1 >= ``match`` counts as matched. Progress is the share of matched replies;
    the episode succeeds when the mean F1 over the dialogue reaches ``success_f1``.

    Args:
        match: F1 at which one reply counts as matched (progress).
        success_f1: Mean F1 over the dialogue needed for success.
    """

    def __init__(self, match: float = 0.5, success_f1: float = 0.5) -> None:
        from dialog_gym.scorers import make_scorer

        self.f1 = make_scorer("token_f1")
        self.match = match
        self.success_f1 = success_f1
        self.turns: list[list[str]] = []
        self.pos = 0
        self.scores: list[float] = []

    def start(self, scenario: Scenario, world: dict[str, Any],
              rng: np.random.Generator) -> Turn:
        """The first user turn."""
        self.turns = world["turns"]
        self.pos = 1
        self.scores = []
        return Turn(USER, self.turns[0][1], {"act": "replay"})

    def respond(self, dialogue: Dialogue, reply: AgentReply,
                rng: np.random.Generator) -> Reaction:
        """Score the reply against the gold one and replay the next user turn."""
        gold = self.turns[self.pos][1]
        self.scores.append(self.f1(reply.text, references=[gold]))
        self.pos += 1
        n_agent = sum(1 for s, _ in self.turns if s == AGENT)
        progress = sum(s >= self.match for s in self.scores) / n_agent
        mean = float(np.mean(self.scores))
        severe = any(v.severe for v in reply.violations)
        if self.pos >= len(self.turns) or severe:
            ok = not severe and len(self.scores) == n_agent and mean >= self.success_f1
            return Reaction(None, done=True, success=ok, progress=progress,
                            reason="corpus_end" if not severe else "severe_violation",
                            labels={"f1": self.scores[-1], "mean_f1": mean})
        user = Turn(USER, self.turns[self.pos][1], {"act": "replay"})
        self.pos += 1
        return Reaction(user, progress=progress, labels={"f1": self.scores[-1], "mean_f1": mean})


class CorpusExpert:
    """The corpus oracle: finds the dialogue by its user turns and says the gold reply.

    It acts from the observation only (the user messages of ``observation["messages"]``),
    looking the dialogue up in the same corpus file; it is the upper reference point of
    reference-based scores.
    """

    def __init__(self, dialogues: Sequence[CorpusDialogue]) -> None:
        self.by_opening: dict[str, list[CorpusDialogue]] = {}
        for d in dialogues:
            self.by_opening.setdefault(d.turns[0][1], []).append(d)

    def reset(self) -> None:
        """Stateless."""

    def act(self, observation: Mapping[str, Any]) -> str:
        """The gold reply for the current position, or a neutral reply if unknown."""
        observed(observation, "CorpusExpert")
        users = [m["content"] for m in observation["messages"] if m["role"] == "user"]
        if not users:
            return "How can I help?"
        for d in self.by_opening.get(users[0], []):
            gold_users = [x for s, x in d.turns if s == USER]
            if gold_users[: len(users)] == users:
                replies = [x for s, x in d.turns if s == AGENT]
                if len(users) <= len(replies):
                    return replies[len(users) - 1]
        return "I'm sorry, could you say that again?"


class CorpusDomain(Domain):
    """A JSONL corpus as a domain: replayed user, gold references, the corpus oracle.

    Args:
        path: Corpus file (default: the bundled demo corpus).
        success_f1: Mean token F1 against the gold replies needed for success.
        split: ``"all"``, ``"train"`` or ``"test"``: the dialogues replayed.
    """

    name = DOMAIN
    labels = {USER: "User", AGENT: "Agent", SYSTEM: "System"}
    default_reward = {"token_f1": 1.0, "bleu": 0.5, "rule_compliance": 1.0}

    def __init__(self, path: str | os.PathLike[str] | None = None,
                 success_f1: float = 0.5, split: str = "all") -> None:
        self.path = str(path) if path is not None else default_corpus_path()
        self.split = split
        self.dialogues = load_corpus(self.path, split)
        self.success_f1 = success_f1

    def generator(self) -> CorpusGenerator:
        """Dialogues by index and length bucket."""
        return CorpusGenerator(self.dialogues)

    def tools(self) -> ToolSet:
        """No tools."""
        return ToolSet()

    def rulebook(self) -> RuleBook:
        """Repetition, politeness, profanity and length rules."""
        return RuleBook([NoRepetition(), Politeness(), profanity(), LengthLimit(120)])

    def make_user(self) -> ReplayUser:
        """The replayed user."""
        return ReplayUser(success_f1=self.success_f1)

    def make_expert(self) -> CorpusExpert:
        """The corpus oracle over the same file (every split: it finds any dialogue)."""
        return CorpusExpert(self.dialogues if self.split == "all" else load_corpus(self.path))

    def render_context(self, scenario: Scenario, rules: RuleBook, tools: ToolSet) -> str:
        """Topic of the dialogue and the rules."""
        topic = scenario.context["topic"]
        return "\n".join(x for x in [
            "You are the agent in a conversation replayed from a dialogue corpus; reply as "
            "the original agent would.",
            f"Context:\n{topic}" if topic else "",
            "Rules:", rules.describe()] if x)

    def facts(self, scenario: Scenario) -> Mapping[str, Any]:
        """The dialogue id and its gold replies."""
        return {"dialogue_id": scenario.context["dialogue_id"],
                "gold_replies": list(scenario.references)}


class CorpusEnv(DialogueEnv):
    """Dialog-CustomerService's offline sibling: a corpus of dialogues, replayed.

    ## Description
    Each episode replays one dialogue of a JSON-lines corpus (format in
    :mod:`dialog_gym.envs.corpus`): the user's turns come from the corpus, whatever the
    agent says (no reaction), and each agent reply is scored against the corpus' gold reply
    for that position. This is the offline-evaluation (and offline RL / imitation) setting
    on real or curated data; a 33-dialogue demo corpus written for this project ships with
    the package.

    ## Action space
    ``UnicodeText(1000)``: the reply.

    ## Observation space
    ``Dict(context, history, turn, messages)``: the context holds the dialogue's
    topic/context and the rules; the history the corpus' user turns and the agent's own
    replies; ``messages`` the same as chat messages, which the corpus oracle reads.

    ## Rewards
    Default mix: ``1.0 * token_f1 + 0.5 * bleu + 1.0 * rule_compliance`` against the gold
    reply of each position. Any reference-based scorer can replace them
    (``reward={"rouge": 1.0, "semantic": 1.0}``).

    ## Starting state
    Dialogue ``(index // 3) mod N`` of the difficulty's bucket (the corpus split into thirds by
    length: 0 the shortest dialogues, 2 the longest).

    ## Episode end
    Terminated after the last gold reply's position (or a severe rule violation). Success:
    the mean token F1 over the dialogue's replies reaches ``success_f1`` (default 0.5).

    ## Arguments
    ``gym.make("Dialog-Corpus-v0", path=None, success_f1=0.5, split="all", reward=None,
    ...)``. ``split="train"`` / ``"test"`` replays one split of the corpus (module
    docstring): learn from the train split, evaluate on the test split.

    ## Version history
    - v0: initial release.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, success_f1: float = 0.5,
                 split: str = "all", **kwargs: Any) -> None:
        super().__init__(CorpusDomain(path, success_f1=success_f1, split=split), **kwargs)
