"""An example dialog-gym agent plugin (see README.md)."""

from dialog_gym_example_agent.agent import ChecklistAgent

__all__ = ["ChecklistAgent"]
