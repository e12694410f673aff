"""`clean-labels review`: a person decides, the tool applies.

`ReviewServer(run)` serves the review page (cleanlab_lite.pages: a grid of images grouped by
(given -> suggested) pair, or a list of table rows; paged, filterable, with batch decisions) on
127.0.0.1 with the standard library's ThreadingHTTPServer. Every keep / relabel / drop is saved
at once to RUN/decisions.csv (written atomically), so reloading the page or restarting `review`
resumes where the reviewer stopped. With `sample=N` the page shows a seeded random sample of the
flags instead; their decisions are marked sampled and give the estimate of how many flags are
real errors (cleanlab_lite.precision). `export --decisions` and
`check --baseline` read the same file, which is also the format for decisions made elsewhere
(a spreadsheet): columns row, id (when the run has ids), given_label, decision
(keep | relabel | drop), label (the new label, for relabel), time.

Safety: the server binds 127.0.0.1 only; every request needs the random token the printed URL
carries and a Host header naming 127.0.0.1 or localhost (a DNS-rebinding page sends its own
host name); a request with an Origin (or Sec-Fetch-Site) from another site is refused, and a
decision must be sent as `application/json` (a type no cross-site form can send without a
preflight, which this server never grants); every connection has a socket timeout, and a client
that resets or stalls a connection costs one thread for at most SOCKET_TIMEOUT seconds and prints
nothing; images are served by row number from the run's rows (never a path from the request);
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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd

from cleanlab_lite.decisions import DECISION_VALUES as DECISIONS
from cleanlab_lite.decisions import match_decisions, read_decisions, write_decisions
from cleanlab_lite.errors import UserInputError
from cleanlab_lite.io import unwritable
from cleanlab_lite.run import Run

DEFAULT_TOP = 50         # rows shown when nothing is flagged
MAX_BODY = 1024 * 1024   # bytes: a decision is ~50, a batch of 10,000 about 500 KB
MAX_BATCH = 50_000       # decisions in one request
SOCKET_TIMEOUT = 10.0    # seconds a connection may stay silent before the server drops it


class ReviewLockedError(UserInputError):
    """Another `clean-labels review` holds the run folder's lock."""


# ----------------------------------------------------------------------------------------------
# the rows under review


def rows_to_review(ranking: pd.DataFrame, *, top: int | None = None, sample: int | None = None,
                   seed: int = 0) -> pd.DataFrame:
    """The ranking rows a review shows, in the order shown: a random sample of the flags
    (`sample`, see cleanlab_lite.precision.sample_flags), the `top` most suspect rows, or every
    flagged row (the first DEFAULT_TOP rows when none is)."""
    if sample is not None:
        from cleanlab_lite.precision import sample_flags

        rows = sample_flags(ranking, sample, seed)
        if not len(rows):
            raise UserInputError("no row is flagged, so there is nothing to sample; review the most "
                                 "suspect rows with --top N instead")
        return ranking.set_index("row", drop=False).loc[rows].reset_index(drop=True)
    if top is None:
        flagged = int(ranking["is_label_issue"].sum())
        top = flagged if flagged else DEFAULT_TOP
    return ranking.head(top)


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


RECORD = ("id", "given_label", "decision", "label", "time", "sampled")


