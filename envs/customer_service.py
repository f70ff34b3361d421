"""Dialog-CustomerService-v0: an online shop's support desk.

The domain module holds the data, tools, policy rule, simulated customer and scripted
expert; the turn loop is the shared :class:`~dialog_gym.env.DialogueEnv`.
"""

from __future__ import annotations

import json
import random
import re
import unicodedata
from collections.abc import Mapping, MutableMapping
from datetime import date, timedelta
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from dialog_gym.dialogue import AGENT, SYSTEM, USER
from dialog_gym.domain import Domain
from dialog_gym.env import DialogueEnv
from dialog_gym.messages import observed, tool_payload
from dialog_gym.rules import (
    LengthLimit,
    NoCardNumber,
    NoRepetition,
    Politeness,
    RequiredProcedure,
    Rule,
    RuleBook,
    RuleContext,
    Violation,
    profanity,
)
from dialog_gym.scenario import Scenario, make_scenario_id
from dialog_gym.simulator import AgendaUser, AgentReply, Fact, Milestone, ReplyAnalysis
from dialog_gym.text import normalize
from dialog_gym.tools import Tool, ToolParam, ToolResult, ToolSet
from dialog_gym.understanding import ASSERT, IMPERATIVE, Analysis, Lexicon

DOMAIN = "customer_service"
GOALS = ("order_status", "refund", "cancel", "address_change", "password_reset",
         "billing_dispute")
#: goals whose actions need identity verification first
GUARDED_TOOLS = ("refund", "refund_charge", "cancel_order", "change_address",
                 "reset_password", "lookup_billing")
#: failed ``verify_identity`` attempts after which the account is locked for the episode
VERIFY_ATTEMPTS = 3

# (the expert reads the new address from the customer's words; agent replies are read
# through the shared analysis only)
_ADDRESS = re.compile(
    r"\d+ [A-Z][a-z]+ (?:Street|Avenue|Road|Lane|Drive|Way|Court|Boulevard|Place), "
    r"[A-Z][a-z]+ \d{5}"
)


@lru_cache(maxsize=1)
def load_data() -> dict[str, Any]:
    """The domain's names, items and wording tables (``envs/data/customer_service.json``)."""
    text = resources.files("dialog_gym.envs").joinpath("data/customer_service.json").read_text(
        encoding="utf-8")
    return json.loads(text)


def _ascii(s: str) -> str:
    return unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode().lower()


#: ``2 * d`` with its two digits summed (``2 * d - 9`` above 9), for the Luhn checksum
_LUHN_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def _luhn_card(rng: random.Random) -> str:
    body = "4" + f"{rng.getrandbits(48):015d}"[-14:]
    digits = list(map(int, body))
    # Luhn: counted from the right, the 1st, 3rd, ... digit is doubled (before the check
    # digit is appended, the last digit is the rightmost)
    total = sum([_LUHN_DOUBLED[d] for d in digits[::-2]]) + sum(digits[-2::-2])
    return body + str((10 - total % 10) % 10)


_JAN_1_2026 = date(2026, 1, 1).toordinal()


def _money(x: float) -> str:
    return f"{x:.2f}"


# ============================================================================ scenarios


