"""Helpers shared by the spec tests (tests/orchestrator/sweep_spec/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
SEARCH_SPACES = sorted((REPO / "search_spaces").glob("*.yaml"))
BASE: dict[str, Any] = {"name": "t", "search": {"algorithm": "random", "num_samples": 1}}


def with_value(path: str, value: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """A copy of ``base`` with ``value`` set at the dotted ``path`` (creating sections)."""
    out = json.loads(json.dumps(base if base is not None else BASE))
    node = out
    parts = path.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def image_folder(folder: Path, n: int) -> Path:
    """``n`` real (tiny) PNG files in ``folder``: the spec lists them, nothing decodes them."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (4, 4), (i % 256, 0, 0)).save(folder / f"{i:05d}.png")
    return folder


def write_spec(tmp_path: Path, content: str | dict[str, Any], name: str = "bad_spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False))
    return path


def demo_with(tmp_path: Path, **changes: Any) -> Any:
    """The demo spec with ``section__field=value`` changes, loaded from a copy."""
    from orchestrator.sweep_spec import load

    raw = yaml.safe_load((REPO / "search_spaces" / "demo.yaml").read_text())
    for dotted, value in changes.items():
        raw = with_value(dotted.replace("__", "."), value, raw)
    return load(write_spec(tmp_path, raw, "demo_copy.yaml"))


def small_sweep(tmp_path: Path, scheduler: dict[str, Any], **sections: Any) -> Any:
    """A parsed spec of a small synthetic sweep (8 epochs) with the given ``scheduler`` section;
    ``sections`` replace or add whole sections (``metrics``, ``resources``...)."""
    from orchestrator.sweep_spec import from_dict

    values: dict[str, Any] = {
        "name": "s",
        "storage": str(tmp_path),
        "data": {"source": "synthetic", "image_size": 32, "count": 64},
        "train": {"epochs": 8, "batch_size": 16},
        "metrics": {"backbone": "rand", "samples": 64},
        "scheduler": scheduler,
    }
    values.update(sections)
    return from_dict(values, check_data=False)
