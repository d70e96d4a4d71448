"""What weighted and Caruana blends optimise on OOF rows: the declarations (kit/ensemble/methods.py) name it in their
settings and the implementation (kit/ensemble/blend.py) checks it, so it lives below both and imports nothing."""

import typing
from typing import Literal

Objective = Literal["f1", "logloss"]
OBJECTIVES = typing.get_args(Objective)
