"""ænet-PyTorch's ``<element>.nn.ascii`` files: export of a trained ænet model, and a reader.

One file per element, in the order ænet-PyTorch's ``nnASCII2bin.x`` reads it
(list-directed Fortran reads, one block per line group) to make the binary
``.nn`` potentials of ænet's ``predict.x`` and its LAMMPS and ASE interfaces:

* network (ænet ``feedforward.f90``): nlayers, nnodes_max, Wsize, nvalues, the
  nodes of every layer, the activation code of layers 2.. (0 linear, 1 tanh,
  2 sigmoid), the index arrays iw and iv, and the weights. Layer l's block is
  the (nnodes(l+1), nnodes(l)+1) matrix [W | b], stored column by column.
* descriptor set-up (``sfsetup.f90``): element, ENV species order, Rc_min and
  Rc_max, ``Chebyshev``, nsf, 4 parameters (Rc_r, N_r, Rc_a, N_a in the first
  column) and the descriptor statistics. ænet normalises a descriptor G to
  (G - avg) / sqrt(cov - avg^2), with cov the mean of G^2, so avg is our shift
  and cov = std^2 + avg^2 (a component our scale zeroes gets cov = avg^2,
  which ænet zeroes too). ænet predicts without sfval_min/max; the checkpoint
  keeps no extremes, so they are written as avg -/+ std.
* training-set information (``trainset.f90``): normalized, scale, shift, the
  species and their E_atom. ænet's atomic energy is
  E_i = y_i / scale + shift + E_atom(Z_i), so scale = 1 / our energy scale,
  shift = our energy shift (eV/atom), E_atom = our element reference energies.

:func:`read_nn_ascii` reads such a file back and :func:`atomic_energy`
evaluates it as ænet does, so an export can be checked without ænet.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import torch
from torch import nn

from lightning_modules.errors import PesweepError
from lightning_modules.models.aenet import AenetPotential
from lightning_modules.models.potential import Potential

ACTIVATION_CODES = {nn.Identity: 0, nn.Tanh: 1, nn.Sigmoid: 2}
NSFPARAM = 4  # ænet's parameters per basis function
NENV_MAX = 2  # ænet's sfenv rows
DEFAULT_RC_MIN = 0.5  # Angstrom; sizes ænet's neighbour lists, does not enter the descriptor


class ExportError(PesweepError):
    """A model that ænet's file format cannot hold."""


@dataclass(frozen=True)
class NnAscii:
    """The contents of one ``.nn.ascii`` file (ænet's names)."""

    nnodes: tuple[int, ...]
    activations: tuple[int, ...]  # layers 2..nlayers
    weights: np.ndarray  # [Wsize]
    element: str
    env_types: tuple[str, ...]
    rc_min: float
    rc_max: float
    sfparam: np.ndarray  # [nsf, NSFPARAM]
    sfval_min: np.ndarray
    sfval_max: np.ndarray
    sfval_avg: np.ndarray
    sfval_cov: np.ndarray
    scale: float
    shift: float
    type_names: tuple[str, ...]
    type_energies: tuple[float, ...]

    def layer_matrices(self) -> list[np.ndarray]:
        """[W | b] of every layer, shape (nnodes(l+1), nnodes(l) + 1)."""
        matrices, start = [], 0
        for n_in, n_out in zip(self.nnodes[:-1], self.nnodes[1:], strict=False):
            size = (n_in + 1) * n_out
            matrices.append(
                self.weights[start : start + size].reshape((n_out, n_in + 1), order="F")
            )
            start += size
        return matrices

    @property
    def e_atom(self) -> float:
        return self.type_energies[self.type_names.index(self.element)]


def _layers(network: nn.Sequential) -> tuple[list[nn.Linear], list[int]]:
    linears = [m for m in network if isinstance(m, nn.Linear)]
    activations = [m for m in network if not isinstance(m, nn.Linear)]
    codes = []
    for module in activations:
        code = ACTIVATION_CODES.get(type(module))
        if code is None:
            raise ExportError(
                f"activation {type(module).__name__} has no ænet code; ænet files hold tanh, "
                f"sigmoid and linear networks: train with activation tanh, sigmoid or linear"
            )
        codes.append(code)
    return linears, codes + [0]  # the output layer is linear


def _format_block(values: Sequence[float] | np.ndarray, per_line: int = 4) -> str:
    numbers = [f"{float(v): .17E}" for v in values]
    return (
        "\n".join(" ".join(numbers[i : i + per_line]) for i in range(0, len(numbers), per_line))
        + "\n"
    )


