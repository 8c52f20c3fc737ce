"""A pytest plugin for nbval runs: record a digest of every notebook's outputs.

Loaded with ``-p tests.nbval_outputs`` and enabled by ``KL_BOOK_OUTPUT_DIGESTS=DIR``: after an nbval
run, ``DIR/<notebook>.json`` lists, cell by cell, a SHA-256 of each output (stream text, text and
image data). ``tools/compare_seed_outputs.py`` then checks that every chapter's outputs change with
``KL_BOOK_SEED``: a chapter that ignores the seed prints and draws the same thing under every seed.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

_DIGESTS: dict[str, list] = {}


def _output_digest(out) -> str:
    h = hashlib.sha256()
    kind = out.get("output_type", "")
    h.update(kind.encode())
    if kind == "stream":
        h.update(str(out.get("text", "")).encode())
    elif kind in ("execute_result", "display_data"):
        data = out.get("data", {})
        for mime in sorted(data):
            if mime in ("text/plain", "text/html", "text/markdown", "text/latex", "image/png", "image/svg+xml"):
                value = data[mime]
                h.update(mime.encode())
                h.update(("".join(value) if isinstance(value, list) else str(value)).encode())
    elif kind == "error":
        h.update(str(out.get("ename", "")).encode())
    return h.hexdigest()[:16]


def pytest_runtest_teardown(item):
    if not os.environ.get("KL_BOOK_OUTPUT_DIGESTS"):
        return
    outs = getattr(item, "test_outputs", None)
    if outs is None or not hasattr(item, "cell_num"):
        return
    _DIGESTS.setdefault(str(item.fspath), []).append([item.cell_num, [_output_digest(o) for o in outs]])


def pytest_sessionfinish(session):
    target = os.environ.get("KL_BOOK_OUTPUT_DIGESTS")
    if not target or not _DIGESTS:
        return
    folder = Path(target)
    folder.mkdir(parents=True, exist_ok=True)
    for path, cells in _DIGESTS.items():
        record = {"notebook": Path(path).name, "seed": os.environ.get("KL_BOOK_SEED", "0"), "cells": cells}
        (folder / (Path(path).stem + ".json")).write_text(json.dumps(record, indent=1) + "\n")