@dataclass
class ReviewSession:
    """What the review page works on. `decide` validates and saves decisions."""
    run: Path
    top: int | None = None
    sample: int | None = None   # review a random sample of this many flags (marked sampled)
    seed: int = 0
    ranking: pd.DataFrame = field(init=False)
    classes: list[str] = field(init=False)
    items: list[dict[str, Any]] = field(init=False)
    decisions: dict[int, dict[str, str]] = field(init=False)

    def __post_init__(self):
        from cleanlab_lite.pages.items import class_strips, image_paths, review_items

        self.folder = Run(self.run)
        self.run = self.folder.path
        self.ranking = self.folder.read_ranking()
        self.classes = self.folder.class_names(self.ranking)
        shown = rows_to_review(self.ranking, top=self.top, sample=self.sample, seed=self.seed)
        self.items, self.kind = review_items(self.folder, self.ranking, self.classes, shown)
        self.sampled_rows = set(shown["row"].tolist()) if self.sample is not None else set()
        self.strips = (class_strips(self.folder, self.ranking, self.classes)
                       if self.kind == "image" else {})
        self.has_id = "id" in self.ranking.columns
        self.given = dict(zip(self.ranking["row"].tolist(), self.ranking["given_label"].astype(str)))
        self.ids = (dict(zip(self.ranking["row"].tolist(), self.ranking["id"].astype(str)))
                    if self.has_id else {})
        self.path = self.folder.decisions_path
        self.decisions = {}
        if self.path.is_file():
            m = match_decisions(read_decisions(self.path), self.ranking, self.classes, str(self.path))
            for rec in pd.concat([m.applied, m.stale]).to_dict("records"):
                self.decisions[int(rec["row"])] = {k: str(rec.get(k, "")) for k in RECORD}
        self._lock = threading.Lock()
        self._image_paths = image_paths(self.folder.read_config(required=False),
                                        self.folder.read_rows(), self.run)

    def current(self) -> dict[str, dict[str, str]]:
        """Decisions that still apply (the row's label is unchanged), keyed by row as text."""
        return {str(r): d for r, d in self.decisions.items()
                if self.given.get(r) == d.get("given_label")}

    def estimate_text(self) -> str | None:
        """The sampled estimate of the share of flags that are real errors, as lines of text
        (None when no decision is on a sampled row)."""
        from cleanlab_lite.precision import estimate

        sampled = [(r, d["decision"]) for r, d in self.decisions.items()
                   if d.get("sampled") == "true" and self.given.get(r) == d.get("given_label")]
        if not sampled and self.sample is None:
            return None
        est = estimate(self.ranking, pd.DataFrame(sampled, columns=["row", "decision"]))
        return "\n".join([est.line().capitalize(), *est.band_lines()])

    def payload(self) -> dict[str, Any]:
        return {"run_key": str(self.run.resolve()), "classes": self.classes, "items": self.items,
                "has_id": self.has_id, "kind": self.kind, "decisions": self.current(),
                "strips": {c: [{"row": r} for r in rows] for c, rows in self.strips.items()},
                "sample": self.sample is not None, "estimate": self.estimate_text()}

    def _change(self, body: Any) -> tuple[int, str, str]:
        """One {row, decision: keep|relabel|drop|clear, label} checked: (row, decision, label)."""
        if not isinstance(body, dict):
            raise RequestRefused(HTTPStatus.BAD_REQUEST, "each decision must be a JSON object")
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
        return row, decision, label

    def decide(self, body: Any) -> dict[str, dict[str, str]]:
        """Apply {row, decision, label} or {decisions: [...]} (all or none) and save;
        RequestRefused if any is bad."""
        batch = body.get("decisions") if isinstance(body, dict) and "decisions" in body else [body]
        if not isinstance(batch, list) or not 0 < len(batch) <= MAX_BATCH:
            raise RequestRefused(HTTPStatus.BAD_REQUEST,
                                 f"decisions must be a list of 1 to {MAX_BATCH} decisions")
        changes = [self._change(b) for b in batch]
        with self._lock:
            for row, decision, label in changes:
                if decision == "clear":
                    self.decisions.pop(row, None)
                    continue
                self.decisions[row] = {"id": self.ids.get(row, ""), "given_label": self.given[row],
                                       "decision": decision, "label": label, "time": _now(),
                                       "sampled": "true" if row in self.sampled_rows else ""}
            table = pd.DataFrame([{"row": r, **d} for r, d in self.decisions.items()],
                                 columns=["row", *RECORD])
            write_decisions(self.path, table, with_id=self.has_id)
            return self.current()

    def image_png(self, row_text: str) -> bytes:
        """The row's image re-encoded as PNG; the path comes from the run's rows, never the request."""
        from cleanlab_lite.pages.items import png_bytes

        try:
            row = int(row_text)
        except (TypeError, ValueError):
            raise RequestRefused(HTTPStatus.BAD_REQUEST, f"row {row_text!r} is not a row number") from None
        path = self._image_paths.get(row)
        if path is None:
            raise RequestRefused(HTTPStatus.NOT_FOUND, f"row {row} has no image in this run")
        try:
            return png_bytes(path)
        except (OSError, ValueError):
            raise RequestRefused(HTTPStatus.NOT_FOUND, f"the image of row {row} cannot be opened") from None


