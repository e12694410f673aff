"""`clean-labels review`: a person decides, the tool applies.

`ReviewServer(run)` serves the review page (cleanlab_lite.review_page) on 127.0.0.1 with the
standard library's ThreadingHTTPServer. The page lists the suspects in ranking order; every
keep / relabel / drop is saved at once to RUN/decisions.csv (written atomically), so reloading
the page or restarting `review` resumes where the reviewer stopped. `export --decisions` and
`check --baseline` read the same file, which is also the format for decisions made elsewhere
(a spreadsheet): columns row, id (when the run has ids), given_label, decision
(keep | relabel | drop), label (the new label, for relabel), time.

Safety: the server binds 127.0.0.1 only; every request needs the random token the printed URL
carries and a Host header naming 127.0.0.1 or localhost (a DNS-rebinding page sends its own
host name); images are served by row number from the run's rows (never a path from the request);
decisions are accepted only for rows of the run and classes of the run; a lock file
(RUN/review.lock) makes a second `review` of the same folder refuse.
"""
from __future__ import annotations

import hmac
import json
import os
import secrets
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd

from cleanlab_lite.errors import DecisionsError, UserInputError
from cleanlab_lite.io import unwritable
from cleanlab_lite.run import DECISION_VALUES as DECISIONS
from cleanlab_lite.run import Run, read_decisions, write_decisions
TOP_CLASSES = 9          # classes offered per row (keys 1-9), most probable first
DEFAULT_TOP = 50         # rows shown when nothing is flagged
MAX_BODY = 64 * 1024     # bytes: a decision request is a few dozen


class ReviewLockedError(UserInputError):
    """Another `clean-labels review` holds the run folder's lock."""


# ----------------------------------------------------------------------------------------------
# decisions matched to a run (decisions.csv itself is read and written by cleanlab_lite.run)


@dataclass
class MatchedDecisions:
    """Decisions matched to a run's current rows."""
    applied: pd.DataFrame   # row, given_label, decision, label (a relabel to the given label is a keep)
    stale: pd.DataFrame     # row, id?, given_label (the decision's), current_label: not applied


def match_decisions(decisions: pd.DataFrame, ranking: pd.DataFrame, classes: list[str],
                    source: str) -> MatchedDecisions:
    """Match decisions (read_decisions) to ranking.csv rows. A row the run lacks or a label that
    is not a class is an error naming the line; a decision whose given_label differs from the
    row's label now (the label changed since the decision) is stale and not applied."""
    ranked = ranking.set_index("row", drop=False)
    if "row" in decisions.columns:
        unknown = ~decisions["row"].isin(ranked.index)
        what = "row"
    else:
        if "id" not in ranking.columns:
            raise DecisionsError(f"decisions file {source} names rows by id but this run has no id "
                                 "column; add a row column (from ranking.csv)")
        unknown = ~decisions["id"].isin(ranking["id"])
        what = "id"
    if unknown.any():
        r = decisions[unknown].iloc[0]
        raise DecisionsError(f"decisions file {source} line {r['line']}: {what} {r[what]} is not a "
                             f"row of this run ({len(ranking)} ranked rows); fix or delete that line")
    if what == "id":
        decisions = decisions.assign(row=decisions["id"].map(
            pd.Series(ranking["row"].to_numpy(), index=ranking["id"])).astype(np.int64))
    known = set(classes)
    bad = (decisions["decision"] == "relabel") & ~decisions["label"].isin(known)
    if bad.any():
        r = decisions[bad].iloc[0]
        raise DecisionsError(f"decisions file {source} line {r['line']}: label {r['label']!r} is not "
                             f"a class of this run; use one of {_class_list(classes)}")
    current = ranked.loc[decisions["row"].to_numpy(), "given_label"].astype(str).to_numpy()
    moved = decisions["given_label"].to_numpy() != current
    if "id" in decisions.columns and "id" in ranking.columns and what == "row":
        ids = ranked.loc[decisions["row"].to_numpy(), "id"].astype(str).to_numpy()
        moved |= (decisions["id"].to_numpy() != "") & (decisions["id"].to_numpy() != ids)
    stale = decisions[moved].assign(current_label=current[moved])
    applied = decisions[~moved].copy()
    same = (applied["decision"] == "relabel") & (applied["label"] == applied["given_label"])
    applied.loc[same, ["decision", "label"]] = ["keep", ""]
    return MatchedDecisions(applied=applied.reset_index(drop=True), stale=stale.reset_index(drop=True))