class CustomerServiceGenerator:
    """Seeded scenarios for the support desk.

    Scenario ``index`` at ``difficulty`` is drawn from
    ``random.Random("customer_service/<index>/<difficulty>")`` (string seeds are hashed
    with SHA-512, so scenarios are identical across processes and platforms): the
    customer (name, email, zip, address, card), 1-3 orders (ids, items and prices,
    dates, status, carrier, tracking), the billing history, the shop policy and one goal among
    :data:`GOALS`. Difficulty 0: the customer names the order up front, is calm, and the
    request is within policy. Difficulty 1: the order number must be asked for, other
    orders distract, a quarter of requests are outside policy. Difficulty 2: upset
    customers with less patience, half the requests outside policy (refunds past the
    return window or over the agent's limit, cancelling an order that already shipped).
    """

    domain = DOMAIN
    difficulties = (0, 1, 2)

    def generate(self, index: int, difficulty: int) -> Scenario:
        """Scenario number ``index`` at ``difficulty``."""
        d = load_data()
        rng = random.Random(f"{DOMAIN}/{int(index)}/{int(difficulty)}")
        uniform = rng.random

        def pick(seq: Any) -> Any:
            return seq[int(uniform() * len(seq))]

        def randint(lo: int, hi: int) -> int:  # half-open, like numpy's integers
            return lo + int(uniform() * (hi - lo))

        today = _JAN_1_2026 + randint(0, 365)  # day number (date.toordinal)
        today_iso = date.fromordinal(today).isoformat()
        first, last = pick(d["first_names"]), pick(d["last_names"])
        zip_code = str(randint(10000, 99999))
        street_no = randint(1, 999)
        city = pick(d["cities"])
        address = f"{street_no} {pick(d['streets'])}, {city} {zip_code}"
        card = _luhn_card(rng)
        customer = {
            "name": f"{first} {last}",
            "email": f"{_ascii(first)}.{_ascii(last)}{randint(10, 99)}@"
                     f"{pick(d['email_domains'])}",
            "zip": zip_code,
            "address": address,
            "card_number": card,
            "card_last4": card[-4:],
        }
        policy = {"return_window_days": int(pick([14, 30, 30, 60])), "refund_limit": 200.0}
        goal_type = pick(GOALS)
        p_hard = (0.0, 0.25, 0.5)[difficulty]
        hard = bool(rng.random() < p_hard)
        mood_name = pick(["calm", "calm", "annoyed"]) if difficulty == 0 else pick(
            ["calm", "annoyed", "angry"] if difficulty == 1 else ["annoyed", "angry", "angry"])
        mood_value = {"calm": 0.3, "annoyed": -0.1, "angry": -0.45}[mood_name]

        used_ids: set[str] = set()

        def new_order_id() -> str:
            while True:
                oid = f"{chr(65 + randint(0, 26))}{randint(1000, 9999)}"
                if oid not in used_ids:
                    used_ids.add(oid)
                    return oid

        def new_item(min_price: float = 0.0, max_price: float = 1e9) -> dict[str, Any]:
            name, lo, hi = pick([it for it in d["items"]
                                 if it[2] > min_price + 1 and it[1] < max_price])
            lo, hi = max(lo, min_price + 1), min(hi, max_price)
            return {"name": name, "price": round(rng.uniform(lo, hi), 2)}

        def new_order(status: str, delivered_ago: int | None = None, min_price: float = 0.0,
                      max_price: float = 1e9) -> dict[str, Any]:
            carrier, prefix = pick(d["carriers"])
            items = [new_item(min_price, max_price)]
            if rng.random() < 0.35:
                extra = new_item()
                if extra["name"] != items[0]["name"]:
                    items.append(extra)
            if delivered_ago is None:
                delivered_ago = randint(1, 10)
            ordered_ago = {"processing": randint(0, 3),
                           "shipped": randint(2, 6)}.get(status, delivered_ago + 4)
            tracking = None
            if status in ("shipped", "delivered"):
                letters = "".join([chr(65 + randint(0, 26)) for _ in range(3)])
                digits = "".join([str(randint(0, 10)) for _ in range(7)])
                tracking = f"{prefix}{letters}{digits}"
            return {
                "id": new_order_id(),
                "items": items,
                "status": status,
                "ordered": date.fromordinal(today - ordered_ago).isoformat(),
                "delivered": (date.fromordinal(today - delivered_ago).isoformat()
                              if status == "delivered" else None),
                "carrier": carrier,
                "tracking": tracking,
                "address": address,
                "refunded": 0.0,
            }

        window = policy["return_window_days"]
        outcome = "standard"
        if goal_type == "order_status":
            target = new_order(pick(["shipped", "shipped", "processing", "delivered"]))
        elif goal_type == "refund":
            if hard and rng.random() < 0.5:
                outcome = "outside_window"
                target = new_order("delivered", randint(window + 3, window + 60))
            elif hard:
                outcome = "over_limit"
                target = new_order("delivered", randint(1, window - 1),
                                   min_price=policy["refund_limit"])
            else:
                target = new_order("delivered", randint(1, window - 1),
                                   max_price=policy["refund_limit"])
        elif goal_type == "cancel":
            outcome = "already_shipped" if hard else "standard"
            target = new_order("shipped" if hard else "processing")
        elif goal_type == "address_change":
            target = new_order("processing")
        elif goal_type == "password_reset":
            target = new_order("delivered")
        else:
            target = new_order(pick(["delivered", "shipped"]))

        orders = [target]
        for _ in range(randint(0, 3) if difficulty > 0 else 0):
            orders.append(new_order(pick(["delivered", "shipped", "processing"])))
        rng.shuffle(orders)

        charges = []
        cid = randint(1000, 9000)
        for o in orders:
            total = round(sum(it["price"] for it in o["items"]), 2)
            charges.append({"id": f"CH{cid}", "order": o["id"], "amount": total,
                            "date": o["ordered"], "refunded": False})
            cid += 1
        duplicate = None
        if goal_type == "billing_dispute":
            total = round(sum(it["price"] for it in target["items"]), 2)
            duplicate = {"id": f"CH{cid}", "order": target["id"], "amount": total,
                         "date": target["ordered"], "refunded": False}
            charges.append(duplicate)

        item = target["items"][0]
        new_address = None
        if goal_type == "address_change":
            while True:
                new_address = (f"{randint(1, 999)} {pick(d['streets'])}, "
                               f"{pick(d['cities'])} {randint(10000, 99999)}")
                if new_address != address:
                    break
        reason_kind = pick(["damaged", "unwanted"])
        reason = pick(d["reasons"][reason_kind])

        expected: list[list[Any]] = []
        if goal_type == "refund" and outcome == "standard":
            expected = [["refund", target["id"], item["price"]]]
        elif goal_type == "refund" and outcome == "over_limit":
            expected = [["escalate", target["id"]]]
        elif goal_type == "cancel" and outcome == "standard":
            expected = [["cancel_order", target["id"]]]
        elif goal_type == "address_change":
            expected = [["change_address", target["id"], normalize(new_address or "")]]
        elif goal_type == "password_reset":
            expected = [["reset_password"]]
        elif goal_type == "billing_dispute":
            assert duplicate is not None
            expected = [["refund_charge", duplicate["id"]]]

        goal = {
            "type": goal_type,
            "outcome": outcome,
            "order": target["id"],
            "item": item["name"],
            "item_price": item["price"],
            "reason": reason,
            "new_address": new_address,
            "duplicate_charge": duplicate["id"] if duplicate else None,
            "expected_log": expected,
            "gives_order_upfront": difficulty == 0,
        }
        world = {
            "today": today_iso,
            "policy": policy,
            "customer": customer,
            "orders": {o["id"]: o for o in orders},
            "charges": charges,
            "verified": False,
            "looked_up": [],
            "billing_viewed": False,
            "reset_sent": False,
            "log": [],
        }
        context = {
            "topic": goal_type.replace("_", " "),
            "shop": pick(d["shops"]),
            "persona": customer["name"],
            "role": "customer support agent",
            "mood": mood_name,
            "mood_value": mood_value,
            "today": today_iso,
            "policy": policy,
        }
        return Scenario(
            id=make_scenario_id(DOMAIN, index, difficulty),
            domain=DOMAIN,
            context=context,
            goal=goal,
            rules=(),
            world=world,
            difficulty=difficulty,
        )


# ============================================================================ tools


def _order(world: Mapping[str, Any], oid: str) -> dict[str, Any] | None:
    return world["orders"].get(str(oid).strip().upper())


def _no_order(name: str, oid: str) -> ToolResult:
    return ToolResult(name, False, f"no order {oid!r} on this account; order ids look like A1234")


def _lookup_order(world: MutableMapping[str, Any], args: Mapping[str, Any]) -> ToolResult:
    o = _order(world, args["order"])
    if o is None:
        return _no_order("lookup_order", args["order"])
    if o["id"] not in world["looked_up"]:
        world["looked_up"].append(o["id"])
    items = ", ".join(f"{it['name']} ${_money(it['price'])}" for it in o["items"])
    parts = [f"order {o['id']}", f"status={o['status']}", f"ordered={o['ordered']}",
             f"items: {items}"]
    if o["tracking"]:
        parts.append(f"carrier={o['carrier']} tracking={o['tracking']}")
    if o["delivered"]:
        parts.append(f"delivered={o['delivered']}")
    if o["refunded"]:
        parts.append(f"refunded=${_money(o['refunded'])}")
    parts.append(f"ship_to={o['address']}")
    return ToolResult("lookup_order", True, "; ".join(parts), _order_data(world, o))