def _format_ints(values: Sequence[int], per_line: int = 8) -> str:
    return (
        "\n".join(
            " ".join(f"{int(v):d}" for v in values[i : i + per_line])
            for i in range(0, len(values), per_line)
        )
        + "\n"
    )


def nn_ascii_text(
    model: AenetPotential,
    element: str,
    rc_min: float = DEFAULT_RC_MIN,
    description: str = "pesweep-export",
) -> str:
    """The ``.nn.ascii`` text of ``element``'s network of ``model``."""
    if "/" in description or "," in description or " " in description:
        raise ExportError(
            "the description must be one word without '/' or ',' (Fortran "
            "list-directed reads stop there)"
        )
    symbols = model.species_symbols
    if element not in symbols:
        raise ExportError(f"the model has no network for {element!r}; it has {symbols}")
    index = symbols.index(element)
    linears, codes = _layers(cast(nn.Sequential, model.networks[index]))
    nnodes = [linears[0].in_features] + [layer.out_features for layer in linears]
    weights = np.concatenate(
        [
            torch.cat([layer.weight.detach().double(), layer.bias.detach().double()[:, None]], 1)
            .cpu()
            .numpy()
            .flatten(order="F")
            for layer in linears
        ]
    )
    iw, iv = [0], [0]
    for n_in, n_out in zip(nnodes[:-1], nnodes[1:], strict=False):
        iw.append(iw[-1] + (n_in + 1) * n_out)
        iv.append(iv[-1] + n_in + 1)
    nvalues = iv[-1] + nnodes[-1]

    settings = model.descriptor.settings
    nsf = settings.length
    sfparam = np.zeros((nsf, NSFPARAM))
    sfparam[0] = (
        settings.radial_cutoff,
        settings.radial_order,
        settings.angular_cutoff,
        settings.angular_order,
    )
    avg = model.feature_shift[index].detach().double().cpu().numpy()
    inverse_std = model.feature_scale[index].detach().double().cpu().numpy()
    std = np.divide(1.0, inverse_std, out=np.zeros_like(inverse_std), where=inverse_std > 0)
    cov = std**2 + avg**2

    reference = model.energy_reference()
    energy_scale = reference.scale
    if not math.isfinite(energy_scale) or energy_scale <= 0:
        raise ExportError(f"the model's energy scale is {energy_scale}; ænet needs a positive one")
    energies = [reference.element_energy.get(z, 0.0) for z in settings.species]

    return "".join(
        [
            f"{len(nnodes)}\n{max(nnodes)}\n{iw[-1]}\n{nvalues}\n",
            _format_ints(nnodes),
            _format_ints(codes),
            _format_ints(iw),
            _format_ints(iv),
            _format_block(weights),
            f"{description}\n{element}\n{len(symbols)}\n{' '.join(symbols)}\n",
            _format_block([rc_min]),
            _format_block([settings.cutoff]),
            f"Chebyshev\n{nsf}\n{NSFPARAM}\n",
            _format_ints([0] * nsf),
            _format_block(sfparam.flatten()),  # sfparam(i, j), i fastest
            _format_ints([0] * (NENV_MAX * nsf)),
            "0\n",  # neval
            _format_block(avg - std),
            _format_block(avg + std),
            _format_block(avg),
            _format_block(cov),
            f"{description}\nT\n",
            _format_block([1.0 / energy_scale]),
            _format_block([reference.shift]),
            f"{len(symbols)}\n{' '.join(symbols)}\n",
            _format_block(energies),
            "0\n0\n",
            _format_block([0.0, 0.0, 0.0]),
        ]
    )


def export_nn_ascii(
    model: Potential,
    directory: str | Path,
    rc_min: float = DEFAULT_RC_MIN,
    suffix: str = ".nn.ascii",
) -> list[Path]:
    """Write ``<element><suffix>`` for every element of ``model`` into ``directory``."""
    if not isinstance(model, AenetPotential):
        raise ExportError(f"only ænet models export to .nn.ascii, not {type(model).__name__}")
    if model.core_repulsion is not None:
        raise ExportError(
            f"the model adds a core repulsion (core_repulsion={model.settings.core_repulsion}) "
            f"that ænet's files cannot hold; export a model trained without it"
        )
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for element in model.species_symbols:
        path = folder / f"{element}{suffix}"
        path.write_text(nn_ascii_text(model, element, rc_min))
        paths.append(path)
    return paths


