"""Decode images once, in parallel, into a uint8 memory-mapped cache (N, C, S, S).

The cache lives in RUN/cache/ and is keyed by the image files (path, size, mtime), the image
size and the channel count, so a rerun on the same manifest and size reuses it.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cleanlab_lite.errors import ImageError
from cleanlab_lite.io import atomic_path, available_ram, write_json

MAX_DEFAULT_SIZE = 224  # pixels: default size cap when images differ in size


@dataclass
class DecodedImages:
    X: np.ndarray            # uint8 (N_kept, C, S, S); a read-only memmap when nothing was skipped
    kept: np.ndarray         # int64 positions (into the given paths) that decoded
    bad: list[tuple[int, str, str]]  # (position, path, reason) of the rows that failed
    size: int
    channels: int
    cache_path: Path | None
    reused: bool


def _open(source):
    """PIL image of a file path, or of encoded bytes (an image stored in the manifest)."""
    from PIL import Image

    return Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)


def _probe(path):
    """(width, height, mode) from the header only, or an error string. Only regular files are
    opened: a FIFO or device would block or never end. `path` may be the image's bytes."""
    try:
        if not isinstance(path, bytes) and not stat.S_ISREG(os.stat(path).st_mode):
            return "is not a regular file (a folder, FIFO or device)"
        with _open(path) as im:
            return im.size[0], im.size[1], im.mode
    except FileNotFoundError:
        return "not found"
    except Exception as e:  # noqa: BLE001 - any decoder failure means a corrupt file
        return f"cannot be decoded ({type(e).__name__})"


def _probe_chunk(paths: list[str]):
    return [_probe(p) for p in paths]


def _decode_chunk(args):
    """Decode paths[i] into rows start+i of the memmap; return [(position, reason)] failures."""
    cache_file, shape, start, paths, size, channels = args
    from PIL import Image

    out = np.memmap(cache_file, dtype=np.uint8, mode="r+", shape=shape)
    mode = "L" if channels == 1 else "RGB"
    bad = []
    for i, p in enumerate(paths):
        try:
            with _open(p) as im:
                im = im.convert(mode)
                if im.size != (size, size):
                    im = im.resize((size, size), Image.BILINEAR)
                a = np.asarray(im, dtype=np.uint8)
        except FileNotFoundError:
            bad.append((start + i, "not found"))
            continue
        except Exception as e:  # noqa: BLE001
            bad.append((start + i, f"cannot be decoded ({type(e).__name__})"))
            continue
        out[start + i] = a[None] if channels == 1 else a.transpose(2, 0, 1)
    out.flush()
    return bad