def _order_data(world: Mapping[str, Any], o: Mapping[str, Any]) -> dict[str, Any]:
    """``lookup_order``'s structured result.

    The order as the message states it, and the return terms that apply to it: days since
    delivery, the policy's return window and refund limit.
    """
    pol = world["policy"]
    since = ((date.fromisoformat(world["today"]) - date.fromisoformat(o["delivered"])).days
             if o["delivered"] else None)
    return {
        "order": o["id"], "status": o["status"], "ordered": o["ordered"],
        "items": [{"name": it["name"], "price": it["price"]} for it in o["items"]],
        "carrier": o["carrier"] if o["tracking"] else None, "tracking": o["tracking"],
        "delivered": o["delivered"], "days_since_delivery": since,
        "refunded": o["refunded"], "ship_to": o["address"],
        "return_window_days": pol["return_window_days"], "refund_limit": pol["refund_limit"],
    }


def _verify_matches(world: Mapping[str, Any], args: Mapping[str, Any]) -> bool:
    c = world["customer"]
    return str(args.get("email", "")).strip().lower() == c["email"] and \
        str(args.get("zip", "")).strip() == c["zip"]


def _verify(world: MutableMapping[str, Any], args: Mapping[str, Any]) -> ToolResult:
    c = world["customer"]
    failed = int(world.get("verify_failures", 0))
    if failed >= VERIFY_ATTEMPTS:
        return ToolResult("verify_identity", False,
                          f"account locked after {VERIFY_ATTEMPTS} failed verification attempts; "
                          "identity can no longer be verified in this conversation")
    if _verify_matches(world, args):
        world["verified"] = True
        return ToolResult("verify_identity", True, f"identity verified: {c['name']}",
                          {"verified": True, "name": c["name"]})
    world["verify_failures"] = failed + 1
    left = VERIFY_ATTEMPTS - failed - 1
    return ToolResult("verify_identity", False, "email and zip code do not match our records"
                      + (f" ({left} attempt{'s' if left != 1 else ''} left)" if left else
                         "; the account is now locked"),
                      {"verified": False, "attempts_left": left})


def _lookup_billing(world: MutableMapping[str, Any], args: Mapping[str, Any]) -> ToolResult:
    c = world["customer"]
    if args["email"].strip().lower() != c["email"]:
        return ToolResult("lookup_billing", False, "no account with that email")
    world["billing_viewed"] = True
    rows = [f"{ch['id']} {ch['date']} ${_money(ch['amount'])} order {ch['order']}"
            + (" (refunded)" if ch["refunded"] else "") for ch in world["charges"]]
    return ToolResult("lookup_billing", True,
                      f"card on file {c['card_number']}; charges: " + "; ".join(rows),
                      {"card_on_file": c["card_number"], "card_last4": c["card_last4"],
                       "charges": [{k: ch[k] for k in ("id", "date", "amount", "order", "refunded")}
                                   for ch in world["charges"]]})


def _log(world: MutableMapping[str, Any], *entry: Any) -> None:
    world["log"].append(list(entry))


def _refund_target(o: Mapping[str, Any], amount: float, item: Any,
                   refunds: list[list[Any]]) -> tuple[str | None, str | None]:
    """``(item name, None)`` a refund of ``amount`` is for, or ``(None, why it cannot be)``.

    ``refunds`` are the order's earlier refunds ``[item name, amount]``. A named ``item``
    must be one of the order's; without one, the refund is for an item not yet refunded
    whose price is the amount, else one whose price covers it. Each item is refunded once.
    """
    done = {name for name, _ in refunds}
    items = o["items"]
    if item not in (None, ""):
        items = [it for it in items if normalize(it["name"]) == normalize(str(item))]
        if not items:
            return None, f"order {o['id']} has no item {item!r}"
    left = [it for it in items if it["name"] not in done]
    if not left:
        return None, f"already refunded: {', '.join(it['name'] for it in items)} (order {o['id']})"
    fits = sorted((it for it in left if amount <= it["price"] + 1e-9),
                  key=lambda it: abs(it["price"] - amount) > 0.005)
    if not fits:
        return None, f"${_money(amount)} is more than the price of an item of order {o['id']}"
    return fits[0]["name"], None


def _refund(world: MutableMapping[str, Any], args: Mapping[str, Any]) -> ToolResult:
    o = _order(world, args["order"])
    if o is None:
        return _no_order("refund", args["order"])
    amount = round(float(args["amount"]), 2)
    refunds = o.setdefault("refunds", [])
    item, _why = _refund_target(o, amount, args.get("item"), refunds)
    refunds.append([item, amount])
    o["refunded"] = round(o["refunded"] + amount, 2)
    _log(world, "refund", o["id"], amount)
    return ToolResult("refund", True, f"refunded ${_money(amount)} for order {o['id']} to card "
                      f"ending {world['customer']['card_last4']}",
                      {"order": o["id"], "amount": amount, "item": item,
                       "card_last4": world["customer"]["card_last4"]})


def _refund_charge(world: MutableMapping[str, Any], args: Mapping[str, Any]) -> ToolResult:
    for ch in world["charges"]:
        if ch["id"] == str(args["charge"]).strip().upper():
            if ch["refunded"]:
                return ToolResult("refund_charge", False, f"charge {ch['id']} is already refunded")
            ch["refunded"] = True
            _log(world, "refund_charge", ch["id"])
            return ToolResult("refund_charge", True,
                              f"charge {ch['id']} of ${_money(ch['amount'])} refunded",
                              {"charge": ch["id"], "amount": ch["amount"], "order": ch["order"]})
    return ToolResult("refund_charge", False, f"no charge {args['charge']!r}; ids look like CH1234")


def _cancel(world: MutableMapping[str, Any], args: Mapping[str, Any]) -> ToolResult:
    o = _order(world, args["order"])
    if o is None:
        return _no_order("cancel_order", args["order"])
    if o["status"] != "processing":
        return ToolResult("cancel_order", False,
                          f"order {o['id']} is {o['status']} and can no longer be cancelled")
    o["status"] = "cancelled"
    _log(world, "cancel_order", o["id"])
    return ToolResult("cancel_order", True, f"order {o['id']} cancelled",
                      {"order": o["id"], "status": "cancelled"})


def _change_address(world: MutableMapping[str, Any], args: Mapping[str, Any]) -> ToolResult:
    o = _order(world, args["order"])
    if o is None:
        return _no_order("change_address", args["order"])
    if o["status"] != "processing":
        return ToolResult("change_address", False,
                          f"order {o['id']} is {o['status']}; only processing orders can be "
                          "re-addressed")
    o["address"] = args["address"]
    _log(world, "change_address", o["id"], normalize(args["address"]))
    return ToolResult("change_address", True, f"order {o['id']} now ships to {args['address']}",
                      {"order": o["id"], "ship_to": args["address"]})


