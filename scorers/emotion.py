"""Emotion consistency: does the reply's tone fit how the user feels?"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from dialog_gym.dialogue import USER
from dialog_gym.error import ConfigError, DependencyNotInstalled
from dialog_gym.scorers.base import ScoreInput, Scorer

#: What the user may feel.
USER_EMOTIONS = ("anger", "sadness", "fear", "joy", "neutral")
#: The tones a reply may take.
REPLY_TONES = ("empathetic", "friendly", "cheerful", "neutral", "dismissive", "hostile")

#: How well a reply tone fits a user emotion (rows: USER_EMOTIONS, cols: REPLY_TONES).
#: Angry, sad or worried users -> calm, empathetic replies; happy users -> warm ones;
#: dismissive or hostile replies never fit.
FIT = {
    #            emp    friendly cheerful neutral dismiss hostile
    "anger":   (1.00, 0.70, 0.25, 0.60, 0.10, 0.00),
    "sadness": (1.00, 0.65, 0.15, 0.50, 0.10, 0.00),
    "fear":    (1.00, 0.75, 0.30, 0.60, 0.10, 0.00),
    "joy":     (0.55, 0.95, 1.00, 0.60, 0.20, 0.00),
    "neutral": (0.75, 1.00, 0.75, 0.90, 0.25, 0.00),
}

#: Valence of each category, used to fold VADER polarity into the classifiers.
_USER_VALENCE = {"anger": -1.0, "sadness": -1.0, "fear": -1.0, "joy": 1.0, "neutral": 0.0}
_TONE_VALENCE = {"empathetic": 0.0, "friendly": 0.5, "cheerful": 1.0, "neutral": 0.0,
                 "dismissive": -0.5, "hostile": -1.0}

#: Prototype sentences of each category, written for dialog-gym (support-desk flavour,
#: but generic). A category's affinity is the mean of its top-3 cosine similarities.
USER_PROTOTYPES: dict[str, tuple[str, ...]] = {
    "anger": (
        "This is outrageous, I am so angry right now.",
        "I'm furious, this is the third time you people messed up my order.",
        "This is completely unacceptable and I'm fed up with your service.",
        "Why does nobody ever fix anything? I'm sick of this.",
        "I am really annoyed that I was charged twice.",
        "Your company is a joke, I want this sorted now.",
        "I've been waiting for weeks and I'm extremely frustrated.",
        "Stop wasting my time and fix it!",
    ),
    "sadness": (
        "I'm really sad, the gift for my mother arrived broken.",
        "I feel so disappointed, I was looking forward to this.",
        "My dog passed away and I need to cancel his food subscription.",
        "I'm heartbroken, it was for my daughter's birthday and it never came.",
        "I've had a terrible week and now this too.",
        "I lost my job, so I can't afford this anymore.",
        "It makes me so sad that it was ruined.",
    ),
    "fear": (
        "I'm worried someone has hacked my account.",
        "I'm really anxious, I need this medicine before Friday.",
        "I'm scared I'll be charged again, please help.",
        "I'm nervous that my package was stolen.",
        "I'm so stressed, the wedding is tomorrow and the dress isn't here.",
        "I'm afraid I made a mistake with my payment.",
        "What if my card details were leaked? I'm panicking.",
    ),
    "joy": (
        "Thank you so much, you've been amazing!",
        "Great news, the package arrived and I love it!",
        "I'm so happy with my purchase.",
        "That's wonderful, thanks for the quick help!",
        "Yay, it finally came, I'm thrilled!",
        "I just wanted to say your service is fantastic.",
        "I'm excited, I just got engaged and want to order rings.",
    ),
    "neutral": (
        "I'd like to check the status of my order.",
        "Can you tell me when my package will arrive?",
        "My order number is A1234.",
        "I need to change my shipping address.",
        "What is your return policy?",
        "The email on my account is jane@example.com.",
        "I want to update my payment method.",
    ),
}

REPLY_PROTOTYPES: dict[str, tuple[str, ...]] = {
    "empathetic": (
        "I'm so sorry about this, I completely understand how frustrating it must be.",
        "I'm sorry to hear that, that sounds really upsetting. Let me fix it right away.",
        "I understand your concern, and I'll make sure this is resolved for you.",
        "I'm truly sorry for your loss. I'll take care of the cancellation for you.",
        "I apologize for the trouble. You have every right to be upset, and I'm here to help.",
        "That must be worrying. Don't worry, your account is safe and I'll walk you through it.",
        "I can imagine how disappointing that is, I'm sorry. Let's get a replacement sent.",
        "Thank you for your patience, I know this has been stressful.",
        "It sounds like you're carrying a lot right now, and that's really hard.",
        "Losing someone you love leaves such an empty space; of course you feel lonely.",
        "Being left out like that would hurt anyone.",
        "Your feelings are completely valid, and I'm glad you told me.",
    ),
    "friendly": (
        "Happy to help! Could you share your order number?",
        "Thanks for reaching out, I'll look into that for you.",
        "Sure thing, let me check that for you.",
        "Of course! I'd be glad to help with that.",
        "Thanks so much, have a lovely day!",
        "You're welcome, it was a pleasure helping you.",
    ),
    "cheerful": (
        "Yay! That's fantastic news, congratulations!",
        "Awesome!!! So thrilled for you, woohoo!",
        "Wow, how exciting! Enjoy every minute of it!",
        "Great news! Isn't that wonderful? Have an amazing time!",
        "That's brilliant, I'm so happy for you!",
        "Hooray, what a great day!",
    ),
    "neutral": (
        "Your order A1234 shipped on May 5 with tracking number 1Z999.",
        "The refund of $31.72 will appear within 5 business days.",
        "Please provide the email address on the account.",
        "The return window is 30 days from delivery.",
        "Order B2345 is currently processing.",
        "I have updated the shipping address.",
    ),
    "dismissive": (
        "That's not my problem.",
        "Whatever. Read the FAQ.",
        "There's nothing I can do, deal with it.",
        "I don't know, figure it out yourself.",
        "Calm down, it's just a package.",
        "You'll have to wait like everyone else.",
        "Not our fault. Next.",
        "Can't help you with that.",
        "Not my department, call someone else.",
        "That's just how it is, nothing to be done.",
        "I don't have time for this.",
        "It's your responsibility, not ours.",
        "Read the terms next time.",
        "Fine. Whatever you say.",
    ),
    "hostile": (
        "Stop complaining, it's your own fault.",
        "Are you stupid? I already told you.",
        "You people are so annoying.",
        "Shut up and listen.",
        "If you don't like it, shop somewhere else, idiot.",
        "I don't care about your stupid order.",
        "Quit moaning about it.",
        "What a ridiculous complaint.",
        "Quit bothering me with this nonsense.",
        "You clearly can't read instructions.",
        "Honestly, that's your own dumb mistake.",
        "Ugh, you again? Go away.",
    ),
}

#: Words naming a user's mood in a scenario context ("sounds angry", "mood: sad").
MOOD_WORDS = {
    "anger": ("angry", "furious", "annoyed", "irritated", "frustrated", "upset", "irate",
              "mad", "outraged"),
    "sadness": ("sad", "unhappy", "disappointed", "grieving", "heartbroken", "depressed",
                "down", "sorrowful"),
    "fear": ("worried", "anxious", "nervous", "scared", "afraid", "stressed", "panicked",
             "frightened", "concerned"),
    "joy": ("happy", "cheerful", "delighted", "excited", "pleased", "thrilled", "glad",
            "joyful", "grateful"),
    "neutral": ("calm", "neutral", "relaxed", "matter-of-fact"),
}
_MOOD_INDEX = {w: e for e, ws in MOOD_WORDS.items() for w in ws}
_MOOD_RE = re.compile(
    r"\b(?:sounds?|seems?|feels?|feeling|is|appears?|mood|emotion)\b\s*[:=]?\s*"
    r"(?:very |quite |really |rather |a bit |somewhat |extremely |slightly )?"
    r"(" + "|".join(sorted(map(re.escape, _MOOD_INDEX), key=len, reverse=True)) + r")\b",
    re.IGNORECASE,
)

#: Lexical cues of reply tones (added to the prototype logits, ``cue_weight`` each).
TONE_CUES = {
    "empathetic": re.compile(
        r"\b(?:sorry|apologi[sz]e|apologies|i understand|understandabl[ey]|i can imagine|"
        r"that must be|i hear you|condolences|don'?t worry|rest assured|i know how)\b", re.I),
    "cheerful": re.compile(r"!{2,}|\b(?:yay|woo+ho+|hooray|awesome|congrat\w*|wow)\b", re.I),
    "dismissive": re.compile(
        r"\b(?:not my (?:problem|issue|job|department|concern|fault)|deal with it|whatever|"
        r"figure it out|nothing (?:i|we) can do|not our (?:problem|issue|fault)|"
        r"like everyone else|read the (?:faq|terms|manual)|calm down|no idea)\b", re.I),
    "hostile": re.compile(
        r"\b(?:idiot\w*|stupid|dumb|moron\w*|shut up|stop (?:whining|complaining|moaning)|"
        r"your own fault|pathetic|go away|get lost|useless customer)\b", re.I),
}
#: Lexical cues of user emotions (stems; a cue right after a negation is ignored).
USER_CUES = {
    "anger": re.compile(
        r"\b(?:angr\w*|furious\w*|annoy\w*|irritat\w*|frustrat\w*|upset|irate|mad|"
        r"outrag\w*|fed up|unacceptable|disgrace\w*|ridiculous)\b", re.I),
    "sadness": re.compile(
        r"\b(?:sad|sadly|sadness|unhappy|disappoint\w*|griev\w*|heartbr\w*|depress\w*|"
        r"devastat\w*|let down|passed away)\b", re.I),
    "fear": re.compile(
        r"\b(?:worr\w*|anxi\w*|nervous\w*|scared|afraid|stress\w*|panic\w*|frighten\w*|"
        r"terrified)\b", re.I),
    "joy": re.compile(
        r"\b(?:happy|delight\w*|excit\w*|pleased|thrill\w*|glad|joy\w*|grateful|"
        r"wonderful|amazing|fantastic|love it|thrilled)\b", re.I),
}
_NEGATED = re.compile(r"(?:\b(?:not|never|no|hardly)|n't)\s+(?:\w+\s+)?$", re.I)

#: Default mapping of common text-classification labels (GoEmotions, dair-ai/emotion,
#: sentiment models) to the user emotions and reply tones.
DEFAULT_LABEL_MAP: dict[str, tuple[str, str]] = {
    "anger": ("anger", "hostile"), "annoyance": ("anger", "dismissive"),
    "disgust": ("anger", "hostile"), "disapproval": ("anger", "dismissive"),
    "sadness": ("sadness", "empathetic"), "grief": ("sadness", "empathetic"),
    "disappointment": ("sadness", "empathetic"), "remorse": ("sadness", "empathetic"),
    "fear": ("fear", "empathetic"), "nervousness": ("fear", "empathetic"),
    "caring": ("neutral", "empathetic"), "joy": ("joy", "cheerful"),
    "love": ("joy", "friendly"), "gratitude": ("joy", "friendly"),
    "admiration": ("joy", "friendly"), "approval": ("neutral", "friendly"),
    "optimism": ("joy", "friendly"), "excitement": ("joy", "cheerful"),
    "amusement": ("joy", "cheerful"), "pride": ("joy", "cheerful"),
    "relief": ("joy", "friendly"), "surprise": ("neutral", "cheerful"),
    "curiosity": ("neutral", "neutral"), "confusion": ("fear", "neutral"),
    "realization": ("neutral", "neutral"), "desire": ("neutral", "neutral"),
    "embarrassment": ("sadness", "empathetic"), "neutral": ("neutral", "neutral"),
    "positive": ("joy", "friendly"), "negative": ("anger", "hostile"),
}


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, 1e-12)


def _cues(texts: Sequence[str], table: Mapping[str, re.Pattern[str]],
          cats: Sequence[str]) -> np.ndarray:
    """1 where a category's cue pattern occurs in a text: ``(n, n_categories)``."""
    out = np.zeros((len(texts), len(cats)))
    for j, c in enumerate(cats):
        pat = table.get(c)
        if pat is None:
            continue
        for i, t in enumerate(texts):
            for m in pat.finditer(t):
                if not _NEGATED.search(t[max(0, m.start() - 24):m.start()].replace("’", "'")):
                    out[i, j] = 1.0
                    break
    return out


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def context_mood(context: str, facts: Mapping[str, Any] | None = None) -> str | None:
    """The user emotion named in a context (``"sounds angry"``) or in ``facts["mood"]``.

    Example:
        >>> context_mood("Customer on the line: Ann Lee (sounds annoyed).")
        'anger'
        >>> context_mood("Be polite even when customers are angry.") is None
        True
    """
    for key in ("mood", "emotion", "user_mood"):
        v = (facts or {}).get(key)
        if isinstance(v, str):
            e = _MOOD_INDEX.get(v.strip().lower(), v.strip().lower())
            if e in USER_EMOTIONS:
                return e
    m = _MOOD_RE.search(context)
    return _MOOD_INDEX[m.group(1).lower()] if m else None


