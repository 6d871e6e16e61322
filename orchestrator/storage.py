"""Where Tune keeps a sweep: the spec's `storage` as Ray gets it (a local folder or any URI pyarrow
knows: file://, s3://, gs://, hdfs://, abfs://), and gansweep's own small files beside it.

Ray writes checkpoints and its experiment state straight to that storage (`RunConfig.storage_path`)
with its pyarrow filesystem and the usual credentials of the driver and every node (AWS_* / an
instance role for s3://, GOOGLE_APPLICATION_CREDENTIALS / workload identity for gs://). gansweep
adds two small files per sweep, `gansweep.json` (the MLflow parent run of this Tune experiment,
the spec hash) and `resolved_spec.json`; on remote storage they are written to a local mirror
first and copied up with the same pyarrow filesystem (`push`), and read back before a resume
(`pull`), so `--resume` works from any machine that can read the storage.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.fs as pafs
from ray import tune

from trainers.cache import cache_root, stable_hash

if TYPE_CHECKING:
    from orchestrator.sweep_spec import SweepSpec

SWEEP_STATE_FILE = "gansweep.json"  # parent run id, spec hash (a trial's resume state: trial.STATE_FILE)
OWN_FILES = (SWEEP_STATE_FILE, "resolved_spec.json")


class StorageError(RuntimeError):
    """The spec's storage cannot be used (unknown scheme, no credentials, nothing to resume)."""


@dataclass(frozen=True)
class SweepFolder:
    storage: str  # the spec's storage_uri: what Ray gets as storage_path
    name: str  # the experiment folder inside it (Ray's RunConfig.name)
    local: Path  # gansweep's own files on this machine (the folder itself when storage is local)
    remote: bool

    @property
    def uri(self) -> str:
        """The experiment as Ray names it (Tuner.restore / can_restore)."""
        return f"{self.storage.rstrip('/')}/{self.name}"

    def _fs(self) -> tuple[pafs.FileSystem, str]:
        return pafs.FileSystem.from_uri(self.uri)

    def push(self) -> None:
        """Copy gansweep's own files up to remote storage (a no-op for a local folder)."""
        if not self.remote:
            return
        fs, path = self._fs()
        fs.create_dir(path, recursive=True)
        for name in OWN_FILES:
            if (self.local / name).exists():
                with fs.open_output_stream(f"{path}/{name}") as out:
                    out.write((self.local / name).read_bytes())

    def pull(self) -> None:
        """Bring gansweep's own files down from remote storage (before a resume)."""
        if not self.remote:
            return
        fs, path = self._fs()
        self.local.mkdir(parents=True, exist_ok=True)
        for name in OWN_FILES:
            if fs.get_file_info(f"{path}/{name}").type == pafs.FileType.File:
                with fs.open_input_stream(f"{path}/{name}") as src:
                    (self.local / name).write_bytes(src.read())


def _filesystem(storage: str) -> tuple[pafs.FileSystem, str]:
    try:
        return pafs.FileSystem.from_uri(storage)
    except (pa.ArrowException, OSError, ValueError) as err:
        raise StorageError(f"storage {storage}: {err}") from None


def sweep_folder(storage: str, name: str, resume: bool) -> SweepFolder:
    """The sweep's folder: on resume the newest earlier one named `name` (or `name-<time>`); else a
    new one (a new run never reuses, so never overwrites, an old sweep's folder)."""
    fs, base = _filesystem(storage)
    remote = not isinstance(fs, pafs.LocalFileSystem)

    def folder(folder_name: str) -> SweepFolder:
        local = Path(base) / folder_name
        if remote:
            local = cache_root() / "sweeps" / stable_hash(f"{storage.rstrip('/')}/{folder_name}")
        return SweepFolder(storage, folder_name, local, remote)

    if resume:
        listing = fs.get_file_info(pafs.FileSelector(base, allow_not_found=True))
        states = fs.get_file_info([f"{info.path}/{SWEEP_STATE_FILE}" for info in listing
                                   if info.type == pafs.FileType.Directory
                                   and (info.base_name == name or info.base_name.startswith(name + "-"))])
        found = sorted((s for s in states if s.type == pafs.FileType.File), key=lambda s: s.mtime_ns or 0)
        if not found:
            raise StorageError(f"--resume: no earlier sweep named '{name}' under {storage}")
        chosen = folder(Path(found[-1].path).parent.name)
        chosen.pull()
        return chosen
    taken = fs.get_file_info(f"{base.rstrip('/')}/{name}").type != pafs.FileType.NotFound
    return folder(f"{name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}" if taken else name)


def run_config(spec: SweepSpec, name: str, storage_path: str, callbacks: Any) -> tune.RunConfig:
    """The RunConfig of each Tune experiment of a sweep (the sweep itself and its reseeds): the spec's
    checkpoint retention and retries, the sweep's callbacks (progress, MLflow writer), Tune quiet.

    A trial whose worker died (preemption, OOM killer, lost GPU) restarts from its last checkpoint;
    divergence is a final result, not an error, so it is not retried."""
    return tune.RunConfig(
        name=name,
        storage_path=storage_path,  # as the spec says: a folder or any pyarrow URI
        callbacks=[callbacks],
        checkpoint_config=tune.CheckpointConfig(num_to_keep=spec.checkpoint.num_to_keep),
        failure_config=tune.FailureConfig(max_failures=spec.resources.max_failures),
        verbose=0,
    )
