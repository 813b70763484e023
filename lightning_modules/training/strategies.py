"""Fine-tuning strategies: the parameter groups each one freezes (plain data, no torch)."""

from __future__ import annotations

STRATEGIES: dict[str, tuple[str, ...]] = {
    "full": (),
    "freeze-embedding": ("embedding",),
    "freeze-representation": ("embedding", "representation"),
    "head-only": ("embedding", "representation", "readout"),
}