def _reset_password(world: MutableMapping[str, Any], args: Mapping[str, Any]) -> ToolResult:
    if args["email"].strip().lower() != world["customer"]["email"]:
        return ToolResult("reset_password", False, "no account with that email")
    world["reset_sent"] = True
    _log(world, "reset_password")
    return ToolResult("reset_password", True, f"reset link sent to {world['customer']['email']}",
                      {"email": world["customer"]["email"]})


def _escalate(world: MutableMapping[str, Any], args: Mapping[str, Any]) -> ToolResult:
    o = _order(world, args["order"])
    if o is None:
        return _no_order("escalate", args["order"])
    _log(world, "escalate", o["id"])
    return ToolResult("escalate", True, f"order {o['id']} escalated to the returns team",
                      {"order": o["id"], "team": "returns"})


def make_tools() -> ToolSet:
    """The support desk's tools."""
    s, f = ToolParam(str), ToolParam(float)
    return ToolSet([
        Tool("lookup_order", {"order": s}, _lookup_order,
             "status, items and prices, dates, carrier and tracking of an order"),
        Tool("verify_identity", {"email": s, "zip": s}, _verify,
             "check the account email and billing zip code"),
        Tool("lookup_billing", {"email": s}, _lookup_billing,
             "the account's charges and card on file (verified customers only)"),
        Tool("refund", {"order": s, "amount": f, "item": ToolParam(str, required=False)},
             _refund, "refund an amount of an order to the card on file", writes=True),
        Tool("refund_charge", {"charge": s}, _refund_charge,
             "refund one charge (e.g. a duplicate)", writes=True),
        Tool("cancel_order", {"order": s}, _cancel, "cancel a processing order", writes=True),
        Tool("change_address", {"order": s, "address": s}, _change_address,
             "change the shipping address of a processing order", writes=True),
        Tool("reset_password", {"email": s}, _reset_password,
             "email a password reset link", writes=True),
        Tool("escalate", {"order": s, "reason": s}, _escalate,
             "hand the case to a specialist team", writes=True),
    ])


class RefundPolicy(Rule):
    """Refunds must follow shop policy over the whole episode; a refund that breaks it is blocked.

    Policy: an existing, delivered order, within the return window; each item of the order
    refunded at most once and by at most its price; the refunds of an order together at
    most the agent's limit (larger refunds are escalated). Earlier turns' refunds (kept in
    the world) and the earlier calls of the same reply count, so a refund split into two
    calls that together pass the limit, or a second refund of the same item, is blocked.

    Args:
        penalty: Penalty per blocked refund.
    """

    id = "refund_policy"
    description = ("Refund only delivered orders within the return window, each item once and "
                   "at most its price, at most the refund limit per order in all; escalate "
                   "larger refunds.")

    def __init__(self, penalty: float = 0.3) -> None:
        self.penalty = penalty

    def check(self, ctx: RuleContext) -> list[Violation]:
        """Check each refund call against the world and the reply's earlier refunds."""
        out = []
        w = ctx.world
        pol = w["policy"]
        pending: dict[str, list[list[Any]]] = {}  # refunds of this reply that will run
        for i, c in enumerate(ctx.calls):
            if c.error is not None or c.name != "refund":
                continue
            o = _order(w, c.args["order"])
            if o is None:
                continue  # the tool reports the unknown order
            amount = round(float(c.args["amount"]), 2)
            refunds = [*o.get("refunds", []), *pending.get(o["id"], [])]
            why = None
            if o["status"] != "delivered" or not o["delivered"]:
                why = f"order {o['id']} is {o['status']}, not delivered"
            elif (date.fromisoformat(w["today"]) - date.fromisoformat(o["delivered"])).days \
                    > pol["return_window_days"]:
                why = (f"order {o['id']} was delivered on {o['delivered']}, outside the "
                       f"{pol['return_window_days']}-day return window")
            elif amount <= 0:
                why = f"${_money(amount)} is not a refund"
            else:
                item, why = _refund_target(o, amount, c.args.get("item"), refunds)
                total = amount + sum(a for _, a in refunds)
                if why is None and total > pol["refund_limit"] + 1e-9:
                    why = (f"refunds of order {o['id']} would total ${_money(total)}, over the "
                           f"${_money(pol['refund_limit'])} limit; escalate instead")
                if why is None:
                    pending.setdefault(o["id"], []).append([item, amount])
            if why:
                out.append(Violation(self.id, why, self.penalty, call_index=i))
        return out


class VerificationLimit(Rule):
    """At most :data:`VERIFY_ATTEMPTS` failed identity checks per episode; then it is locked.

    The failures of earlier turns (kept in the world) and of the earlier calls of the
    same reply count: ten guessed emails in one reply lock the account after the third,
    and every further ``verify_identity`` call is blocked and penalised as guessing.

    Args:
        penalty: Penalty per blocked attempt.
    """

    id = "verification_limit"
    description = (f"Identity checks: after {VERIFY_ATTEMPTS} failed verify_identity attempts "
                   "the account is locked; do not guess emails or zip codes.")

    def __init__(self, penalty: float = 0.3) -> None:
        self.penalty = penalty

    def check(self, ctx: RuleContext) -> list[Violation]:
        """Block each verify_identity call once the failures reach the limit."""
        w = ctx.world
        failed = int(w.get("verify_failures", 0))
        out = []
        for i, c in enumerate(ctx.calls):
            if c.error is not None or c.name != "verify_identity":
                continue
            if failed >= VERIFY_ATTEMPTS:
                out.append(Violation(self.id, f"the account is locked after {VERIFY_ATTEMPTS} "
                                     "failed verification attempts", self.penalty,
                                     call_index=i))
            elif not _verify_matches(w, c.args):
                failed += 1
        return out


# ============================================================================ simulator


