"""Atomic file writes: every output goes to a temporary name in the same folder and is renamed
into place, so an interrupted command leaves the old file or the new one, never half of one."""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it to `path`, else delete it."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise unwritable(path, e) from None
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give outputs the usual mode
        try:
            os.replace(tmp, path)
        except OSError as e:
            raise unwritable(path, e) from None
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if isinstance(e, OSError) and e.filename in (None, str(tmp)):   # e.g. the disk is full
            raise unwritable(path, e) from None
        raise


def unwritable(path: Path, e: OSError):
    """The one-line OutputError (exit 2) for an output that cannot be written."""
    from cleanlab_lite.errors import OutputError

    return OutputError(f"cannot write {path} ({e.strerror or type(e).__name__}); choose a writable "
                       f"path or fix the permissions of {path.parent}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def write_npy(path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array)


def write_yaml(path, obj) -> None:
    import yaml

    write_text(path, yaml.safe_dump(obj, sort_keys=False))


def file_sha256(path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def check_input_file(path, what: str, exc: type[Exception] | None = None) -> Path:
    """`path` as a Path when it is a regular file; else `exc` (default UserInputError) naming
    `what` (e.g. 'manifest'). FIFOs, devices and sockets are refused before anything opens them,
    so a named pipe cannot hang a job."""
    import stat

    from cleanlab_lite.errors import UserInputError

    exc = exc or UserInputError
    p = Path(path)
    try:
        mode = os.stat(p).st_mode
    except FileNotFoundError:
        raise exc(f"{what} {p} not found; check the path") from None
    except OSError as e:
        raise exc(f"{what} {p} cannot be read ({e.strerror}); check the path and its "
                  "permissions") from None
    if stat.S_ISDIR(mode):
        raise exc(f"{what} {p} is a folder; pass a file")
    if not stat.S_ISREG(mode):
        raise exc(f"{what} {p} is not a regular file (a FIFO, device or socket); pass a "
                  "regular file")
    return p


def available_ram() -> int:
    """Bytes the kernel can hand out without swapping: MemAvailable (free memory plus page cache
    it can drop), not MemFree, which leaves the page cache out and is often near zero."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62


# ---- provenance ------------------------------------------------------------------------------
# A file's record is {"sha256", "bytes", "mtime_ns"}. A file matches a record when its size and
# mtime are unchanged (no hashing: every writer renames a new file into place, so a rewrite
# always changes them), or else when its sha256 is the recorded one (a copied run folder).
def file_record(path: Path, sha256: str | None = None) -> dict:
    """The provenance record of a file (its sha256 computed unless given)."""
    st = os.stat(path)
    return {"sha256": sha256 or file_sha256(path), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


def record_matches(path: Path, rec: Any) -> bool:
    """Whether the file at `path` still holds the content `rec` was made from."""
    if not isinstance(rec, dict) or not path.is_file():
        return False
    st = os.stat(path)
    if st.st_size != rec.get("bytes"):
        return False
    return st.st_mtime_ns == rec.get("mtime_ns") or file_sha256(path) == rec.get("sha256")


def int_column(df, col: str, where: str, error: type, fix: str):
    """df[col] as int64, or `error` naming the first cell that is not an integer."""
    import pandas as pd

    values = pd.to_numeric(df[col], errors="coerce")
    if values.isna().any():
        i = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise error(f"{where}: column {col} holds {df[col].iloc[i]!r} at line {i + 2}; {fix}")
    return values.astype(np.int64)
