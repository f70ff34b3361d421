"""The ``dialog-gym-verifiers`` taskset id: this module is dialog-gym's verifiers adapter.

``vf-eval dialog-gym-verifiers ...`` imports ``dialog_gym_verifiers``; the adapter is
:mod:`dialog_gym.integrations.verifiers`.
"""

import sys

import dialog_gym.integrations.verifiers as _adapter

sys.modules[__name__] = _adapter