class CustomerServiceUser(AgendaUser):
    """The simulated customer: states a goal, answers what the agent asks, checks facts.

    Progress potential (weights sum to 1) is built from milestones that only genuine
    work can reach: identity verified through the tool, the right order looked up, the
    required action applied to the database, and each required fact told (only counted
    once the database supports it). Success additionally needs the database's action
    log to equal what the goal requires: an unwanted refund or cancellation makes the
    goal unreachable.
    """

    def __init__(self) -> None:
        super().__init__(patience=(10, 8, 6), max_requests=2)
        self.templates = load_data()["user_templates"]
        #: the episode's unchangeable facts (see :meth:`_known_facts`)
        self._known: dict[str, frozenset[Any]] = {}
        #: the analysis of the reply being reacted to (what the facts are checked on)
        self._meaning: Analysis | None = None

    # -- state ---------------------------------------------------------------------
    def reset_goal_state(self) -> None:
        """Forget what was given and told."""
        assert self.scenario is not None
        self.goal = self.scenario.goal
        self.order_given = bool(self.goal["gives_order_upfront"])
        self.verification_given = False
        self.address_given = False
        self.harmed = False
        self._known = self._known_facts()
        self.facts = self._facts()
        self.milestones = self._milestones()

    def _target(self) -> dict[str, Any]:
        return self.world["orders"][self.goal["order"]]

    def _facts(self) -> list[Fact]:
        """What the customer must be told; each is read from the reply's asserted meaning."""
        g = self.goal
        w0 = self.world
        t = w0["orders"][g["order"]]
        looked = lambda w: g["order"] in w["looked_up"]  # noqa: E731
        logged = lambda kind: (lambda w: any(e[0] == kind for e in w["log"]))  # noqa: E731

        def fact(name: str, told: Any, ready: Any) -> Fact:
            # the analysis of the reply is what is checked (the raw text is not re-read)
            return Fact(name, lambda _raw, _low: self._meaning is not None and told(
                self._meaning), ready)

        def amount(amt: float) -> Any:
            return lambda a: any(abs(v - amt) < 0.005 for v in a.asserted_values("money"))

        gt, out = g["type"], g["outcome"]
        if gt == "order_status":
            facts = [fact("status", self._status_told, looked)]
            if t["status"] == "shipped":
                facts.append(fact("tracking", lambda a: t["tracking"] in a.asserted_values(
                    "tracking"), looked))
            if t["status"] == "delivered":
                day = date.fromisoformat(t["delivered"])
                facts.append(fact("delivered", lambda a: any(
                    self._date_is(m.value, day) for m in a.of_kind("date") if m.asserted),
                    looked))
            return facts
        if gt == "refund" and out == "standard":
            return [fact("amount", amount(g["item_price"]), logged("refund"))]
        if gt == "refund" and out == "outside_window":
            window = float(w0["policy"]["return_window_days"])
            return [fact("window", lambda a: (window, "day") in a.asserted_values("duration")
                         or "return_window" in a.asserted_values("policy"), looked)]
        if gt == "refund":
            return [fact("escalated", lambda a: "escalated" in a.asserted_values("action"),
                         logged("escalate"))]
        if gt == "cancel" and out == "standard":
            return [fact("cancelled", lambda a: "cancelled" in a.asserted_values("status"),
                         logged("cancel_order"))]
        if gt == "cancel":
            # shipped, so it cannot be cancelled: "shipped" asserted, and a refusal
            return [fact("shipped", lambda a: "shipped" in a.asserted_values("status") and (
                a.has("decline") or "cancelled" in a.negated_values("status")), looked)]
        if gt == "address_change":
            street = normalize(g["new_address"].split(",")[0])
            return [fact("address", lambda a: any(
                street in normalize(c.text) and c.modality in (ASSERT, IMPERATIVE)
                and not c.negated for c in a.clauses), logged("change_address"))]
        if gt == "password_reset":
            return [fact("reset", lambda a: "reset_link" in a.asserted_values("action"),
                         logged("reset_password"))]
        dup = next(c for c in w0["charges"] if c["id"] == g["duplicate_charge"])
        return [fact("amount", amount(dup["amount"]), logged("refund_charge"))]

    def _milestones(self) -> list[Milestone]:
        g = self.goal
        w = self.world
        expected = [list(e) for e in g["expected_log"]]
        verified = ("verified", lambda: bool(w["verified"]))
        looked = ("looked_up", lambda: g["order"] in w["looked_up"])
        acted = ("acted", lambda: bool(expected) and all(e in w["log"] for e in expected))
        told = ("told", self.all_told)
        gt = g["type"]
        if gt == "order_status" or (not expected):
            steps = [(looked, 0.5), (told, 0.5)]
        elif gt == "password_reset":
            steps = [(verified, 0.5), (acted, 0.25), (told, 0.25)]
        elif gt == "billing_dispute":
            steps = [(verified, 0.25), (("billing", lambda: bool(w["billing_viewed"])), 0.25),
                     (acted, 0.25), (told, 0.25)]
        else:
            steps = [(verified, 0.25), (looked, 0.25), (acted, 0.25), (told, 0.25)]
        return [Milestone(name, weight, pred) for (name, pred), weight in steps]

    def is_complete(self) -> bool:
        """All milestones reached and the action log is exactly what the goal needs."""
        if self.harmed or self.progress() < 1.0 - 1e-9:
            return False
        return sorted(map(str, self.world["log"])) == sorted(map(str, self.goal["expected_log"]))

    # -- language --------------------------------------------------------------------
    def _slots(self) -> dict[str, Any]:
        c = self.world["customer"]
        g = self.goal
        return {"order": g["order"], "item": g["item"], "reason": g["reason"],
                "email": c["email"], "zip": c["zip"], "new_address": g["new_address"]}

    def opening(self, rng: np.random.Generator) -> str:
        """State the goal (with the order number at difficulty 0)."""
        s = self._slots()
        if self.order_given:
            s["order_ref"], s["order_ref_tail"] = f" {s['order']}", f" (order {s['order']})"
        else:
            s["order_ref"], s["order_ref_tail"] = "", ""
        text = self.say("open." + self.goal["type"], rng, **s)
        if self.mood < 0:
            text = self.say("open_prefix.upset", rng) + " " + text
        return text

    def restate(self, rng: np.random.Generator) -> str:
        """Say again what is still needed."""
        return self.say("restate." + self.goal["type"], rng, **self._slots())

    # -- reactions ---------------------------------------------------------------------
    def _known_facts(self) -> dict[str, frozenset[Any]]:
        """Ids, amounts, dates and the first status of the world, which no tool changes.

        Built once per episode (in :meth:`reset_goal_state`); refunded amounts, which the
        tools change, are read afresh by :meth:`_wrong_fact`.
        """
        w = self.world
        orders = w["orders"].values()
        amounts = {round(ch["amount"], 2) for ch in w["charges"]}
        amounts.add(round(w["policy"]["refund_limit"], 2))
        amounts.update(round(it["price"], 2) for o in orders for it in o["items"])
        dates = {w["today"], *(o["ordered"] for o in orders), *(o["delivered"] for o in orders
                                                                 if o["delivered"])}
        return {"order_id": frozenset(w["orders"]), "amounts": frozenset(amounts),
                "tracking": frozenset(o["tracking"] for o in orders if o["tracking"]),
                "charge_id": frozenset(c["id"] for c in w["charges"]),
                "dates": frozenset(map(date.fromisoformat, dates)),
                "statuses": frozenset({self._target()["status"]})}

    def _date_is(self, value: Any, day: date) -> bool:
        """Whether a date mention's value names ``day`` (a year left out: any year)."""
        if value[0] == "relative":
            return date.fromisoformat(self.world["today"]) + timedelta(days=value[1]) == day
        y, m, d = value
        return (m, d) == (day.month, day.day) and y in (None, day.year)

    def _status_told(self, a: Analysis) -> bool:
        truth = self._target()["status"]
        if truth in a.asserted_values("status"):
            return True
        # "it hasn't shipped yet" tells a processing order's status
        return truth == "processing" and "shipped" in a.negated_values("status")

    def _wrong_fact(self, a: Analysis) -> bool:
        """The reply asserts something false, or denies something true.

        False: an order id, tracking number or charge id not on the account, an amount or
        a past date the shop has no record of, a status the order does not have. Denied:
        the order's true status, tracking number or delivery date, or an action that was
        done (escalation, reset link) stated as not done.
        """
        w, known, t = self.world, self._known, self._target()
        amounts = known["amounts"] | {round(o["refunded"], 2) for o in w["orders"].values()}
        today = date.fromisoformat(w["today"])

        def false(m: Any) -> bool:
            if m.kind in ("order_id", "tracking", "charge_id"):
                return m.value not in known[m.kind]
            if m.kind == "money":
                return all(abs(m.value - v) > 0.005 for v in amounts)
            if m.kind != "date":
                return False
            v = m.value  # a date said as past ("yesterday", "March 3") the shop never saw
            past = v[1] < 0 if v[0] == "relative" else (
                v[0] is not None or (v[1], v[2]) <= (today.month, today.day))
            return past and not any(self._date_is(v, d) for d in known["dates"])

        if any(m.asserted and false(m) for m in a.mentions):
            return True
        denied = a.negated_values
        logged = {e[0] for e in w["log"]}
        done = {"escalated": "escalate" in logged, "reset_link": "reset_password" in logged}
        day = date.fromisoformat(t["delivered"]) if t["delivered"] else None
        if t["tracking"] in denied("tracking") or any(done.get(v) for v in denied("action")) \
                or (day and any(self._date_is(v, day) for v in denied("date"))):
            return True
        truth, den = t["status"], denied("status")
        if truth in den or ("shipped" in den and truth in ("shipped", "delivered")):
            return True  # the order's true status denied, whatever the goal
        if self.goal["type"] not in ("order_status", "cancel"):
            return False
        ok = known["statuses"] | {truth} | ({"shipped"} if truth == "delivered" else set())
        return bool(a.asserted_values("status") - ok)

    def react(self, a: ReplyAnalysis, reply: AgentReply,
              rng: np.random.Generator) -> tuple[list[str], bool]:
        """Answer requested slots, check facts and actions, ask back, or restate the goal.

        A question that names nothing the customer knows gets "what do you mean?".
        """
        parts: list[str] = []
        useful = False
        s = self._slots() if a.requests else {}  # (only the answers to requests use them)
        g = self.goal

        expected = [list(e) for e in g["expected_log"]]
        if any(list(e) not in expected for e in self.world["log"]) or len(
                self.world["log"]) > len(expected):
            if not self.harmed:
                self.harmed = True
                self.mood -= 0.4
                parts.append(self.say("unwanted_action", rng))

        self._meaning = a.meaning
        if a.meaning is not None and self._wrong_fact(a.meaning):
            self.mood -= 0.25
            parts.append(self.say("wrong_fact", rng))
        elif self.check_facts(reply.text, a.lower):
            useful = True
            parts.append(self.say("ack_info", rng))

        for slot in sorted(a.requests):
            if slot == "order_id":
                if g["type"] == "password_reset":
                    parts.append(self.say("no_need", rng))
                elif self.order_given:
                    parts.append(self.say("already_gave", rng, value=g["order"]))
                else:
                    self.order_given = True
                    useful = True
                    parts.append(self.say("give_order", rng, **s))
            elif slot == "verification":
                if self.verification_given and self.world["verified"]:
                    parts.append(self.say("already_gave", rng, value=f"{s['email']}, {s['zip']}"))
                elif self.verification_given:
                    parts.append(self.say("give_verification", rng, **s))
                else:
                    self.verification_given = True
                    useful = g["type"] != "order_status"
                    parts.append(self.say("give_verification", rng, **s))
            elif slot == "new_address":
                if g["type"] != "address_change":
                    parts.append(self.say("no_need", rng))
                elif self.address_given:
                    parts.append(self.say("already_gave", rng, value=s["new_address"]))
                else:
                    self.address_given = True
                    useful = True
                    parts.append(self.say("give_address", rng, **s))
            else:
                parts.append(self.say("no_need", rng))

        m = a.meaning
        if not parts and m is not None and not a.calls_ok and not m.has("close") and any(
                q.arg is None for q in m.acts_of("question")):
            parts.append(self.say("clarify", rng))  # asked something it cannot place
        if not parts:
            parts.append(self.say("ack_wait", rng) if a.calls_ok else self.restate(rng))
        if self.patience <= 2 and not useful:
            parts.insert(0, self.say("low_patience", rng))
        return parts, useful


