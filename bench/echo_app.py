"""The baselines PhotoChanger is measured against, on gunicorn + gevent + Flask.

``POST /echo`` is the bare baseline of the issue: it receives the multipart
photo, hashes it (SHA-1 and SHA-256) and sends it back. Whatever PhotoChanger
costs on top of this is platform overhead.

``POST /relay`` is the store-and-forward floor: the least any server must do
to keep the product's promises for one photo, with none of the platform
around it. It hashes the photo like the echo, keeps it on disk ("never lose a
photo"), shrinks it into Gemini's input box with PhotoChanger's own
``downscale`` (JPEG draft decoding; a photo within the box goes as it is),
sends it to the Gemini-wire provider mock at ``BENCH_MOCK_URL`` the way
PhotoChanger does (base64 spliced into the JSON, ``pybase64`` and ``orjson``),
keeps the answer's image on disk (results live 72 h) and returns it from
memory. No database, no checks, no limits, no logs, no metrics, no
deadline: the gap between it and PhotoChanger is what the platform adds, and
the gap between it and the echo is what the work itself costs.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import uuid

import orjson
import pybase64
import requests
from flask import Flask, Response, request

from photochanger.media.images import downscale

app = Flask(__name__)


@app.post("/echo")
def echo() -> Response:
    data, hashes = _received()
    return Response(data, mimetype="image/jpeg", headers=hashes)


@app.post("/relay")
def relay() -> Response:
    data, hashes = _received()
    root, name = os.environ["BENCH_RELAY_DIR"], uuid.uuid4().hex
    _keep(os.path.join(root, "inputs", f"{name}.jpg"), data)
    photo, mime = downscale(data, "image/jpeg", 2048, 1024)  # Gemini's box for a 1K answer
    body = b"".join(
        [
            b'{"contents":[{"role":"user","parts":[{"text":',
            json.dumps("Сделай фон пляжем").encode(),
            b'},{"inlineData":{"mimeType":',
            json.dumps(mime).encode(),
            b',"data":"',
            pybase64.b64encode(photo),
            b'"}}]}]}',
        ]
    )
    del data, photo
    url = os.environ["BENCH_MOCK_URL"]
    answer = _session().post(
        f"{url}/v1beta/models/gemini-2.5-flash-image:generateContent",
        data=body,
        headers={"Content-Type": "application/json", "x-goog-api-key": "bench"},
        timeout=60,
    )
    answer.raise_for_status()
    part = orjson.loads(answer.content)["candidates"][0]["content"]["parts"][0]["inlineData"]
    image = pybase64.b64decode(part["data"])
    _keep(os.path.join(root, "results", f"{name}.png"), image)
    return Response(image, mimetype=part["mimeType"], headers=hashes)


@app.get("/healthz")
def healthz() -> Response:
    return Response("ok", mimetype="text/plain")


def _received() -> tuple[bytes, dict[str, str]]:
    """The uploaded photo and its hashes, as both baselines take it."""
    data = request.files["fileToUpload"].read()
    sha1 = hashlib.sha1(data, usedforsecurity=False).hexdigest()
    return data, {"X-SHA1": sha1, "X-SHA256": hashlib.sha256(data).hexdigest()}


@functools.cache
def _session() -> requests.Session:
    """One keep-alive session to the provider mock per worker, as PhotoChanger keeps one."""
    return requests.Session()


def _keep(path: str, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
