"""A checklist support agent: ask for what is missing, then look it up.

It works the way a new support employee with a checklist would: ask for the order number
and the account details, verify the customer and look the order up with the shop's tools
(written inline, ``[tool key=value]``), then report what the lookup says. It knows no
policy, so it never refunds or cancels: a baseline between ``random`` and ``expert``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from dialog_gym.agents import Agent

_ORDER = re.compile(r"\b[A-Z]\d{4}\b")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_ZIP = re.compile(r"(?<![\d-])\d{5}(?![\d-])")
_STATUS = re.compile(r"\[lookup_order\] ok: order (\w+); status=(\w+)")
_TRACKING = re.compile(r"carrier=(\S+) tracking=(\w+)")
_DELIVERED = re.compile(r"delivered=([\d-]+)")


class ChecklistAgent(Agent):
    """Ask for the order number and account details, verify, look up, report.

    Args:
        greeting: The first words of the first reply.
    """

    name = "example-checklist"

    def __init__(self, greeting: str = "Thanks for reaching out, I'm glad to help.") -> None:
        self.greeting = greeting

    def act(self, observation: Mapping[str, Any]) -> str:
        """The next checklist step, decided from the history alone."""
        history = observation["history"]
        customer = "\n".join(ln for ln in history.split("\n") if ln.startswith("Customer:"))
        order = _ORDER.search(customer)
        email = _EMAIL.search(customer)
        zip_code = _ZIP.search(customer[email.end():]) if email else None
        first = observation["turn"] == 0
        prefix = self.greeting + " " if first else ""
        if order is None and email is None:
            return prefix + ("Could you give me your order number, and the email and billing "
                             "zip code on your account so I can verify your identity?")
        if email is None or zip_code is None:
            return prefix + "Could you share the email and billing zip code on your account?"
        calls = []
        if "[verify_identity] ok" not in history:
            calls.append(f"[verify_identity email={email.group(0)} zip={zip_code.group(0)}]")
        if order is not None and f"order {order.group(0)};" not in history:
            calls.append(f"[lookup_order order={order.group(0)}]")
        if calls:
            return prefix + "Thank you, let me check that for you. " + " ".join(calls)
        status = _STATUS.search(history)
        if status is not None and f"Your order {status.group(1)} is" not in history:
            order_id, state = status.groups()
            reply = f"Your order {order_id} is {state}"
            tracking, delivered = _TRACKING.search(history), _DELIVERED.search(history)
            if state == "shipped" and tracking:
                reply += f" with {tracking.group(1)}, tracking number {tracking.group(2)}"
            elif state == "delivered" and delivered:
                reply += f"; it was delivered on {delivered.group(1)}"
            return reply + "."
        return "Is there anything else I can help you with?"
