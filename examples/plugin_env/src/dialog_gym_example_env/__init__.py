"""An example dialog-gym environment plugin (see README.md)."""

from dialog_gym_example_env.coffee import CoffeeOrderEnv

__all__ = ["CoffeeOrderEnv"]
