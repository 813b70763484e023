"""YAML as users write it: ``1e-3`` is a number (YAML 1.2), not the string YAML 1.1 makes of it.

PyYAML follows YAML 1.1, whose floats need a dot (``1.0e-3``); a config with
``lr: 1e-3`` would otherwise hold the string ``'1e-3'``. :func:`load_yaml`
reads every pesweep file (configs, spaces, MD and sweep specs, references)
with a safe loader that also resolves the YAML 1.2 forms of a float.
"""

from __future__ import annotations

import re
from typing import Any

import yaml


class NumberLoader(yaml.SafeLoader):
    """A safe loader that reads ``1e-4``, ``5E3`` and ``.5e1`` as floats."""


NumberLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^[-+]?(?:\d[\d_]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$"
        r"|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"
    ),
    list("-+0123456789."),
)


def load_yaml(text: str) -> Any:
    """The document in ``text`` (:class:`NumberLoader`); raises :class:`yaml.YAMLError`."""
    return yaml.load(text, Loader=NumberLoader)  # noqa: S506 (a SafeLoader subclass)
