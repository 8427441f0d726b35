"""The sandbox's store: JSON documents by (kind, key), in memory or write-through to SQLite.

Every later area (patients, prescriptions, ...) adds a kind rather than a table, so the
schema never needs migrating. Identifiers come from one sequence shared by all kinds,
so a clinic id is never also a clinician id and a client that mixes them up is caught.
"""

from __future__ import annotations

import copy
import json
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

FIRST_GENERATED_ID = 10001

Doc = dict[str, Any]


class Store:
    def __init__(self, path: Path | None = None, first_id: int = FIRST_GENERATED_ID) -> None:
        self._docs: dict[str, dict[str, Doc]] = {}
        self._next_id = first_id
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            # The testing helper builds the app in one thread and serves it in another.
            self._db = sqlite3.connect(path, check_same_thread=False)
            # Each write commits at once; in WAL mode with synchronous=NORMAL a commit is an
            # append to the log, not an fsync of a rollback journal and the file. It survives
            # the sandbox being killed (not the machine losing power), which is what the
            # state file is for.
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(
                """
                CREATE TABLE IF NOT EXISTS documents (
                    kind TEXT NOT NULL, key TEXT NOT NULL, doc TEXT NOT NULL,
                    PRIMARY KEY (kind, key));
                CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                """
            )
            self._load()

    def _load(self) -> None:
        assert self._db is not None
        for kind, key, doc in self._db.execute("SELECT kind, key, doc FROM documents"):
            self._docs.setdefault(kind, {})[key] = json.loads(doc)
        row = self._db.execute("SELECT value FROM meta WHERE key = 'next_id'").fetchone()
        if row is not None:
            self._next_id = max(self._next_id, int(row[0]))

    def next_id(self) -> int:
        with self._lock:
            value = self._next_id
            self._next_id += 1
            if self._db is not None:
                self._db.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('next_id', ?)",
                    (str(self._next_id),),
                )
                self._db.commit()
            return value

    def get(self, kind: str, key: str | int) -> Doc | None:
        with self._lock:
            doc = self._docs.get(kind, {}).get(str(key))
            return copy.deepcopy(doc) if doc is not None else None

    def all(self, kind: str) -> list[Doc]:
        with self._lock:
            return [copy.deepcopy(doc) for doc in self._docs.get(kind, {}).values()]

    def put(self, kind: str, key: str | int, doc: Doc) -> None:
        with self._lock:
            self._docs.setdefault(kind, {})[str(key)] = copy.deepcopy(doc)
            if self._db is not None:
                self._db.execute(
                    "INSERT OR REPLACE INTO documents (kind, key, doc) VALUES (?, ?, ?)",
                    (kind, str(key), json.dumps(doc)),
                )
                self._db.commit()

    def delete(self, kind: str, key: str | int) -> None:
        with self._lock:
            self._docs.get(kind, {}).pop(str(key), None)
            if self._db is not None:
                self._db.execute(
                    "DELETE FROM documents WHERE kind = ? AND key = ?", (kind, str(key))
                )
                self._db.commit()

    def delete_where(self, keep: Callable[[str, Doc], bool]) -> None:
        """Delete every document for which ``keep(kind, doc)`` is false."""
        with self._lock:
            doomed = [
                (kind, key)
                for kind, docs in self._docs.items()
                for key, doc in docs.items()
                if not keep(kind, doc)
            ]
            for kind, key in doomed:
                self.delete(kind, key)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