def _chunks(n: int, workers: int) -> list[tuple[int, int]]:
    step = max(64, -(-n // (workers * 8)))
    return [(s, min(n, s + step)) for s in range(0, n, step)]


def _map(fn, jobs, workers):
    if workers <= 1 or len(jobs) <= 1:
        return [fn(j) for j in jobs]
    with ProcessPoolExecutor(max_workers=workers) as ex:
        return list(ex.map(fn, jobs))


def _cache_key(paths: list[str], image_size: int | None) -> str:
    """Key of a decode: every file's path, size and mtime (missing files too) and the requested
    size, so it is known before any image is opened."""
    h = hashlib.sha256(f"v2|{image_size}|{len(paths)}".encode())
    for p in paths:
        if isinstance(p, bytes):
            h.update(hashlib.sha256(p).digest())
            continue
        try:
            st = os.stat(p)
            h.update(f"{p}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{p}|missing\n".encode())
    return h.hexdigest()[:16]


def cache_files(cache_dir: str | Path) -> list[tuple[Path, tuple[int, ...]]]:
    """(data file, shape (N, C, S, S)) of every complete decode in `cache_dir`."""
    out = []
    for meta in sorted(Path(cache_dir).glob("images-*.json")):
        data = meta.with_suffix(".u8")
        try:
            shape = tuple(int(v) for v in json.loads(meta.read_text())["shape"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if len(shape) == 4 and data.is_file() and data.stat().st_size == int(np.prod(shape)):
            out.append((data, shape))
    return out


def shown(source) -> str:
    """A path as it is, an image stored as bytes as '<image bytes>'."""
    return f"<{len(source)} image bytes>" if isinstance(source, bytes) else str(source)


def _bad_error(bad: list[tuple[int, str, str]], rows: np.ndarray, path_col: str) -> ImageError:
    i, p, reason = bad[0]
    more = f" ({len(bad) - 1} more)" if len(bad) > 1 else ""
    return ImageError(f"row {rows[i]}: image {p} (column '{path_col}') {reason}{more}; "
                      "fix the file or pass --skip-bad to leave such rows out")


def _choose_size(good: list[tuple[int, int, str]], image_size: int | None) -> tuple[int, int]:
    """(channels, square side) from the readable images' headers."""
    channels = 1 if all(m in ("1", "L", "I", "I;16", "F", "LA") for _, _, m in good) else 3
    if image_size is None:
        sizes = {(w, h) for w, h, _ in good}
        if len(sizes) == 1:
            (w, h), = sizes
            image_size = min(max(w, h), MAX_DEFAULT_SIZE)
        else:
            vals, counts = np.unique([max(w, h) for w, h, _ in good], return_counts=True)
            image_size = int(min(vals[np.argmax(counts)], MAX_DEFAULT_SIZE))
    if image_size < 4:
        raise ImageError(f"--image-size {image_size} is too small; use at least 4 pixels")
    return channels, int(image_size)


def _check_memory(n: int, channels: int, size: int, workers: int) -> None:
    """Refuse, before decoding, a size whose pixels cannot fit: training holds the (N, C, S, S)
    uint8 array in memory, and each decode worker holds about 8 bytes per pixel of one image
    (RGB copy, resize buffer, float intermediates)."""
    need = n * channels * size * size + workers * 8 * channels * size * size
    have = available_ram()
    if need > have:
        fits = int((have / (n * channels + workers * 8 * channels)) ** 0.5)
        raise ImageError(f"--image-size {size} needs about {need / 2**30:.1f} GiB of memory for "
                         f"{n} images of {channels} channel(s), more than the "
                         f"{have / 2**30:.1f} GiB available; use --image-size {min(fits, 224)} "
                         "or less")


def _decode_all(paths, target: Path, spans, workers, path_col, rows, image_size, skip_bad):
    """Probe headers, then decode into `target` (written atomically). Returns (shape, bad)."""
    # Pass 1: headers only (cheap) -> sizes, modes and the files that are missing or corrupt.
    probed = [r for chunk in _map(_probe_chunk, [paths[a:b] for a, b in spans], workers) for r in chunk]
    bad = [(i, shown(paths[i]), r) for i, r in enumerate(probed) if isinstance(r, str)]
    if bad and not skip_bad:
        raise _bad_error(bad, rows, path_col)
    good = [r for r in probed if not isinstance(r, str)]
    if not good:
        raise ImageError("no image in the manifest could be read; check --path-col and --data-root")
    channels, size = _choose_size(good, image_size)
    _check_memory(len(paths), channels, size, workers)
    shape = (len(paths), channels, size, size)
    # Pass 2: pixels. Files whose header read but whose pixels did not decode join `bad`.
    with atomic_path(target) as tmp:
        np.memmap(tmp, dtype=np.uint8, mode="w+", shape=shape).flush()
        jobs = [(str(tmp), shape, a, paths[a:b], size, channels) for a, b in spans]
        late = [b for chunk in _map(_decode_chunk, jobs, workers) for b in chunk]
    probed_bad = {i for i, _, _ in bad}
    bad += [(i, shown(paths[i]), reason) for i, reason in late if i not in probed_bad]
    bad.sort()
    return shape, bad


def decode_images(paths: list[str], *, rows: np.ndarray | None = None, path_col: str = "path",
                  image_size: int | None = None, skip_bad: bool = False,
                  cache_dir: str | Path | None = None, workers: int = 0) -> DecodedImages:
    """Decode every image once into (N, C, S, S) uint8.

    paths:  absolute file paths, one per manifest row (or the encoded image's bytes).
    rows:   the manifest row numbers of `paths` (for error messages); default 0..N-1.
    A missing or corrupt image raises ImageError naming the row and path, unless skip_bad, in
    which case those rows are left out and reported in `bad`. With `cache_dir`, a decode of the
    same files at the same requested size is reused without opening any image.
    """
    n = len(paths)
    rows = np.arange(n) if rows is None else np.asarray(rows)
    workers = workers or os.cpu_count() or 1
    spans = _chunks(n, workers)
    with tempfile.TemporaryDirectory() as scratch:
        reused = False
        if cache_dir is not None:
            cache_dir = Path(cache_dir)
            key = _cache_key(paths, image_size)
            cache_path = cache_dir / f"images-{key}.u8"
            meta_path = cache_dir / f"images-{key}.json"
            if cache_path.exists() and meta_path.exists():
                meta = json.loads(meta_path.read_text())
                shape = tuple(meta["shape"])
                if cache_path.stat().st_size == int(np.prod(shape)):
                    reused = True
                    bad = [tuple(b) for b in meta["bad"]]
        else:
            cache_path = Path(scratch) / "images.u8"
        if not reused:
            shape, bad = _decode_all(paths, cache_path, spans, workers, path_col, rows,
                                     image_size, skip_bad)
            if cache_dir is not None:
                write_json(meta_path, {"shape": list(shape), "bad": bad})
        if bad and not skip_bad:
            raise _bad_error(bad, rows, path_col)
        X = np.memmap(cache_path, dtype=np.uint8, mode="r", shape=shape)
        bad_idx = np.array([i for i, _, _ in bad], dtype=np.int64)
        kept = np.setdiff1d(np.arange(n), bad_idx)
        if len(bad_idx) or cache_dir is None:   # a copy in memory (the scratch file goes away)
            X = np.ascontiguousarray(X[kept])
        return DecodedImages(X=X, kept=kept, bad=bad, size=shape[2], channels=shape[1],
                             cache_path=cache_path if cache_dir is not None else None,
                             reused=reused)
