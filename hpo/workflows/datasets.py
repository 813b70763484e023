"""The public data sets of the two studies, by name: pinned by URL and SHA-256, fetched once.

``pesweep datasets fetch NAME`` downloads a data set's files into the data
folder (``--dir``, else ``$PESWEEP_DATA_DIR``, else
``$XDG_CACHE_HOME/pesweep/datasets``, by default ``~/.cache/pesweep/datasets``)
as ``<folder>/<name>/<file>``. Every file is pinned to one commit of its
authors' repository and to its SHA-256:

* a download goes to ``<file>.part`` and continues where an interrupted one
  stopped (an HTTP range request; a server that ignores it sends the file
  again from the start);
* the finished file is checked before it takes its name; a mismatch removes
  the partial file and says so, and a file already there that fails its
  checksum is never written over (the command names it: move it away);
* ``$PESWEEP_DATA_MIRROR`` replaces ``https://raw.githubusercontent.com``
  (a site without internet serves the same ``<owner>/<repo>/<commit>/<path>``
  tree itself; the tests serve ``../shared`` this way on loopback).
"""

from __future__ import annotations

import logging
import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from lightning_modules.conventions import DEFAULT_ENERGY_UNIT
from lightning_modules.errors import PesweepError
from lightning_modules.file_digest import file_sha256

logger = logging.getLogger(__name__)

GITHUB_RAW = "https://raw.githubusercontent.com"
MIRROR_ENV = "PESWEEP_DATA_MIRROR"
DATA_DIR_ENV = "PESWEEP_DATA_DIR"
CHUNK = 1 << 16


class DatasetError(PesweepError):
    """A data set that cannot be fetched or checked; the message names the fix."""


@dataclass(frozen=True)
class DataFile:
    """One file: where it lies in its repository, where it goes locally, its SHA-256."""

    path: str  # in the repository
    sha256: str
    local: str = ""  # in the data set's folder (default: ``path``)

    @property
    def local_path(self) -> str:
        return self.local or self.path


@dataclass(frozen=True)
class Dataset:
    """A named data set: its repository at one commit, its files, and what it is."""

    description: str
    repository: str  # owner/name on GitHub
    commit: str
    files: tuple[DataFile, ...]
    energy_unit: str
    example: str  # a command on the fetched files ({folder} is the data set's folder)

    def url(self, file: DataFile) -> str:
        base = os.environ.get(MIRROR_ENV, GITHUB_RAW).rstrip("/")
        return f"{base}/{self.repository}/{self.commit}/{file.path}"


def _seb_files() -> tuple[DataFile, ...]:
    digests = {
        "SeBn/B=16.npz": "5819069259c3cfc963ec791de95ba2188a562f40de0c14010424db34be470bef",
        "SeBn/B=17.npz": "a61ed38255aae45d93f0d44633d2042b5e5aa12dee63395e4998b176d5796fa8",
        "SeBn/B=18.npz": "a68bf4e8866bade39e2de0a34b5bd73cfb14744084ae01d907a7ddca03e6147e",
        "SeBn/B=19.npz": "16a0a998781a65a32b388e0a6b6f07790420f05e93becc216469d3d96d1e1bd6",
        "SeBn/B=20.npz": "851e4c640b96650a7ab95d7d81f1f9c057deaf0feda3aaaad18381d246d4a1c7",
        "SeBn/B=21.npz": "5e5c023adcdb7faf8e4b4e4a4650fbd17d05f1f8c74f9cfc516c3238ba731bf6",
        "SeBn/B=22.npz": "f5d93036c985960b991354809ee86fdd9b50b53d72edb079bc31e27341ee9e73",
        "SeBn/B=23.npz": "ba05e2ca421ea1fb12263fa8700ebd5d126ee69b30cf27d7028da58640e5a621",
        "Bn/B=16.npz": "fc0dff14e45d7b49fa3084dbe2ac60f21967164ced5a3289d1c056e3d5233fe0",
        "Bn/B=17.npz": "7e055bf1b2a99c668c2f9ca08b4f1a7e6c85c0d246ab5c1dff71aa80469bdb34",
        "Bn/B=18.npz": "fa5b35aa27fe35b52768f392d1f61b5d8a985e635ba4692b867f6e8737ca2798",
        "Bn/B=19.npz": "1ae17798d933beeb0e21b50bb18f0987383f7a11f1eded8ed9498ace059874ad",
        "Bn/B=20.npz": "4faabfa8926982c0707c3b20acb89e58e0ea5b6396494723146afffb0a41f5e8",
        "Bn/B=21.npz": "9c3a30048391b509cb8c6b0d05c229ff98a01bef0fd0edcb4759b1d03dfeae10",
        "Bn/B=22.npz": "8f75167596e29e076dde064e3bb6a47042b33152e9a75140675b8162bc993aad",
        "Bn/B=23.npz": "ee04c1830422b7afb30ce9fc2922622950057cd6881759ac2d0b5d61398a07a6",
        "Bn/B=24.npz": "ac38f8366e73fced1649b0470ed66f788ad0a0ffb740d3f81670fd0830ec8f2a",
        "SeBn-O/B=16.npz": "9607eab3b592bf1083c26d66ea1c3f154dee56c756069a6a159f827d3590777d",
        "SeBn-O/B=17.npz": "199f07309fde2416d5eaa7cb84c355b1175372594c0a2c67219c5ce99ec86d49",
        "SeBn-O/B=18.npz": "016e64816100a25356b83c0724d03ac030cb0897ebcce3b6d6f4e8a5e708a9ab",
        "SeBn-O/B=19.npz": "052721c48b6e52951f9ec9d146e28addc665be385a9f181e8bb49934e3c87c6c",
        "SeBn-O/B=20.npz": "63462898eb81a18598198b7df61c3328e0cfd16777980dd1692754eb3d34ac53",
        "SeBn-O/B=21.npz": "4fee41b81465df50eb4a48ac6e6ba6e0b818bae0c645fc73a47a78a776126a1d",
        "SeBn-O/B=22.npz": "3df18caebacf031133ba2c965929f991b19801c036ab7616f85571d6e516577a",
        "SeBn-O/B=23.npz": "3df18caebacf031133ba2c965929f991b19801c036ab7616f85571d6e516577a",
    }
    return tuple(DataFile(path, digest) for path, digest in digests.items())


