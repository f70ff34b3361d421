"""Adapters to the LLM-RL ecosystem: TRL, OpenEnv and verifiers.

Each adapter is a module importing its peer lazily (install the extra of the same name:
``pip install "dialog-gym[trl]"``, ``[openenv]``, ``[verifiers]``); the core never
imports them. All of them drive the same env through its chat-message interface:
``obs["messages"]``, ``env.unwrapped.tool_schemas`` and ``env.step(assistant_message)``.
"""