def _class_list(classes: list[str], limit: int = 12) -> str:
    shown = ", ".join(repr(c) for c in classes[:limit])
    return shown + (f", ... ({len(classes)} classes)" if len(classes) > limit else "")


def stale_note(stale: pd.DataFrame, source: str, limit: int = 10) -> str:
    """One line listing decisions not applied because the row's label changed."""
    parts = [f"row {r['row']} (decided on {r['given_label']!r}, now {r['current_label']!r})"
             for r in stale.head(limit).to_dict("records")]
    more = f" and {len(stale) - limit} more" if len(stale) > limit else ""
    return (f"{len(stale)} decision(s) in {source} not applied because the row's label changed "
            f"since: {'; '.join(parts)}{more}")


# ----------------------------------------------------------------------------------------------
# the rows under review


def review_items(run: Run, ranking: pd.DataFrame, classes: list[str], *, top: int | None,
                 images: dict[int, str] | None = None) -> tuple[list[dict[str, Any]], str]:
    """The rows to review, most suspect first, as JSON-ready dicts, and the run's kind of data
    ('image' or 'values'). Default rows: the flagged ones (the first DEFAULT_TOP if none is).

    Each item: row, id, given_label, suggested_label, confidence, label_quality, flagged, top
    ([class, p] for the model's most probable classes), and image (True, or the `images` entry)
    or values ([[column, text]]).
    """
    from cleanlab_lite.report import MAX_VALUE_COLS, _format_value, value_columns

    if top is None:
        flagged = int(ranking["is_label_issue"].sum())
        top = flagged if flagged else DEFAULT_TOP
    shown = ranking.head(top)
    rows = shown["row"].to_numpy(np.int64)
    probs = None
    if run.pred_probs_path.is_file():
        pp = run.read_pred_probs(mmap=True)
        if pp.ndim == 2 and pp.shape[1] == len(classes) and (rows < len(pp)).all():
            probs = np.asarray(pp[rows], dtype=np.float64)
    config = run.read_config(required=False)
    table = run.read_rows()
    path_col = _image_column(config, table)
    vcols = value_columns(table, config)[:MAX_VALUE_COLS] if table is not None and path_col is None else []
    # one array (a row's values upcast to a common type, as a row of the frame is)
    values = table.set_index("row").reindex(rows)[vcols].to_numpy() if vcols else None
    top = np.argsort(-probs, axis=1, kind="stable")[:, :TOP_CLASSES] if probs is not None else None
    items = []
    for i, rec in enumerate(shown.to_dict("records")):
        conf = rec.get("suggested_confidence")
        item = {"row": int(rec["row"]), "given_label": str(rec["given_label"]),
                "suggested_label": str(rec.get("suggested_label", rec["given_label"])),
                "confidence": float(conf) if isinstance(conf, (int, float)) and np.isfinite(conf) else None,
                "label_quality": float(rec["label_quality"]), "flagged": bool(rec["is_label_issue"])}
        if "id" in rec:
            item["id"] = str(rec["id"])
        if top is not None:
            item["top"] = [[classes[j], round(float(probs[i, j]), 4)] for j in top[i]]
        else:
            item["top"] = [[item["suggested_label"], item["confidence"] or 0.0]]
        if path_col is not None:
            item["image"] = True if images is None else images.get(item["row"], "")
        elif vcols:
            item["values"] = [[c, _format_value(v)] for c, v in zip(vcols, values[i])]
        items.append(item)
    return items, "image" if path_col is not None else "values"


def _image_column(config: dict[str, Any], table: pd.DataFrame | None) -> str | None:
    col = (config.get("data") or {}).get("path_col") or "path"
    if table is None or col not in table.columns or config.get("kind") not in (None, "image"):
        return None
    return col