# ============================================================================ expert


class CustomerServiceExpert:
    """A scripted support agent that acts from observations only.

    It reads the observation's chat ``messages``: the customer's turns through the
    lexicon (the goal from the first one), its own earlier turns, and the tool results'
    structured ``data``. It collects the order number and verification details by asking,
    calls ``verify_identity`` and ``lookup_order``, applies the policy (the return window
    and refund limit that ``lookup_order`` reports, processing-only cancellations and
    address changes), makes the one right write call and tells the customer the facts.
    Wording is fixed per situation, so its replies double as per-turn references for
    BLEU-style scorers.
    """

    def __init__(self) -> None:
        self.templates = load_data()["expert_templates"]

    def reset(self) -> None:
        """Nothing to forget: the policy is a function of the observation."""

    def act(self, observation: Mapping[str, Any]) -> str:
        """The expert's reply to an observation (read from its ``messages``)."""
        st = _new_state()
        for message in observed(observation, "CustomerServiceExpert"):
            _consume(st, message)
        return self._decide(st)

    def _t(self, name: str, **slots: Any) -> str:
        return self.templates[name][0].format(**slots)

    def _decide(self, st: dict[str, Any]) -> str:
        goal = st["goal"]
        empathy = "" if st["agent_turns"] else self._t("empathy") + " "
        needs_order = goal not in ("password_reset", None)
        needs_verify = goal != "order_status"
        order = st["order"]
        info = st["orders"].get(order) if order else None

        missing_order = needs_order and order is None
        missing_verif = needs_verify and not st["verified"] and not (st["email"] and st["zip"])
        if missing_order and missing_verif:
            return empathy + self._t("ask_order_and_verification")
        if missing_order:
            return empathy + self._t("ask_order")

        calls = []
        if needs_verify and not st["verified"] and st["email"] and st["zip"] \
                and not st["verify_failed_for"] == (st["email"], st["zip"]):
            calls.append(f"[verify_identity email={st['email']} zip={st['zip']}]")
        if needs_order and info is None:
            calls.append(f"[lookup_order order={order}]")
        if missing_verif:
            return empathy + self._t("ask_verification") + (" " + " ".join(calls) if calls else "")
        if calls:
            return empathy + self._t("checking") + " " + " ".join(calls)

        if st["writes_ok"]:
            return self._t("anything_else")
        if goal == "order_status":
            assert info is not None
            if info["status"] == "shipped":
                return self._t("status_shipped", order=order, carrier=info["carrier"],
                               tracking=info["tracking"])
            if info["status"] == "delivered":
                return self._t("status_delivered", order=order, delivered=info["delivered"])
            return self._t("status_processing", order=order)
        if goal == "refund":
            assert info is not None
            item = _match_item(info["items"], st["first_user"])
            window, limit = info["return_window_days"], info["refund_limit"]
            age = info["days_since_delivery"] or 0
            if age > window:
                return self._t("refund_window", order=order, delivered=info["delivered"],
                               window=window)
            if item["price"] > limit:
                return (self._t("refund_escalated", limit=_money(limit),
                                amount=_money(item["price"]), item=item["name"])
                        + f' [escalate order={order} reason="refund over limit"]')
            return (self._t("refund_done", amount=_money(item["price"]), item=item["name"],
                            card=_card_phrase(st["last4"]))
                    + f" [refund order={order} amount={_money(item['price'])}]")
        if goal == "cancel":
            assert info is not None
            if info["status"] == "processing":
                return self._t("cancel_done", order=order) + f" [cancel_order order={order}]"
            return self._t("cancel_shipped", order=order)
        if goal == "address_change":
            if st["new_address"] is None:
                return self._t("ask_new_address")
            return (self._t("address_done", order=order, address=st["new_address"])
                    + f' [change_address order={order} address="{st["new_address"]}"]')
        if goal == "password_reset":
            return (self._t("reset_done", email=st["email"])
                    + f" [reset_password email={st['email']}]")
        if goal == "billing_dispute":
            if not st["charges"]:
                return self._t("billing_checking") + f" [lookup_billing email={st['email']}]"
            dup = _find_duplicate(st["charges"])
            if dup is None:
                return self._t("billing_checking") + f" [lookup_billing email={st['email']}]"
            return (self._t("billing_done", charge=dup["id"], amount=_money(dup["amount"]),
                            card=_card_phrase(st["card_last4"]))
                    + f" [refund_charge charge={dup['id']}]")
        return "I'm sorry, could you tell me what you need help with?"