# the one table of the data sets pesweep knows (checked against the authors' files)
DATASETS = {
    "seb-clusters": Dataset(
        description="SchNet_IIA study (J. Chem. Inf. Model. 2025): SeB_n, B_n and optimised "
        "SeB_n clusters, PBE0/3-21G energies in Hartree, no forces (12 MB)",
        repository="Kailejiang/Project-Supplement",
        commit="0830e104ffe30c70ef0bf0d378cdbf366b3c6844",
        files=_seb_files(),
        energy_unit="hartree",
        example="pesweep audit {folder}/SeBn/B=20.npz --energy-unit hartree",
    ),
    "tio2-aenet": Dataset(
        description="the aenet-PyTorch example: 1000 periodic TiO2 structures with PBE energies "
        "and forces, as XSF files in one archive (0.7 MB)",
        repository="atomisticnet/aenet-PyTorch",
        commit="c1cf315c39382663e14654ccf5bade967acebe73",
        files=(
            DataFile(
                "example/dir_xsf.tar.gz",
                "70e7c2ace9bec3d6fde85e2853d8477126fa6854c106be4b827c7e79513e8eb8",
                "dir_xsf.tar.gz",
            ),
        ),
        energy_unit=DEFAULT_ENERGY_UNIT,
        example="pesweep audit {folder}/dir_xsf.tar.gz",
    ),
}


def data_dir(flag: str | None = None) -> Path:
    """``--dir``, else ``$PESWEEP_DATA_DIR``, else ``$XDG_CACHE_HOME/pesweep/datasets``."""
    if flag:
        return Path(flag).expanduser()
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pesweep" / "datasets"


def dataset(name: str) -> Dataset:
    if name not in DATASETS:
        raise DatasetError(f"no data set {name!r}; choose one of {', '.join(DATASETS)}")
    return DATASETS[name]


def fetched(name: str, folder: Path) -> bool:
    """Whether every file of ``name`` lies in ``folder/name`` (present; checked when fetched)."""
    return all((folder / name / f.local_path).is_file() for f in dataset(name).files)


def fetch(name: str, folder: Path, progress: bool = True) -> Path:
    """Download the files of data set ``name`` that ``folder/name`` lacks; its folder.

    Files already there are checked against their SHA-256 (a mismatch is an
    error naming the file, which stays as it is).
    """
    chosen = dataset(name)
    target = folder / name
    for file in chosen.files:
        path = target / file.local_path
        if path.is_file():
            if file_sha256(path) != file.sha256:
                raise DatasetError(
                    f"{path} is there but its SHA-256 is not the pinned one (changed or "
                    f"another file); move it away and fetch again"
                )
            continue
        _download(chosen.url(file), path, file.sha256, progress)
    return target


def _download(url: str, path: Path, sha256: str, progress: bool) -> None:
    """``url`` into ``path``: resumed from ``path.part``, checked, then renamed."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DatasetError(f"cannot make {path.parent} ({error.strerror}); pass --dir") from error
    partial = path.with_name(path.name + ".part")
    have = partial.stat().st_size if partial.is_file() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            resumed = have > 0 and answer.status == 206
            total = int(answer.headers.get("Content-Length") or 0) + (have if resumed else 0)
            with open(partial, "ab" if resumed else "wb") as stream:
                done = have if resumed else 0
                while block := answer.read(CHUNK):
                    stream.write(block)
                    done += len(block)
                    if progress:
                        _show(path.name, done, total)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:  # the partial file holds the whole file already
            pass
        else:
            raise DatasetError(
                f"{url} answered HTTP {error.code} ({error.reason}); check the network or "
                f"${MIRROR_ENV}"
            ) from error
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise DatasetError(
            f"cannot download {url} ({reason}); run the command again to continue it, or "
            f"set ${MIRROR_ENV} to a mirror"
        ) from error
    finally:
        if progress:
            sys.stderr.write("\n")
    found = file_sha256(partial)
    if found != sha256:
        partial.unlink()
        raise DatasetError(
            f"{url} gave a file whose SHA-256 ({found[:12]}...) is not the pinned one "
            f"({sha256[:12]}...); nothing kept, try again or check ${MIRROR_ENV}"
        )
    os.replace(partial, path)
    logger.info("fetched and checked %s", path)


def _show(name: str, done: int, total: int) -> None:
    share = f"{100 * done / total:5.1f}%" if total else ""
    sys.stderr.write(f"\r{name}: {done / 1e6:8.2f} MB {share}")
    sys.stderr.flush()
