"""trainers.data.store: the fingerprint-keyed cache entry (reuse, invalidation, relocation, concurrency)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from image_helpers import write_pngs

from trainers.data import DataConfig, decode, prepare, synthetic_faces

REPO = Path(__file__).resolve().parents[3]




def test_cache_reuse_and_invalidation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "imgs"
    write_pngs(folder, 6, size=(24, 24))
    cache = tmp_path / "cache"
    cfg = DataConfig("folder", str(folder), image_size=16)
    first = prepare(cfg, cache_dir=cache, progress=False)
    mtime = first.path.stat().st_mtime_ns

    def no_decoding(*args: object) -> np.ndarray:
        raise AssertionError("a cache hit must not decode images")

    with monkeypatch.context() as m:
        m.setattr(decode, "_decode_image", no_decoding)
        second = prepare(cfg, cache_dir=cache, progress=False)
    assert second == first and second.path.stat().st_mtime_ns == mtime

    # cache_dir=None falls back to $GANSWEEP_CACHE_DIR
    monkeypatch.setenv("GANSWEEP_CACHE_DIR", str(cache))
    assert prepare(cfg, progress=False) == first

    # touching a file changes the key
    target = folder / "img_002.png"
    st = target.stat()
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    touched = prepare(cfg, cache_dir=cache, progress=False)
    assert touched.fingerprint != first.fingerprint and touched.count == 6
    # adding a file changes the key and the count
    write_pngs(tmp_path / "extra", 1, size=(24, 24), seed=5)
    (tmp_path / "extra" / "img_000.png").rename(folder / "img_new.png")
    grown = prepare(cfg, cache_dir=cache, progress=False)
    assert grown.fingerprint not in {first.fingerprint, touched.fingerprint} and grown.count == 7
    # a limit at or above the number of images is no subset: same entry whatever the seed
    assert (
        prepare(DataConfig("folder", str(folder), image_size=16, limit=50, seed=3), cache_dir=cache) == grown
    )


def test_zip_key_follows_zip_file(tmp_path: Path) -> None:
    write_pngs(tmp_path / "imgs", 3, size=(16, 16))
    zpath = tmp_path / "imgs.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for p in sorted((tmp_path / "imgs").iterdir()):
            zf.write(p, f"imgs/{p.name}")
    cfg = DataConfig("zip", str(zpath), image_size=8)
    first = prepare(cfg, cache_dir=tmp_path / "c", progress=False)
    st = zpath.stat()
    os.utime(zpath, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert prepare(cfg, cache_dir=tmp_path / "c", progress=False).fingerprint != first.fingerprint


def test_stale_or_partial_entry_is_rebuilt(tmp_path: Path) -> None:
    cfg = DataConfig("synthetic", count=20)
    first = prepare(cfg, cache_dir=tmp_path, progress=False)
    first.path.with_suffix(".json").unlink()  # as if the builder died before finishing
    rebuilt = prepare(cfg, cache_dir=tmp_path, progress=False)
    assert rebuilt == first
    np.testing.assert_array_equal(rebuilt.load(), synthetic_faces(20, 32, 0))


_CONCURRENT = """
import sys
from trainers.data import DataConfig, prepare
r = prepare(DataConfig("folder", sys.argv[1], image_size=16), cache_dir=sys.argv[2], progress=False)
print(r.fingerprint, r.count)
"""


def test_concurrent_builders_share_one_entry(tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    write_pngs(folder, 40, size=(32, 32))
    cache = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CONCURRENT, str(folder), str(cache)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    assert outputs[0][0] == outputs[1][0]
    entries = sorted(p.name for p in (cache / "datasets").iterdir() if not p.name.endswith(".lock"))
    fingerprint = outputs[0][0].split()[0]
    assert entries == [f"{fingerprint}.json", f"{fingerprint}.npy"]  # no temp files left
    assert np.load(cache / "datasets" / f"{fingerprint}.npy").shape == (40, 16, 16, 3)



def test_fingerprint_ignores_where_the_data_is_mounted(tmp_path: Path) -> None:
    """The same files at another path (a cluster node's mount, a Docker volume) reuse the cache entry."""
    write_pngs(tmp_path / "here" / "faces", 4, size=(20, 20))
    shutil.copytree(tmp_path / "here", tmp_path / "elsewhere" / "mnt")  # copy2 keeps sizes and mtimes
    cache = tmp_path / "cache"
    first = prepare(DataConfig("folder", str(tmp_path / "here" / "faces"), image_size=8), cache_dir=cache,
                    progress=False)
    moved = prepare(DataConfig("folder", str(tmp_path / "elsewhere" / "mnt" / "faces"), image_size=8),
                    cache_dir=cache, progress=False)
    assert moved.fingerprint == first.fingerprint and moved.path == first.path
    assert len(list((cache / "datasets").glob("*.npy"))) == 1  # not rebuilt

    zip_a, zip_b = tmp_path / "a" / "faces.zip", tmp_path / "b" / "c" / "faces.zip"
    zip_a.parent.mkdir()
    with zipfile.ZipFile(zip_a, "w") as zf:
        for p in sorted((tmp_path / "here" / "faces").iterdir()):
            zf.write(p, f"faces/{p.name}")
    zip_b.parent.mkdir(parents=True)
    shutil.copy2(zip_a, zip_b)
    in_a = prepare(DataConfig("zip", str(zip_a), image_size=8), cache_dir=cache, progress=False)
    in_b = prepare(DataConfig("zip", str(zip_b), image_size=8), cache_dir=cache, progress=False)
    assert in_a.fingerprint == in_b.fingerprint != first.fingerprint

    # different content under the same names is still a different dataset
    write_pngs(tmp_path / "other", 4, size=(21, 20), seed=9)
    assert prepare(DataConfig("folder", str(tmp_path / "other"), image_size=8), cache_dir=cache,
                   progress=False).fingerprint != first.fingerprint