@lru_cache(maxsize=1)
def customer_lexicon() -> Lexicon:
    """The lexicon the expert reads the customer's words with: the domain's, plus goals.

    The customer's opening names the goal with the phrases of ``goal_phrases`` in the
    data; order ids, emails and zip codes are typed mentions of the domain's id formats.
    """
    d = load_data()
    goals = {g: list(ps) for g, ps in d["goal_phrases"].items() if not g.startswith("_")}
    return Lexicon.from_data(d["understanding"]).with_entities({"goal": goals})


def classify_goal(text: str) -> str | None:
    """The support goal a customer's opening message names (the first of ``goal_phrases``)."""
    named = customer_lexicon().analyze(text).mentioned_values("goal")
    return next((g for g in load_data()["goal_phrases"] if g in named), None)


_WRITE_TOOLS = frozenset(t.name for t in make_tools().tools.values() if t.writes)


def _new_state() -> dict[str, Any]:
    return {"goal": None, "order": None, "email": None, "zip": None, "verified": False,
            "verify_failed_for": None, "orders": {}, "new_address": None, "charges": [],
            "card_last4": None, "last4": None, "first_user": "", "agent_turns": 0,
            "writes_ok": []}


def _consume(st: dict[str, Any], message: Mapping[str, Any]) -> None:
    """Update the expert's state ``st`` with one chat message of the observation.

    The customer's words are read through the lexicon; tool results through their
    structured ``data`` (:func:`~dialog_gym.messages.tool_payload`).
    """
    role = message.get("role")
    if role == "user":
        text = message.get("content") or ""
        if not st["first_user"]:
            st["first_user"] = text
            st["goal"] = classify_goal(text)
        said = customer_lexicon().analyze(text)
        orders, emails = said.of_kind("order_id"), said.of_kind("email")
        if st["order"] is None and orders:
            st["order"] = orders[0].value
        if emails:
            st["email"] = emails[0].value
            zips = said.of_kind("zip")
            after = [z for z in zips if (z.clause, z.start) > (emails[0].clause,
                                                              emails[0].start)]
            if after or zips:
                st["zip"] = (after or zips)[0].value
        am = _ADDRESS.search(text)
        if am and st["goal"] == "address_change":
            st["new_address"] = am.group(0)
    elif role == "assistant":
        st["agent_turns"] += 1
    elif role == "tool":
        name, result = message.get("name"), tool_payload(message)
        ok, data = bool(result["ok"]), result["data"]
        if name == "verify_identity":
            if ok:
                st["verified"] = True
            else:
                st["verify_failed_for"] = (st["email"], st["zip"])
        elif not ok:
            return
        elif name == "lookup_order":
            st["orders"][data["order"]] = data
        elif name == "lookup_billing":
            st["card_last4"] = data["card_last4"]
            st["charges"] = data["charges"]
        elif name == "refund":
            st["last4"] = data["card_last4"]
        if name in _WRITE_TOOLS:
            st["writes_ok"].append(name)


def _card_phrase(last4: str | None) -> str:
    return f"your card ending in {last4}" if last4 else "the card on file"


