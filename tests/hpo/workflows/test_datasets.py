"""``pesweep datasets``: the studies' data by name, served here from ../shared on loopback."""

from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from hpo.workflows.datasets import DATASETS, MIRROR_ENV
from tests.support.data import SHARED_DATA

# where each data set's files lie in ../shared/data
SHARED_FOLDERS = {"seb-clusters": "seb_clusters", "tio2-aenet": "tio2_aenet"}


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with HTTP range requests (what a resumed download asks for)."""

    requests: list[tuple[str, str]] = []
    broken: set[str] = set()  # paths whose bytes are served changed

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        path = Path(self.translate_path(self.path))
        RangeHandler.requests.append((self.path, self.headers.get("Range", "")))
        if not path.is_file():
            self.send_error(404)
            return
        body = path.read_bytes()
        if any(self.path.endswith(name) for name in RangeHandler.broken):
            body = body[:-1] + bytes([body[-1] ^ 1])
        start = 0
        wanted = self.headers.get("Range", "")
        if wanted.startswith("bytes="):
            start = int(wanted.removeprefix("bytes=").split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        self.wfile.write(body[start:])


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """The studies' files under <owner>/<repo>/<commit>/<path>, as a mirror serves them."""
    root = tmp_path / "mirror"
    for name, known in DATASETS.items():
        shared = SHARED_DATA / SHARED_FOLDERS[name]
        if not shared.is_dir():
            pytest.skip(f"{shared} is absent: the shared data set is not beside this checkout")
        for file in known.files:
            served = root / known.repository / known.commit / file.path
            served.parent.mkdir(parents=True, exist_ok=True)
            served.symlink_to(shared / file.local_path)
    handler = lambda *a, **k: RangeHandler(*a, directory=str(root), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    RangeHandler.requests, RangeHandler.broken = [], set()
    monkeypatch.setenv(MIRROR_ENV, f"http://127.0.0.1:{server.server_address[1]}")
    try:
        yield root
    finally:
        server.shutdown()
        server.server_close()


def test_fetch_checks_every_file_and_resumes_a_partial_one(
    mirror, tmp_path, pesweep_in_process
) -> None:
    data = tmp_path / "data"
    seb20 = data / "seb-clusters" / "SeBn" / "B=20.npz"
    whole = (SHARED_DATA / "seb_clusters" / "SeBn" / "B=20.npz").read_bytes()
    seb20.parent.mkdir(parents=True)
    (seb20.parent / "B=20.npz.part").write_bytes(whole[: len(whole) // 2])  # an interrupted one
    done = pesweep_in_process("datasets", "fetch", "seb-clusters", "--dir", str(data), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"seb-clusters: 25 files checked in {data / 'seb-clusters'}" in done.stdout
    assert seb20.read_bytes() == whole and not list(data.rglob("*.part"))
    ranges = dict(RangeHandler.requests)
    assert (
        ranges[
            f"/{DATASETS['seb-clusters'].repository}/{DATASETS['seb-clusters'].commit}"
            "/SeBn/B=20.npz"
        ]
        == f"bytes={len(whole) // 2}-"
    )
    for file in DATASETS["seb-clusters"].files:
        local = data / "seb-clusters" / file.local_path
        assert hashlib.sha256(local.read_bytes()).hexdigest() == file.sha256
    again = pesweep_in_process(
        "datasets", "fetch", "seb-clusters", "--dir", str(data), cwd=tmp_path
    )
    assert again.returncode == 0 and len(RangeHandler.requests) == 25  # nothing downloaded again
    listed = pesweep_in_process("datasets", "list", "--dir", str(data), cwd=tmp_path)
    assert f"fetched: {data / 'seb-clusters'}" in listed.stdout and "not fetched" in listed.stdout
    audited = pesweep_in_process("audit", str(seb20), "--energy-unit", "hartree", cwd=tmp_path)
    assert audited.returncode == 0 and "of 2000 structures flagged" in audited.stdout


def test_a_file_that_fails_its_checksum_is_neither_kept_nor_written_over(
    mirror, tmp_path, monkeypatch, pesweep_in_process
) -> None:
    monkeypatch.setenv("PESWEEP_DATA_DIR", str(tmp_path / "data"))
    RangeHandler.broken = {"dir_xsf.tar.gz"}
    done = pesweep_in_process("datasets", "fetch", "tio2-aenet", cwd=tmp_path)
    assert done.returncode == 2
    assert "is not the pinned one" in done.stderr.strip().splitlines()[-1]
    folder = tmp_path / "data" / "tio2-aenet"
    assert not list(folder.iterdir())  # neither the file nor a partial one
    mine = folder / "dir_xsf.tar.gz"
    mine.write_bytes(b"a file of the user's")
    RangeHandler.broken = set()
    done = pesweep_in_process("datasets", "fetch", "tio2-aenet", cwd=tmp_path)
    assert done.returncode == 2
    assert f"{mine} is there but its SHA-256 is not the pinned one" in done.stderr
    assert mine.read_bytes() == b"a file of the user's"
    unknown = pesweep_in_process("datasets", "fetch", "qm9", cwd=tmp_path)
    assert "no data set 'qm9'; choose one of seb-clusters, tio2-aenet" in unknown.stderr
