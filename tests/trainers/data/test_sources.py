"""trainers.data sources and decoding: real CelebA zips and layouts, small hand-made folders and zips."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from image_helpers import write_pngs
from PIL import Image

from trainers.data import DataConfig, DataError, decode, prepare


def _reference(im: Image.Image, size: int) -> np.ndarray:
    """What the transform must produce: center square crop, then bicubic resize, done by hand in PIL."""
    im = im.convert("RGB")
    w, h = im.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return np.asarray(im.crop((left, top, left + side, top + side)).resize((size, size), Image.BICUBIC))


def _subset_names(names: list[str], limit: int, seed: int) -> list[str]:
    chosen = np.sort(np.random.default_rng(seed).choice(len(names), size=limit, replace=False))
    return [names[i] for i in chosen]


# ------------------------------------------------------------------------------------------ real CelebA


def test_celeba64_zip_subset(celeba_dir: Path, tmp_path: Path) -> None:
    zpath = celeba_dir / "celeba64_30k.zip"
    prepared = prepare(
        DataConfig("zip", str(zpath), image_size=64, limit=64), cache_dir=tmp_path, progress=False
    )
    arr = prepared.load()
    assert isinstance(arr, np.memmap) and not arr.flags.writeable
    assert arr.shape == (64, 64, 64, 3) and arr.dtype == np.uint8
    assert (prepared.count, prepared.image_size, prepared.skipped) == (64, 64, 0)
    assert (
        prepared.path.parent == tmp_path / "datasets" and prepared.path.name == f"{prepared.fingerprint}.npy"
    )

    # the subset is a fixed-seed choice over the sorted member list, kept in file order; 64 px: no resize
    with zipfile.ZipFile(zpath) as zf:
        names = sorted(n for n in zf.namelist() if n.endswith(".jpg"))
        picked = _subset_names(names, 64, seed=0)
        for k in (0, 37):
            expected = np.asarray(Image.open(io.BytesIO(zf.read(picked[k]))).convert("RGB"))
            np.testing.assert_array_equal(arr[k], expected)

    other_seed = prepare(
        DataConfig("zip", str(zpath), image_size=64, limit=64, seed=1), cache_dir=tmp_path, progress=False
    )
    assert other_seed.fingerprint != prepared.fingerprint
    assert not np.array_equal(other_seed.load(), arr)

    small = prepare(
        DataConfig("zip", str(zpath), image_size=32, limit=64), cache_dir=tmp_path, progress=False
    )
    assert small.fingerprint != prepared.fingerprint
    assert small.load(mmap=False).shape == (64, 32, 32, 3)


def test_celeba_originals_zip_center_crop(celeba_dir: Path, tmp_path: Path) -> None:
    zpath = celeba_dir / "img_align_celeba_1k.zip"
    prepared = prepare(DataConfig("celeba", str(zpath), image_size=64, limit=32), cache_dir=tmp_path)
    arr = prepared.load()
    assert arr.shape == (32, 64, 64, 3) and arr.dtype == np.uint8 and prepared.skipped == 0

    with zipfile.ZipFile(zpath) as zf:
        names = sorted(n for n in zf.namelist() if n.endswith(".jpg"))
        picked = _subset_names(names, 32, seed=0)
        im = Image.open(io.BytesIO(zf.read(picked[0])))
    assert im.size == (178, 218)
    centred = np.asarray(im.convert("RGB").crop((0, 20, 178, 198)).resize((64, 64), Image.BICUBIC))
    np.testing.assert_array_equal(arr[0], centred)
    top = np.asarray(im.convert("RGB").crop((0, 0, 178, 178)).resize((64, 64), Image.BICUBIC))
    assert np.abs(arr[0].astype(int) - top).mean() > 5  # a top crop would be visibly different


def test_celeba_layouts_agree(celeba_dir: Path, tmp_path: Path) -> None:
    """Folder with img_align_celeba/, folder with img_align_celeba.zip, the folder itself: same pixels."""
    with zipfile.ZipFile(celeba_dir / "img_align_celeba_1k.zip") as zf:
        names = sorted(n for n in zf.namelist() if n.endswith(".jpg"))[:12]
        payloads = {n: zf.read(n) for n in names}
    unpacked = tmp_path / "a"
    (unpacked / "img_align_celeba").mkdir(parents=True)
    for name, raw in payloads.items():
        (unpacked / name).write_bytes(raw)
    zipped = tmp_path / "b"
    zipped.mkdir()
    with zipfile.ZipFile(zipped / "img_align_celeba.zip", "w") as zf:
        for name, raw in payloads.items():
            zf.writestr(name, raw)
        zf.writestr("list_attr_celeba.txt", "not an image")

    cache = tmp_path / "cache"
    results = [
        prepare(DataConfig("celeba", str(p), image_size=32), cache_dir=cache, progress=False)
        for p in (unpacked, unpacked / "img_align_celeba", zipped, zipped / "img_align_celeba.zip")
    ]
    arrays = [r.load() for r in results]
    assert all(a.shape == (12, 32, 32, 3) for a in arrays)
    for a in arrays[1:]:
        np.testing.assert_array_equal(a, arrays[0])
    expected = _reference(Image.open(io.BytesIO(payloads[names[3]])), 32)
    np.testing.assert_array_equal(arrays[0][3], expected)
    # a folder path and a zip path are different sources: different cache entries
    assert results[0].fingerprint != results[2].fingerprint

    with pytest.raises(DataError, match="img_align_celeba"):
        prepare(DataConfig("celeba", str(tmp_path / "cache" / "datasets")), cache_dir=cache, progress=False)


def test_worker_pool_matches_in_process(
    celeba_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decode, "_CHUNK", 16)  # several chunks from a small subset (spawn start-up dominates)
    cfg = DataConfig("zip", str(celeba_dir / "celeba64_30k.zip"), image_size=32, limit=64)
    pooled = prepare(cfg, cache_dir=tmp_path / "a", progress=False, workers=2)
    single = prepare(cfg, cache_dir=tmp_path / "b", progress=False, workers=1)
    assert pooled.fingerprint == single.fingerprint and pooled.count == 64
    np.testing.assert_array_equal(pooled.load(), single.load())


# ------------------------------------------------------------------------------------------ folders, zips


def test_folder_skips_corrupt_and_crops_non_square(tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    arrays = write_pngs(folder / "sub", 5, size=(40, 30))
    (folder / "broken.jpg").write_bytes(b"this is not a jpeg at all")
    (folder / "notes.txt").write_text("ignored")
    prepared = prepare(
        DataConfig("folder", str(folder), image_size=16), cache_dir=tmp_path / "c", progress=False
    )
    assert (prepared.count, prepared.skipped) == (5, 1)
    out = prepared.load()
    assert out.shape == (5, 16, 16, 3)
    # files are taken in sorted relative-path order: broken.jpg (skipped), then sub/img_000..004.png
    for k, arr in enumerate(arrays):
        np.testing.assert_array_equal(out[k], _reference(Image.fromarray(arr), 16))
    # the skip count survives a cache hit
    assert prepare(DataConfig("folder", str(folder), image_size=16), cache_dir=tmp_path / "c").skipped == 1


def test_large_jpeg_uses_draft_within_rounding(tmp_path: Path) -> None:
    """Big photos decode at reduced DCT scale for speed; the result must match a full decode closely."""
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(2)
    smooth = Image.fromarray(rng.integers(0, 256, size=(20, 25, 3), dtype=np.uint8)).resize(
        (1000, 800), Image.BICUBIC
    )
    smooth.save(folder / "big.jpg", quality=95)
    prepared = prepare(
        DataConfig("folder", str(folder), image_size=32), cache_dir=tmp_path / "c", progress=False
    )
    full = _reference(Image.open(folder / "big.jpg"), 32).astype(int)
    assert np.abs(prepared.load()[0].astype(int) - full).mean() < 2.0


def test_zip_source_with_grayscale_and_rgba(tmp_path: Path) -> None:
    zpath = tmp_path / "mixed.zip"
    rng = np.random.default_rng(1)
    with zipfile.ZipFile(zpath, "w") as zf:
        for i, mode in enumerate(["L", "RGBA", "RGB"]):
            buf = io.BytesIO()
            channels = {"L": (), "RGBA": (4,), "RGB": (3,)}[mode]
            Image.fromarray(rng.integers(0, 256, size=(20, 24, *channels), dtype=np.uint8), mode).save(
                buf, "PNG"
            )
            zf.writestr(f"x/{i}.png", buf.getvalue())
        zf.writestr("__MACOSX/x/._0.png", b"junk")
    prepared = prepare(DataConfig("zip", str(zpath), image_size=8), cache_dir=tmp_path, progress=False)
    assert (prepared.count, prepared.skipped) == (3, 0)
    assert prepared.load().shape == (3, 8, 8, 3)


def test_all_corrupt_is_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(DataError, match=r"none of the 3 images could be decoded"):
        prepare(DataConfig("folder", str(folder)), cache_dir=tmp_path / "c", progress=False)
    assert not list((tmp_path / "c" / "datasets").glob("*.npy"))  # no partial entry left behind


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "readme.txt").write_text("no images here")
    with pytest.raises(DataError, match="no images") as info:
        prepare(DataConfig("folder", str(folder)), cache_dir=tmp_path / "c", progress=False)
    assert str(folder) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("source", ["folder", "zip", "celeba"])
def test_missing_path_names_it(tmp_path: Path, source: str) -> None:
    missing = tmp_path / "nowhere" / "faces"
    with pytest.raises(DataError, match="does not exist") as info:
        prepare(DataConfig(source, str(missing)), cache_dir=tmp_path / "c", progress=False)  # type: ignore[arg-type]
    assert str(missing) in str(info.value)


def test_wrong_container_kind(tmp_path: Path) -> None:
    not_zip = tmp_path / "faces.zip"
    not_zip.write_bytes(b"plain bytes")
    with pytest.raises(DataError, match="not a readable zip"):
        prepare(DataConfig("zip", str(not_zip)), cache_dir=tmp_path / "c", progress=False)
    with pytest.raises(DataError, match="not a folder"):
        prepare(DataConfig("folder", str(not_zip)), cache_dir=tmp_path / "c", progress=False)
    with pytest.raises(DataError, match="is a folder"):
        prepare(DataConfig("zip", str(tmp_path)), cache_dir=tmp_path / "c", progress=False)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"source": "imagenet", "path": "x"}, "unknown data source"),
        ({"source": "folder"}, "needs a path"),
        ({"source": "synthetic", "limit": 0}, "limit"),
        ({"source": "synthetic", "count": 0}, "count"),
        ({"source": "synthetic", "image_size": 4}, "image_size"),
    ],
)
def test_config_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(DataError, match=message):
        DataConfig(**kwargs)  # type: ignore[arg-type]

