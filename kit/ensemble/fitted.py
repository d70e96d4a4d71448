"""An ensemble's fit: what kit/ensemble/build.py makes and replays, and kit/kept.py keeps for `kit predict`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Fitted:
    """What a method fitted on some OOF rows (its own object: weights, a vote plan, a level-2 model), and the class
    weights searched on top; replayed on held-out rows and on the test rows."""

    combination: Any = None
    class_weights: np.ndarray | None = None  # [C] when the entry asks for a class-weight search on top

    @property
    def weights(self) -> np.ndarray | None:
        """[M] blend weights summing to 1, for the methods whose fit is a weight per member."""
        is_weights = isinstance(self.combination, np.ndarray) and self.combination.ndim == 1
        return self.combination if is_weights else None
