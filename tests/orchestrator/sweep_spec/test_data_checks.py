"""With data checks on, validate refuses what ``run`` would refuse seconds later (issue 12)."""

from __future__ import annotations

from pathlib import Path

import pytest
from spec_helpers import REPO, image_folder, with_value

from orchestrator.sweep_spec import SpecError, from_dict, load


def test_check_data_off_previews_a_spec_without_its_data(tmp_path: Path) -> None:
    missing = {"data.path": str(tmp_path / "not_here")}
    with pytest.raises(SpecError, match="data.path: path does not exist"):
        load(REPO / "search_spaces" / "celeba.yaml", missing)
    spec = load(REPO / "search_spaces" / "celeba.yaml", missing, check_data=False)
    assert spec.data.path == str((tmp_path / "not_here").resolve())
    assert from_dict(spec.resolved(), check_data=False).resolved() == spec.resolved()


def test_empty_folder_or_zip_is_refused_before_run(tmp_path: Path) -> None:
    import zipfile

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not an image")
    with pytest.raises(SpecError) as info:
        from_dict(with_value("data", {"source": "folder", "path": str(empty)}), "s.yaml")
    assert str(info.value).startswith("s.yaml: data.path: ") and "no images" in str(info.value)
    archive = tmp_path / "empty.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("readme.txt", "nothing")
    with pytest.raises(SpecError, match=r"s\.yaml: data\.path: .*no images"):
        from_dict(with_value("data", {"source": "zip", "path": str(archive)}), "s.yaml")
    with pytest.raises(SpecError, match=r"s\.yaml: data\.path: .*not a folder"):
        from_dict(with_value("data", {"source": "folder", "path": str(archive)}), "s.yaml")
    # the same specs preview without their data
    assert from_dict(with_value("data", {"source": "folder", "path": str(empty)}), check_data=False).data.path


def test_batch_larger_than_listedimage_folder(tmp_path: Path) -> None:
    folder = image_folder(tmp_path / "faces", 10)
    spec = with_value("data", {"source": "folder", "path": str(folder)}, with_value("train.batch_size", 16))
    with pytest.raises(SpecError) as info:
        from_dict(spec, "s.yaml")
    assert str(info.value) == (
        f"s.yaml: train.batch_size: batch_size must be <= the dataset size "
        f"(10 images listed in {folder.resolve()}), got 16"
    )
    assert from_dict(spec, check_data=False).train.batch_size == 16  # unknown size: not judged
    ok = from_dict(with_value("train.batch_size", 10, spec))
    assert ok.data.known_size == (10, f"images listed in {folder.resolve()}")
    assert ok.max_t() == ok.train.epochs


def test_real_celeba_zip_is_listed_not_decoded(celeba_dir: Path) -> None:
    real = {"data.path": str(celeba_dir / "img_align_celeba_1k.zip")}
    spec = load(REPO / "search_spaces" / "celeba.yaml", real)
    assert spec.data.known_size is not None and spec.data.known_size[0] == 1000
    limited = {**real, "data.limit": "100"}
    with pytest.raises(SpecError, match=r"search\.params\.batch_size\.choice\[2\]: .*data\.limit is 100\b"):
        load(REPO / "search_spaces" / "celeba.yaml", limited)


def test_weights_file_is_data_too(tmp_path: Path) -> None:
    spec = with_value("metrics", {"backbone": "inception", "weights": str(tmp_path / "inception.pth")})
    with pytest.raises(SpecError, match=r"s\.yaml: metrics\.weights: path does not exist: "):
        from_dict(spec, "s.yaml")
    preview = from_dict(spec, check_data=False)  # e.g. weights that live on the cluster
    assert preview.metrics.weights == str((tmp_path / "inception.pth").resolve())
    (tmp_path / "inception.pth").write_bytes(b"")
    assert from_dict(spec).metrics.weights == preview.metrics.weights


def test_data_size_known_without_listing(tmp_path: Path) -> None:
    # synthetic count and data.limit are known even when the data is not looked at
    with pytest.raises(SpecError, match=r"train\.batch_size: .*\(data\.limit is 8\), got 64"):
        from_dict(with_value("data", {"count": 100, "limit": 8}), check_data=False)
    folder = image_folder(tmp_path / "faces", 3)
    spec = from_dict(
        with_value("data", {"source": "folder", "path": str(folder), "limit": 200}), check_data=False
    )
    assert spec.data.known_size == (200, "data.limit")  # listing skipped: the limit is all that is known


def test_a_zip_of_non_images_named_jpg_is_refused_by_validate(tmp_path: Path) -> None:
    """Listing reads names only; a sample is decoded, so `validate` refuses what `run` would."""
    import io
    import zipfile

    from PIL import Image

    small = with_value("train.batch_size", 8)
    archive = tmp_path / "fake.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(40):
            zf.writestr(f"img/{i:03d}.jpg", f"<html>not a jpeg {i}</html>")
    with pytest.raises(SpecError) as info:
        from_dict(with_value("data", {"source": "zip", "path": str(archive)}, small), "s.yaml")
    message = str(info.value)
    assert message.startswith("s.yaml: data.path: ") and "\n" not in message
    assert "none of 16 sampled images could be decoded" in message and "img/000.jpg" in message
    # One unreadable file among real ones is left to the full decode (which skips and names it).
    mixed = tmp_path / "mixed.zip"
    with zipfile.ZipFile(mixed, "w") as zf:
        for i in range(40):
            buffer = io.BytesIO()
            Image.new("RGB", (8, 8), (i, 0, 0)).save(buffer, format="JPEG")
            zf.writestr(f"img/{i:03d}.jpg", buffer.getvalue() if i else b"broken")
    spec = from_dict(with_value("data", {"source": "zip", "path": str(mixed)}, small))
    assert spec.data.known_size is not None and spec.data.known_size[0] == 40