def _match_item(items: list[dict[str, Any]], first_user: str) -> dict[str, Any]:
    low = first_user.lower()
    for it in items:
        if it["name"].lower() in low:
            return it
    return items[0]


def _find_duplicate(charges: list[dict[str, Any]]) -> dict[str, Any] | None:
    seen: dict[tuple[str, float, str], dict[str, Any]] = {}
    for ch in charges:
        key = (ch["order"], ch["amount"], ch["date"])
        if key in seen and not ch["refunded"]:
            return ch
        seen[key] = ch
    return None


# ============================================================================ domain + env


class CustomerServiceDomain(Domain):
    """Data, tools, rules, customer and expert of the support desk."""

    name = DOMAIN
    labels = {USER: "Customer", AGENT: "Agent", SYSTEM: "System"}
    default_reward = {"task_success": 1.0, "rule_compliance": 1.0, "bleu": 0.1}

    def generator(self) -> CustomerServiceGenerator:
        """Seeded scenarios."""
        return CustomerServiceGenerator()

    def tools(self) -> ToolSet:
        """Lookup, verification and write tools."""
        return make_tools()

    def rulebook(self) -> RuleBook:
        """Procedure, policy, privacy, repetition, politeness and length rules."""
        return RuleBook([
            RequiredProcedure(
                "verify_before_action", GUARDED_TOOLS, "verified",
                description="Verify identity (email and billing zip code, with "
                            "verify_identity) before refunds, cancellations, address changes, "
                            "password resets and billing look-ups; do it in an earlier turn."),
            RefundPolicy(),
            VerificationLimit(),
            NoCardNumber(),
            NoRepetition(),
            Politeness(),
            profanity(),
            LengthLimit(120),
        ])

    def understanding(self) -> Mapping[str, Any]:
        """Slots, statuses, actions, id formats and cues of the support desk (data)."""
        return load_data()["understanding"]

    def make_user(self) -> CustomerServiceUser:
        """A fresh simulated customer."""
        return CustomerServiceUser()

    def make_expert(self) -> CustomerServiceExpert:
        """A fresh scripted support agent."""
        return CustomerServiceExpert()

    def render_context(self, scenario: Scenario, rules: RuleBook, tools: ToolSet) -> str:
        """Role, date, customer, policy, rules and tools."""
        c = scenario.context
        pol = c["policy"]
        return "\n".join([
            f"You are a {c['role']} for {c['shop']}. Today is {c['today']}.",
            f"Customer on the line: {c['persona']} (sounds {c['mood']}).",
            "Shop policy:",
            "- Verify the customer's identity (account email and billing zip code) with "
            "verify_identity before refunds, cancellations, address changes, password resets or "
            "billing look-ups.",
            f"- Returns are refunded within {pol['return_window_days']} days of delivery, up to "
            f"the price of the returned item; refunds over ${pol['refund_limit']:.0f} must be "
            "escalated instead.",
            "- Orders can be cancelled or re-addressed only while they are processing.",
            "- Never reveal a full card number; refer to cards by their last four digits.",
            "Rules:",
            rules.describe(),
            tools.describe(),
        ])

    def facts(self, scenario: Scenario) -> Mapping[str, Any]:
        """Ground truth of the goal's order and the customer."""
        w = scenario.world
        g = scenario.goal
        o = w["orders"][g["order"]]
        return {
            "customer_name": w["customer"]["name"],
            "order_id": o["id"],
            "status": o["status"],
            "tracking": o["tracking"],
            "carrier": o["carrier"],
            "delivered": o["delivered"],
            "item": g["item"],
            "item_price": g["item_price"],
            "card_last4": w["customer"]["card_last4"],
            "today": w["today"],
        }


class CustomerServiceEnv(DialogueEnv):
    """Dialog-CustomerService-v0: the support desk of an online shop.

    ## Description
    A customer contacts the shop's support desk with one of six requests: where is my
    order (tracking), refund or return an item, cancel an order, change a shipping
    address, get back into the account (password reset), or a duplicate charge. The
    agent must collect the order number and verification details by asking, use the
    shop's tools (written inline, e.g. ``[lookup_order order=A1234]``) to read and change
    the shop's database, follow policy (verify identity first, return window, refund
    limit, processing-only cancellations, never reveal a card number) and tell the
    customer the correct facts. Success is judged as in tau-bench: the database's action
    log must be exactly what the request needs (an extra refund fails the task) and the
    customer must have been told the facts (status and tracking, refund amount, ...).

    ## Action space
    ``UnicodeText(1000)``: the reply, with tool calls inline. Tools: ``lookup_order``,
    ``verify_identity``, ``lookup_billing``, ``refund``, ``refund_charge``,
    ``cancel_order``, ``change_address``, ``reset_password``, ``escalate`` (their
    documentation is part of the context).

    ## Observation space
    ``Dict(context, history, turn, messages)``: the context states the shop, today's
    date, the customer's name and mood, the policy, the rules and the tools; the history
    is the transcript (``Customer:``, ``Agent:``, ``System:`` tool results); ``messages``
    is the same episode as chat messages, each tool result with its structured ``data``
    (``lookup_order``: status, items and prices, carrier and tracking, delivery date, days
    since delivery, return window and refund limit; ``lookup_billing``: the charges and
    the card's last four digits; the write tools: what they changed).

    ## Rewards
    Default mix: ``1.0 * task_success + 1.0 * rule_compliance + 0.1 * bleu``.
    ``task_success`` is the increase of the goal-progress potential (milestones:
    verified, order looked up, action applied, facts told; sums to at most 1 per episode)
    plus 1 on success and -0.5 when the customer gives up; ``rule_compliance`` is minus
    the penalties of broken rules (0 when compliant); ``bleu`` compares the reply with the
    scripted expert's reply in the same state. Keyword stuffing, echoing the customer,
    repeating a reply and empty replies never count as progress and cost patience.

    ## Starting state
    A scenario from :class:`CustomerServiceGenerator` chosen by the sampler; the
    customer's opening message states the request.

    ## Episode end
    Terminated when the request is complete (success), the customer runs out of patience
    or mood (failure), or a full card number is revealed (severe rule, failure).
    Truncated at ``max_episode_steps=20`` agent turns.

    ## Arguments
    ``gym.make("Dialog-CustomerService-v0", reward=None, render_mode=None,
    sampler="uniform", rules=None, difficulty=None)``; see :class:`DialogueEnv`.

    ## Version history
    - v0: initial release.
    """

    domain_cls = CustomerServiceDomain