class EmotionConsistency(Scorer):
    """Fit between the user's emotion and the reply's tone, on [0, 1].

    The newest user turn is classified into :data:`USER_EMOTIONS` and the reply into
    :data:`REPLY_TONES`, each as a probability distribution: a softmax over the cosine
    similarity of the (centred) sentence embedding to hand-written prototype sentences
    of each category (mean of the top 3) divided by ``temperature``, plus ``cue_weight``
    for each category whose lexical cues occur (:data:`USER_CUES`, :data:`TONE_CUES`:
    mood words, apologies, dismissals, insults; ignored right after a negation), plus
    VADER's compound polarity times the category's valence (``polarity_weight``). A
    mood named in the context (``"sounds angry"``) or in ``facts["mood"]`` is mixed into
    the user's distribution (``context_weight``). The score is the expected fit
    ``sum_u sum_t P(u) P(t) FIT[u][t]`` with the table :data:`FIT`: an angry, sad or
    worried user is best met by an empathetic reply, a happy user by a warm or cheerful
    one; dismissive and hostile replies never fit.

    **Rewards** replies whose tone suits how the user feels. An empty reply scores 0.
    Texts are cut to their first ``max_chars`` characters.

    With ``classifier`` (a local Hugging Face text-classification model path or id),
    that model's label probabilities replace the prototypes, mapped to user emotions and
    reply tones by ``label_map`` (default :data:`DEFAULT_LABEL_MAP`, covering
    GoEmotions and dair-ai/emotion labels).

    Known failure modes: tone, not truth (a polite wrong answer fits); sarcasm ("oh
    great, another delay") reads as positive; prototypes are English and
    customer-service flavoured; very short replies ("ok") are near-neutral.

    Range: [0, 1]. Cost: neural (one sentence-embedding call per batch; VADER ~20k
    sentences/s).

    Args:
        model: Sentence-embedding model (None: the embedded all-MiniLM-L6-v2).
        classifier: Optional text-classification model path/id replacing prototypes.
        label_map: Classifier label -> ``(user_emotion, reply_tone)``.
        temperature: Softmax temperature of the prototype affinities.
        polarity_weight: Strength of the VADER valence prior.
        cue_weight: Logit added for a category whose lexical cue occurs.
        center: Subtract the prototypes' mean embedding before comparing (removes the
            shared topic direction, so tone decides more than topic).
        context_weight: Share of a mood named in the context in the user's distribution.
        max_chars: Longest text considered.
        device: Torch device.

    Example:
        >>> from dialog_gym.dialogue import Turn
        >>> s = EmotionConsistency()
        >>> h = [Turn("user", "This is ridiculous, my order is late again and I'm furious!")]
        >>> good = s("I'm really sorry for the delay, I understand. Let me fix this now.",
        ...          history=h)
        >>> bad = s("Not my problem, wait like everyone else.", history=h)
        >>> good > 0.8 > 0.3 > bad
        True
    """

    name = "emotion_consistency"
    range = (0.0, 1.0)
    cost = "neural"
    citation = ("VADER: Hutto & Gilbert (2014); prototype classification over Sentence-BERT "
                "embeddings (Reimers & Gurevych, 2019); empathetic responding: Rashkin et al. "
                "(2019)")

    def __init__(self, model: str | None = None, *, classifier: str | None = None,
                 label_map: Mapping[str, tuple[str, str]] | None = None,
                 temperature: float = 0.03, polarity_weight: float = 1.0,
                 cue_weight: float = 2.0, center: bool = True,
                 context_weight: float = 0.5, max_chars: int = 2000,
                 device: str = "cpu") -> None:
        if temperature <= 0:
            raise ConfigError(f"temperature must be > 0, got {temperature!r}")
        if not 0.0 <= context_weight <= 1.0:
            raise ConfigError(f"context_weight must lie in [0, 1], got {context_weight!r}")
        if max_chars < 1:
            raise ConfigError(f"max_chars must be >= 1, got {max_chars!r}")
        lm = dict(DEFAULT_LABEL_MAP if label_map is None else label_map)
        for k, (u, t) in lm.items():
            if u not in USER_EMOTIONS or t not in REPLY_TONES:
                raise ConfigError(
                    f"label_map[{k!r}] = {(u, t)!r}: expected (one of {USER_EMOTIONS}, "
                    f"one of {REPLY_TONES})")
        self.model = model
        self.classifier = classifier
        self.label_map = {k.lower(): v for k, v in lm.items()}
        self.temperature = float(temperature)
        self.polarity_weight = float(polarity_weight)
        self.cue_weight = float(cue_weight)
        self.center = bool(center)
        self.context_weight = float(context_weight)
        self.max_chars = int(max_chars)
        self.device = device
        self._encoder: Any = None
        self._protos: dict[str, tuple[np.ndarray, list[np.ndarray]]] = {}
        self._vader: Any = None
        self._pipe: Any = None
        self._fit = np.array([FIT[u] for u in USER_EMOTIONS])

    # ------------------------------------------------------------------ components
    @property
    def vader(self) -> Any:
        """The VADER analyser of the ``vaderSentiment`` package (lexicon included)."""
        if self._vader is None:
            try:
                from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
            except ImportError as e:
                raise DependencyNotInstalled(
                    "emotion_consistency needs VADER: pip install vaderSentiment") from e
            self._vader = SentimentIntensityAnalyzer()
        return self._vader

    @property
    def encoder(self) -> Any:
        """The shared sentence encoder (loaded on first use)."""
        if self._encoder is None:
            from dialog_gym.embedding import get_encoder

            self._encoder = get_encoder(self.model, device=self.device)
        return self._encoder

    def _prototypes(self, side: str) -> list[np.ndarray]:
        if not self._protos:  # both tables in one model call, on first use
            sides = (("user", USER_PROTOTYPES, USER_EMOTIONS),
                     ("reply", REPLY_PROTOTYPES, REPLY_TONES))
            flat = [s for _, table, cats in sides for c in cats for s in table[c]]
            emb_all = self.encoder.encode(flat)
            k = 0
            for name, table, cats in sides:
                n_side = sum(len(table[c]) for c in cats)
                emb = emb_all[k:k + n_side]
                k += n_side
                mu = emb.mean(axis=0) if self.center else np.zeros(emb.shape[1], np.float32)
                emb = _unit(emb - mu)
                out, j = [], 0
                for c in cats:
                    out.append(emb[j:j + len(table[c])])
                    j += len(table[c])
                self._protos[name] = (mu, out)
        return self._protos[side][1]

    def _affinity(self, emb: np.ndarray, side: str) -> np.ndarray:
        """Mean of the top-3 prototype cosines per category: ``(n, n_categories)``."""
        protos = self._prototypes(side)
        emb = _unit(emb - self._protos[side][0])
        cols = []
        for p in protos:
            sims = emb @ p.T
            k = min(3, p.shape[0])
            cols.append(np.sort(sims, axis=1)[:, -k:].mean(axis=1))
        return np.stack(cols, axis=1)

    def _classifier_pipe(self) -> Any:
        if self._pipe is None:
            try:
                from transformers import pipeline
            except ImportError as e:
                raise DependencyNotInstalled(
                    "classifier= needs transformers: pip install transformers") from e
            import os

            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            pipe = pipeline("text-classification", model=self.classifier, top_k=None,
                            device=self.device)
            labels = [str(v).lower() for v in pipe.model.config.id2label.values()]
            if not any(lab in self.label_map for lab in labels):
                raise ConfigError(
                    f"none of the classifier's labels {labels} is in label_map; pass "
                    "label_map={'<label>': ('<user emotion>', '<reply tone>'), ...}")
            self._pipe = pipe
        return self._pipe

    def _classify_hf(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        pipe = self._classifier_pipe()
        res = pipe(texts, truncation=True)
        pu = np.zeros((len(texts), len(USER_EMOTIONS)))
        pt = np.zeros((len(texts), len(REPLY_TONES)))
        for i, row in enumerate(res):
            for d in row:
                m = self.label_map.get(str(d["label"]).lower())
                if m is not None:
                    pu[i, USER_EMOTIONS.index(m[0])] += d["score"]
                    pt[i, REPLY_TONES.index(m[1])] += d["score"]
        for p, neutral in ((pu, USER_EMOTIONS.index("neutral")),
                           (pt, REPLY_TONES.index("neutral"))):
            s = p.sum(axis=1, keepdims=True)
            p[s[:, 0] == 0, neutral] = 1.0
            p /= p.sum(axis=1, keepdims=True)
        return pu, pt

    # ------------------------------------------------------------------ scoring
    def _user_text(self, x: ScoreInput) -> str:
        for t in reversed(x.history):
            if t.speaker == USER and t.text.strip():
                return t.text[: self.max_chars]
        return ""

    def distributions(self, batch: Sequence[ScoreInput]) -> tuple[np.ndarray, np.ndarray]:
        """``(P(user emotion), P(reply tone))`` for each input, ``(n, 5)`` and ``(n, 6)``."""
        batch = list(batch)
        n = len(batch)
        replies = [x.response[: self.max_chars] for x in batch]
        users = [self._user_text(x) for x in batch]
        texts = list(dict.fromkeys([t for t in replies + users if t.strip()]))
        pos = {t: i for i, t in enumerate(texts)}
        pu = np.full((n, len(USER_EMOTIONS)), 0.0)
        pt = np.full((n, len(REPLY_TONES)), 0.0)
        if texts:
            if self.classifier is not None:
                cu, ct = self._classify_hf(texts)
                tu_all, tt_all = np.log(cu + 1e-6), np.log(ct + 1e-6)
            else:
                emb = self.encoder.encode(texts)  # one batched call for replies + user turns
                self._prototypes("user")
                self._prototypes("reply")
                tu_all = self._affinity(emb, "user") / self.temperature
                tt_all = self._affinity(emb, "reply") / self.temperature
            pol = np.array([self.vader.polarity_scores(t)["compound"] for t in texts])
            uval = np.array([_USER_VALENCE[c] for c in USER_EMOTIONS])
            tval = np.array([_TONE_VALENCE[c] for c in REPLY_TONES])
            w, cw = self.polarity_weight, self.cue_weight
            tu_all = _softmax(tu_all + w * np.outer(pol, uval)
                              + cw * _cues(texts, USER_CUES, USER_EMOTIONS))
            # a reply's negative polarity is ambiguous (empathy mirrors the user's pain,
            # hostility is negative too): only its positive polarity is a tone prior
            tt_all = _softmax(tt_all + w * np.outer(np.maximum(pol, 0.0), tval)
                              + cw * _cues(texts, TONE_CUES, REPLY_TONES))
        neutral_u = np.eye(len(USER_EMOTIONS))[USER_EMOTIONS.index("neutral")]
        for i, x in enumerate(batch):
            ut = users[i]
            pu[i] = tu_all[pos[ut]] if ut.strip() else neutral_u
            mood = context_mood(x.context, x.facts)
            if mood is not None:
                onehot = np.eye(len(USER_EMOTIONS))[USER_EMOTIONS.index(mood)]
                c = self.context_weight if ut.strip() else 1.0
                pu[i] = (1.0 - c) * pu[i] + c * onehot
            if replies[i].strip():
                pt[i] = tt_all[pos[replies[i]]]
        return pu, pt

    def _score(self, batch: list[ScoreInput]) -> np.ndarray:
        pu, pt = self.distributions(batch)
        out = np.einsum("iu,ut,it->i", pu, self._fit, pt)
        empty = np.array([not x.response.strip() for x in batch])
        out[empty] = 0.0
        return np.clip(out, 0.0, 1.0)

    def signature(self) -> str:
        """Classifier, temperature and weights."""
        from dialog_gym.embedding import DEFAULT_MODEL

        clf = f"hf:{self.classifier}" if self.classifier else \
            f"prototypes:{self.model or DEFAULT_MODEL}"
        return (f"emotion_consistency[{clf}|T:{self.temperature:g}|vader:"
                f"{self.polarity_weight:g}|ctx:{self.context_weight:g}]")

    def __repr__(self) -> str:
        return (f"EmotionConsistency(model={self.model!r}, classifier={self.classifier!r}, "
                f"temperature={self.temperature:g})")
