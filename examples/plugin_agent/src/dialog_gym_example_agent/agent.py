"""A checklist support agent: ask for what is missing, then look it up.

It works the way a new support employee with a checklist would: ask for the order number
and the account details, verify the customer and look the order up with the shop's tools
(written inline, ``[tool key=value]``), then report what the lookup says. It knows no
policy, so it never refunds or cancels: a baseline between ``random`` and ``expert``.

It reads the conversation as chat messages (``observation["messages"]``): the customer's
words in the user messages, the tools' results in the tool messages (their structured
``data``, read with :func:`dialog_gym.messages.tool_payload`), its own earlier replies in
the assistant messages.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from dialog_gym.agents import Agent
from dialog_gym.messages import observed, tool_payload

_ORDER = re.compile(r"\b[A-Z]\d{4}\b")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_ZIP = re.compile(r"(?<![\d-])\d{5}(?![\d-])")


class ChecklistAgent(Agent):
    """Ask for the order number and account details, verify, look up, report.

    Args:
        greeting: The first words of the first reply.
    """

    name = "example-checklist"

    def __init__(self, greeting: str = "Thanks for reaching out, I'm glad to help.") -> None:
        self.greeting = greeting

    def act(self, observation: Mapping[str, Any]) -> str:
        """The next checklist step, decided from the messages alone."""
        messages = observed(observation, "ChecklistAgent")
        customer = "\n".join(m["content"] for m in messages if m["role"] == "user")
        own = " ".join(m.get("content") or "" for m in messages if m["role"] == "assistant")
        results = [(m.get("name"), tool_payload(m)) for m in messages if m["role"] == "tool"]
        lookups = [r["data"] for name, r in results if name == "lookup_order" and r["ok"]]
        order = _ORDER.search(customer)
        email = _EMAIL.search(customer)
        zip_code = _ZIP.search(customer[email.end():]) if email else None
        first = not any(m["role"] == "assistant" for m in messages)
        prefix = self.greeting + " " if first else ""
        if order is None and email is None:
            return prefix + ("Could you give me your order number, and the email and billing "
                             "zip code on your account so I can verify your identity?")
        if email is None or zip_code is None:
            return prefix + "Could you share the email and billing zip code on your account?"
        calls = []
        if not any(name == "verify_identity" and r["ok"] for name, r in results):
            calls.append(f"[verify_identity email={email.group(0)} zip={zip_code.group(0)}]")
        if order is not None and not any(d.get("order") == order.group(0) for d in lookups):
            calls.append(f"[lookup_order order={order.group(0)}]")
        if calls:
            return prefix + "Thank you, let me check that for you. " + " ".join(calls)
        if lookups and f"Your order {lookups[0]['order']} is" not in own:
            found = lookups[0]
            reply = f"Your order {found['order']} is {found['status']}"
            if found["status"] == "shipped" and found.get("tracking"):
                reply += f" with {found['carrier']}, tracking number {found['tracking']}"
            elif found["status"] == "delivered" and found.get("delivered"):
                reply += f"; it was delivered on {found['delivered']}"
            return reply + "."
        return "Is there anything else I can help you with?"
