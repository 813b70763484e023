"""The CuAu + water study's system recipes: seeded, and the Cu-Au share really holds both."""

from __future__ import annotations

import numpy as np

from lightning_modules.data.cuau_water import broad_recipes, build, cu_au_recipes


def test_cu_au_recipes_hold_both_metals_in_clusters_of_4_to_13_atoms() -> None:
    recipes = cu_au_recipes(10, np.random.default_rng(3))
    assert len(recipes) == 10
    for recipe in recipes:
        assert {"Cu", "Au"} <= set(recipe.metals) <= {"Cu", "Au"}
        assert 4 <= len(recipe.metals) <= 13
        assert recipe.name.startswith(f"Au{recipe.metals.count('Au')}Cu")
    assert sum(bool(r.adsorbates) for r in recipes) == 5  # every other one has adsorbates
    atoms = build(recipes[1], np.random.default_rng(0))
    assert {"Cu", "Au"} <= set(atoms.get_chemical_symbols())


def test_recipes_are_seeded() -> None:
    assert cu_au_recipes(6, np.random.default_rng(1)) == cu_au_recipes(6, np.random.default_rng(1))
    first, again = (
        broad_recipes(8, np.random.default_rng(0)),
        broad_recipes(8, np.random.default_rng(0)),
    )
    assert first == again
    assert first != broad_recipes(8, np.random.default_rng(1))
