"""MD stability of a potential: NVT molecular dynamics with ASE, judged by physical criteria.

* :mod:`.spec` — what a check runs and what counts as a failure (configuration as data).
* :mod:`.criteria` — pure functions: close contacts, broken molecular bonds, escaped atoms.
* :mod:`.rdf` — partial radial (pair-distance) distributions and their distance to a reference.
* :mod:`.report` — what one check found (:class:`~.report.StabilityReport`).
* :mod:`.simulation` — the NVT (+ NVE) run with any ASE calculator, stopped at the first failure
  (imported from there: ASE's dynamics cost a second of start-up that a spec alone does not need).
* :mod:`.replicas` — the Bussi run with ASE's arithmetic, several velocity seeds in one batched
  model call per step (what :mod:`.simulation` runs for Bussi).
"""

from lightning_modules.md.rdf import first_peak, pair_distributions, rdf_distance
from lightning_modules.md.spec import MDSpec, MDSpecError, load_md_spec

__all__ = [
    "MDSpec",
    "MDSpecError",
    "load_md_spec",
    "first_peak",
    "pair_distributions",
    "rdf_distance",
]