class _Tokens:
    """Fortran list-directed reading: every read starts on a new line and takes what it needs."""

    def __init__(self, text: str, path: str) -> None:
        self.lines = text.splitlines()
        self.line = 0
        self.path = path

    def read(self, count: int) -> list[str]:
        tokens: list[str] = []
        while len(tokens) < count:
            if self.line >= len(self.lines):
                raise ValueError(
                    f"{self.path}: ends early (wanted {count} values at line "
                    f"{self.line + 1}); is it an .nn.ascii file?"
                )
            tokens += self.lines[self.line].split()
            self.line += 1
        return tokens[:count]

    def ints(self, count: int) -> list[int]:
        return [int(t) for t in self.read(count)]

    def floats(self, count: int) -> np.ndarray:
        return np.array([float(t.replace("d", "e").replace("D", "E")) for t in self.read(count)])

    def rest(self) -> Iterator[str]:
        return (line for line in self.lines[self.line :] if line.strip())


def read_nn_ascii(path: str | Path) -> NnAscii:
    """Read an ``.nn.ascii`` file as ``nnASCII2bin.x`` does; checks its index arrays."""
    tokens = _Tokens(Path(path).read_text(), str(path))
    nlayers, nnodes_max, wsize, nvalues = (tokens.ints(1)[0] for _ in range(4))
    nnodes = tuple(tokens.ints(nlayers))
    activations = tuple(tokens.ints(nlayers - 1))
    iw, iv = tokens.ints(nlayers), tokens.ints(nlayers)
    weights = tokens.floats(wsize)
    expected_w = sum((a + 1) * b for a, b in zip(nnodes[:-1], nnodes[1:], strict=False))
    if (
        max(nnodes) != nnodes_max
        or iw[-1] != wsize
        or wsize != expected_w
        or nvalues != iv[-1] + nnodes[-1]
    ):
        raise ValueError(
            f"{path}: inconsistent network sizes (nnodes {nnodes}, Wsize {wsize}, "
            f"iw {iw}, iv {iv}, nvalues {nvalues})"
        )
    tokens.read(1)  # description
    element = tokens.read(1)[0]
    nenv = tokens.ints(1)[0]
    env_types = tuple(tokens.read(nenv))
    rc_min, rc_max = tokens.floats(1)[0], tokens.floats(1)[0]
    sftype = tokens.read(1)[0]
    if sftype.lower() != "chebyshev":
        raise ValueError(f"{path}: descriptor {sftype!r}; only Chebyshev is supported")
    nsf, nsfparam = tokens.ints(1)[0], tokens.ints(1)[0]
    tokens.ints(nsf)  # sf
    sfparam = tokens.floats(nsfparam * nsf).reshape(nsf, nsfparam)
    tokens.ints(NENV_MAX * nsf)  # sfenv
    tokens.ints(1)  # neval
    sfval_min, sfval_max, sfval_avg, sfval_cov = (tokens.floats(nsf) for _ in range(4))
    tokens.read(1)  # training-set file
    tokens.read(1)  # normalized
    scale, shift = tokens.floats(1)[0], tokens.floats(1)[0]
    ntypes = tokens.ints(1)[0]
    type_names = tuple(tokens.read(ntypes))
    type_energies = tuple(float(e) for e in tokens.floats(ntypes))
    tokens.ints(1), tokens.ints(1), tokens.floats(3)  # atoms, structures, E_min/max/avg
    if next(tokens.rest(), None) is not None:
        raise ValueError(f"{path}: unexpected text after the training-set block")
    return NnAscii(
        nnodes,
        activations,
        weights,
        element,
        env_types,
        float(rc_min),
        float(rc_max),
        sfparam,
        sfval_min,
        sfval_max,
        sfval_avg,
        sfval_cov,
        float(scale),
        float(shift),
        type_names,
        type_energies,
    )


def _activate(code: int, values: np.ndarray) -> np.ndarray:
    if code == 0:
        return values
    if code == 1:
        return np.tanh(values)
    if code == 2:
        return 1.0 / (1.0 + np.exp(-values))
    raise ValueError(f"activation code {code} is not supported (0 linear, 1 tanh, 2 sigmoid)")


def atomic_energy(potential: NnAscii, descriptor: np.ndarray) -> np.ndarray:
    """ænet's atomic energies (eV) of atoms with raw descriptors ``descriptor`` [n, nsf]."""
    shift = potential.sfval_avg
    spread = np.sqrt(np.maximum(potential.sfval_cov - shift * shift, 0.0))
    scale = np.divide(1.0, spread, out=np.zeros_like(spread), where=spread > 1e-10)
    values = (np.asarray(descriptor, dtype=np.float64) - shift) * scale
    for matrix, code in zip(potential.layer_matrices(), potential.activations, strict=False):
        with_bias = np.concatenate([values, np.ones((values.shape[0], 1))], axis=1)
        values = _activate(code, with_bias @ matrix.T)
    return values[:, 0] / potential.scale + potential.shift + potential.e_atom