# ----------------------------------------------------------------------------------------------
# the HTTP server


class _Handler(BaseHTTPRequestHandler):
    server_version = "clean-labels-review"
    sys_version = ""
    timeout = SOCKET_TIMEOUT  # StreamRequestHandler sets it on the socket: no read waits forever
    review: ReviewServer   # set on the subclass each server makes

    def log_message(self, format, *args):
        pass

    def _send(self, status: HTTPStatus, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Content-Security-Policy", self.review.csp)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: HTTPStatus, obj: Any) -> None:
        self._send(status, json.dumps(obj).encode("utf-8"), "application/json; charset=utf-8")

    def _route(self, method: str) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        try:
            self.review.check_request(self.headers.get("Host"), (query.get("token") or [""])[0],
                                      self.headers.get("Origin"), self.headers.get("Sec-Fetch-Site"))
            if method == "GET" and url.path == "/":
                self._send(HTTPStatus.OK, self.review.page.encode("utf-8"), "text/html; charset=utf-8")
            elif method == "GET" and url.path == "/api/items":
                self._json(HTTPStatus.OK, self.review.session.payload())
            elif method == "GET" and url.path == "/image":
                png = self.review.session.image_png((query.get("row") or [""])[0])
                self._send(HTTPStatus.OK, png, "image/png")
            elif method == "POST" and url.path == "/api/decide":
                decided = self.review.session.decide(self._body())
                self._json(HTTPStatus.OK, {"decisions": decided,
                                           "estimate": self.review.session.estimate_text()})
            else:
                raise RequestRefused(HTTPStatus.NOT_FOUND, f"no such page: {method} {url.path}")
        except RequestRefused as e:
            self._json(e.status, {"error": str(e)})

    def _body(self) -> Any:
        if not json_content_type(self.headers.get("Content-Type")):
            raise RequestRefused(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send the decision as application/json")
        try:
            size = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            size = -1
        if not 0 < size <= MAX_BODY:
            self.close_connection = True   # an unread body must not be parsed as the next request
            raise RequestRefused(HTTPStatus.BAD_REQUEST, f"the body must be 1 to {MAX_BODY} bytes of JSON")
        try:
            raw = self.rfile.read(size)
        except TimeoutError:
            self.close_connection = True
            raise RequestRefused(HTTPStatus.REQUEST_TIMEOUT, "the body was shorter than its "
                                 "Content-Length") from None
        if len(raw) < size:
            self.close_connection = True
            raise RequestRefused(HTTPStatus.BAD_REQUEST, "the body was shorter than its Content-Length")
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise RequestRefused(HTTPStatus.BAD_REQUEST, "the body is not JSON (or nests too deep)") from None

    def do_GET(self):
        self._route("GET")

    def do_POST(self):
        self._route("POST")


def json_content_type(header: str | None) -> bool:
    """True for `application/json`, with at most a `charset=utf-8` parameter (any case)."""
    media, *params = [p.strip().lower() for p in (header or "").split(";")]
    return media == "application/json" and all(p.replace(" ", "") in ("charset=utf-8", "")
                                                for p in params)


_QUIET = (ConnectionError, TimeoutError)   # resets, broken pipes, stalls: the client's doing


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer whose request errors print no traceback: a client that resets or
    stalls is ignored, anything else is one line on stderr."""
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, _QUIET):
            return
        print(f"review server: request from {client_address[0]} failed: "
              f"{type(exc).__name__}: {exc}", file=sys.stderr)


class ReviewServer:
    """The review page for one run folder, on 127.0.0.1. Holds RUN/review.lock until `close()`.

        with ReviewServer("run1", port=0) as srv:   # port 0: a free port
            srv.start()                               # serve in a thread
            print(srv.url)
    """

    host = "127.0.0.1"

    def __init__(self, run: str | os.PathLike, *, port: int = 0, top: int | None = None,
                 sample: int | None = None, seed: int = 0, timeout: float = SOCKET_TIMEOUT,
                 page_size: int | None = None):
        self.run = Path(run)
        # validates before the lock is taken
        self.session = ReviewSession(self.run, top=top, sample=sample, seed=seed)
        self.lock = acquire_lock(self.run)
        try:
            from cleanlab_lite.pages import server_csp, server_page

            self.token = secrets.token_urlsafe(24)
            what = f" (random sample of {len(self.session.items)} flags)" if sample is not None else ""
            self.page = server_page(f"clean-labels review: {self.run.resolve().name}{what}",
                                    **({"page_size": page_size} if page_size else {}))
            self.csp = server_csp()
            handler = type("Handler", (_Handler,), {"review": self, "timeout": timeout})
            try:
                self.httpd = _Server((self.host, port), handler)
            except OSError as e:
                raise UserInputError(f"cannot serve on {self.host}:{port} ({e.strerror}); pass "
                                     "another --port, or --port 0 for a free one") from None
        except BaseException:
            self.lock.unlink(missing_ok=True)
            raise
        self.port = int(self.httpd.server_address[1])
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/?token={self.token}"

    def check_request(self, host_header: str | None, token: str, origin: str | None = None,
                      fetch_site: str | None = None) -> None:
        """Refuse (403) a foreign Host header (DNS rebinding), a request another site's page
        sent (its Origin or Sec-Fetch-Site says so), or a missing or wrong token."""
        allowed = {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}
        if (host_header or "").strip().lower() not in allowed:
            raise RequestRefused(HTTPStatus.FORBIDDEN, f"Host {host_header!r} is not this review's "
                                 f"address; open http://127.0.0.1:{self.port}/")
        if origin is not None and origin.strip().lower() not in {"http://" + a for a in allowed}:
            raise RequestRefused(HTTPStatus.FORBIDDEN, f"Origin {origin!r} is not this review's page; "
                                 f"open http://127.0.0.1:{self.port}/")
        if (fetch_site or "").strip().lower() in ("cross-site", "same-site"):
            raise RequestRefused(HTTPStatus.FORBIDDEN, "a request from another site's page is refused; "
                                 f"open http://127.0.0.1:{self.port}/")
        if not hmac.compare_digest(token.encode("utf-8"), self.token.encode("utf-8")):
            raise RequestRefused(HTTPStatus.FORBIDDEN, "missing or wrong token; open the URL "
                                 "`clean-labels review` printed")

    def start(self) -> ReviewServer:
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

    def __enter__(self) -> ReviewServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass
class ReviewResult:
    path: Path
    decided: int
    counts: dict[str, int]


def serve(run: str | os.PathLike, *, port: int = 0, top: int | None = None,
          sample: int | None = None, seed: int = 0, open_browser: bool = True,
          log: Callable[[str], None] = print) -> ReviewResult:
    """The `review` command: serve until Ctrl-C (or SIGTERM), then say what was decided."""
    with ReviewServer(run, port=port, top=top, sample=sample, seed=seed) as srv:
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
        estimate = s.estimate_text()
    if estimate:
        log(estimate.splitlines()[0])
    counts = {d: sum(1 for v in decided.values() if v["decision"] == d) for d in DECISIONS}
    return ReviewResult(path=s.path, decided=len(decided), counts=counts)
