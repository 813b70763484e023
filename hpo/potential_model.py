"""Where models logged by earlier pesweep versions find their class (their code file imports it here).

New models import :class:`hpo.tracking.model_flavour.PotentialModel`; this
name stays so that versions already in a registry still load and serve.
"""

from hpo.tracking.model_flavour import PotentialModel

__all__ = ["PotentialModel"]