# ----------------------------------------------------------------------------------------------
# the lock


def acquire_lock(run: Path) -> Path:
    """Create RUN/review.lock (holding this process id) or refuse when a live review holds it."""
    lock = Run(run).review_lock_path
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _lock_holder(lock)
            if holder is not None:
                raise ReviewLockedError(
                    f"run folder {run} is already being reviewed (process {holder}, lock file "
                    f"{lock}); use that review's page or stop it first, and delete {lock} only "
                    "if no review is running") from None
            lock.unlink(missing_ok=True)  # left by a review that died: take it over
            continue
        except OSError as e:         # a read-only or missing folder: the user's to fix
            raise unwritable(lock, e) from None
        with os.fdopen(fd, "w") as f:
            json.dump({"pid": os.getpid(), "host": socket.gethostname()}, f)
        return lock
    raise ReviewLockedError(f"cannot create the lock file {lock}; check the folder's permissions")


def _lock_holder(lock: Path) -> int | None:
    """The pid of the live review holding `lock`, or None when the lock is stale."""
    try:
        info = json.loads(lock.read_text(encoding="utf-8"))
        pid = int(info["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if info.get("host") != socket.gethostname():
        return pid  # another machine's review (shared disk): cannot tell, so respect it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return pid


# ----------------------------------------------------------------------------------------------
# the session: rows, classes, decisions


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class RequestRefused(Exception):
    """A request the server answers with an error status and a one-line message."""

    def __init__(self, status: HTTPStatus, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class ReviewSession:
    """What the review page works on. `decide` validates and saves one decision."""
    run: Path
    top: int | None = None
    ranking: pd.DataFrame = field(init=False)
    classes: list[str] = field(init=False)
    items: list[dict[str, Any]] = field(init=False)
    decisions: dict[int, dict[str, str]] = field(init=False)

    def __post_init__(self):
        self.folder = Run(self.run)
        self.run = self.folder.path
        self.ranking = self.folder.read_ranking()
        self.classes = self.folder.class_names(self.ranking)
        self.items, self.kind = review_items(self.folder, self.ranking, self.classes, top=self.top)
        self.has_id = "id" in self.ranking.columns
        self.given = dict(zip(self.ranking["row"].tolist(), self.ranking["given_label"].astype(str)))
        self.ids = (dict(zip(self.ranking["row"].tolist(), self.ranking["id"].astype(str)))
                    if self.has_id else {})
        self.path = self.folder.decisions_path
        self.decisions = {}
        if self.path.is_file():
            m = match_decisions(read_decisions(self.path), self.ranking, self.classes, str(self.path))
            for rec in pd.concat([m.applied, m.stale]).to_dict("records"):
                self.decisions[int(rec["row"])] = {k: str(rec.get(k, "")) for k in
                                                   ("id", "given_label", "decision", "label", "time")}
        self._lock = threading.Lock()
        self._image_paths = self._images()

    def _images(self) -> dict[int, Path]:
        config = self.folder.read_config(required=False)
        table = self.folder.read_rows()
        col = _image_column(config, table)
        if col is None:
            return {}
        root = Path((config.get("data") or {}).get("data_root") or self.run)
        out = {}
        for row, p in zip(table["row"].tolist(), table[col].tolist()):
            if isinstance(p, str) and p:
                out[int(row)] = Path(p) if Path(p).is_absolute() else root / p
        return out

    def current(self) -> dict[str, dict[str, str]]:
        """Decisions that still apply (the row's label is unchanged), keyed by row as text."""
        return {str(r): d for r, d in self.decisions.items()
                if self.given.get(r) == d.get("given_label")}

    def payload(self) -> dict[str, Any]:
        return {"run_key": str(self.run.resolve()), "classes": self.classes, "items": self.items,
                "has_id": self.has_id, "kind": self.kind, "decisions": self.current()}

    def decide(self, body: Any) -> dict[str, dict[str, str]]:
        """Apply {row, decision: keep|relabel|drop|clear, label} and save; RequestRefused if bad."""
        if not isinstance(body, dict):
            raise RequestRefused(HTTPStatus.BAD_REQUEST, "the body must be a JSON object")
        row, decision, label = body.get("row"), body.get("decision"), body.get("label") or ""
        if isinstance(row, bool) or not isinstance(row, int) or row not in self.given:
            raise RequestRefused(HTTPStatus.NOT_FOUND, f"row {row!r} is not a row of this run")
        if decision not in DECISIONS + ("clear",):
            raise RequestRefused(HTTPStatus.BAD_REQUEST,
                                 f"decision {decision!r} is not keep, relabel, drop or clear")
        if decision == "relabel":
            if not isinstance(label, str) or label not in self.classes:
                raise RequestRefused(HTTPStatus.BAD_REQUEST, f"label {label!r} is not a class of this run")
            if label == self.given[row]:
                decision, label = "keep", ""
        else:
            label = ""
        with self._lock:
            if decision == "clear":
                self.decisions.pop(row, None)
            else:
                rec = {"given_label": self.given[row], "decision": decision, "label": label,
                       "time": _now()}
                if self.has_id:
                    rec["id"] = self.ids[row]
                self.decisions[row] = rec
            table = pd.DataFrame([{"row": r, **d} for r, d in self.decisions.items()],
                                 columns=["row", "id", "given_label", "decision", "label", "time"])
            write_decisions(self.path, table, with_id=self.has_id)
            return self.current()

    def image_png(self, row_text: str) -> bytes:
        """The row's image re-encoded as PNG; the path comes from the run's rows, never the request."""
        from cleanlab_lite.report import _to_rgb

        try:
            row = int(row_text)
        except (TypeError, ValueError):
            raise RequestRefused(HTTPStatus.BAD_REQUEST, f"row {row_text!r} is not a row number") from None
        path = self._image_paths.get(row)
        if path is None:
            raise RequestRefused(HTTPStatus.NOT_FOUND, f"row {row} has no image in this run")
        import io

        from PIL import Image

        try:
            with Image.open(path) as img:
                img.load()
                rgb = _to_rgb(img)
        except (OSError, ValueError):
            raise RequestRefused(HTTPStatus.NOT_FOUND, f"the image of row {row} cannot be opened") from None
        buf = io.BytesIO()
        rgb.save(buf, format="PNG")
        return buf.getvalue()


# ----------------------------------------------------------------------------------------------
# the HTTP server


class _Handler(BaseHTTPRequestHandler):
    server_version = "clean-labels-review"
    sys_version = ""
    review: "ReviewServer"   # set on the subclass each server makes

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

    def _send(self, status: HTTPStatus, body: bytes, ctype: str) -> None:
        from cleanlab_lite.review_page import SERVER_CSP

        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Content-Security-Policy", SERVER_CSP)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: HTTPStatus, obj: Any) -> None:
        self._send(status, json.dumps(obj).encode("utf-8"), "application/json; charset=utf-8")

    def _route(self, method: str) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        try:
            self.review.check_request(self.headers.get("Host"), (query.get("token") or [""])[0])
            if method == "GET" and url.path == "/":
                self._send(HTTPStatus.OK, self.review.page.encode("utf-8"), "text/html; charset=utf-8")
            elif method == "GET" and url.path == "/api/items":
                self._json(HTTPStatus.OK, self.review.session.payload())
            elif method == "GET" and url.path == "/image":
                png = self.review.session.image_png((query.get("row") or [""])[0])
                self._send(HTTPStatus.OK, png, "image/png")
            elif method == "POST" and url.path == "/api/decide":
                self._json(HTTPStatus.OK, {"decisions": self.review.session.decide(self._body())})
            else:
                raise RequestRefused(HTTPStatus.NOT_FOUND, f"no such page: {method} {url.path}")
        except RequestRefused as e:
            self._json(e.status, {"error": str(e)})

    def _body(self) -> Any:
        if "json" not in (self.headers.get("Content-Type") or ""):
            raise RequestRefused(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send the decision as application/json")
        try:
            size = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            size = -1
        if not 0 < size <= MAX_BODY:
            raise RequestRefused(HTTPStatus.BAD_REQUEST, "the body must be 1 to 65536 bytes of JSON")
        try:
            return json.loads(self.rfile.read(size).decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise RequestRefused(HTTPStatus.BAD_REQUEST, "the body is not JSON") from None

    def do_GET(self):  # noqa: N802 - http.server's name
        self._route("GET")

    def do_POST(self):  # noqa: N802
        self._route("POST")


class ReviewServer:
    """The review page for one run folder, on 127.0.0.1. Holds RUN/review.lock until `close()`.

        with ReviewServer("run1", port=0) as srv:   # port 0: a free port
            srv.start()                               # serve in a thread
            print(srv.url)
    """

    host = "127.0.0.1"

    def __init__(self, run: str | os.PathLike, *, port: int = 0, top: int | None = None):
        self.run = Path(run)
        self.session = ReviewSession(self.run, top=top)  # validates before the lock is taken
        self.lock = acquire_lock(self.run)
        try:
            from cleanlab_lite.review_page import server_page

            self.token = secrets.token_urlsafe(24)
            self.page = server_page(f"clean-labels review: {self.run.resolve().name}")
            handler = type("Handler", (_Handler,), {"review": self})
            try:
                self.httpd = ThreadingHTTPServer((self.host, port), handler)
            except OSError as e:
                raise UserInputError(f"cannot serve on {self.host}:{port} ({e.strerror}); pass "
                                     "another --port, or --port 0 for a free one") from None
            self.httpd.daemon_threads = True
        except BaseException:
            self.lock.unlink(missing_ok=True)
            raise
        self.port = int(self.httpd.server_address[1])
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/?token={self.token}"

    def check_request(self, host_header: str | None, token: str) -> None:
        """Refuse (403) a foreign Host header (DNS rebinding) or a missing or wrong token."""
        allowed = {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}
        if (host_header or "").strip().lower() not in allowed:
            raise RequestRefused(HTTPStatus.FORBIDDEN, f"Host {host_header!r} is not this review's "
                                 f"address; open http://127.0.0.1:{self.port}/")
        if not hmac.compare_digest(token.encode("utf-8"), self.token.encode("utf-8")):
            raise RequestRefused(HTTPStatus.FORBIDDEN, "missing or wrong token; open the URL "
                                 "`clean-labels review` printed")

    def start(self) -> "ReviewServer":
        """Serve in a daemon thread (tests, notebooks); `close()` stops it."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_until_stopped(self) -> None:
        """Serve in this thread until Ctrl-C or SIGTERM (`kill`), both ending it cleanly."""
        import signal

        def stop(signum, frame):
            raise KeyboardInterrupt

        main = threading.current_thread() is threading.main_thread()
        old = signal.signal(signal.SIGTERM, stop) if main else None
        try:
            self.httpd.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            if old is not None:
                signal.signal(signal.SIGTERM, old)

    def close(self) -> None:
        """Stop serving, close the socket and release the lock (safe to call twice)."""
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join()
            self._thread = None
        self.httpd.server_close()
        if self.lock.is_file() and _lock_holder(self.lock) == os.getpid():
            self.lock.unlink(missing_ok=True)

    def __enter__(self) -> "ReviewServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass
class ReviewResult:
    path: Path
    decided: int
    counts: dict[str, int]


def serve(run: str | os.PathLike, *, port: int = 0, top: int | None = None,
          open_browser: bool = True, log: Callable[[str], None] = print) -> ReviewResult:
    """The `review` command: serve until Ctrl-C (or SIGTERM), then say what was decided."""
    with ReviewServer(run, port=port, top=top) as srv:
        s = srv.session
        log(f"Reviewing {len(s.items)} rows of {srv.run} ({len(s.current())} already decided); "
            f"decisions are saved to {s.path} as they are made.")
        log(f"Open {srv.url}")
        log("Press Ctrl-C to stop.")
        if open_browser:
            import webbrowser

            webbrowser.open(srv.url)
        srv.serve_until_stopped()
        decided = s.current()
    counts = {d: sum(1 for v in decided.values() if v["decision"] == d) for d in DECISIONS}
    return ReviewResult(path=s.path, decided=len(decided), counts=counts)
