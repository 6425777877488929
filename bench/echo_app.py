"""The bare baseline: gunicorn + gevent + Flask that receives the multipart
photo, hashes it (SHA-1 and SHA-256) and sends it back. Whatever PhotoChanger
costs on top of this is platform overhead.
"""

from __future__ import annotations

import hashlib

from flask import Flask, Response, request

app = Flask(__name__)


@app.post("/echo")
def echo() -> Response:
    upload = request.files["fileToUpload"]
    data = upload.read()
    sha1 = hashlib.sha1(data, usedforsecurity=False).hexdigest()
    sha256 = hashlib.sha256(data).hexdigest()
    return Response(data, mimetype="image/jpeg", headers={"X-SHA1": sha1, "X-SHA256": sha256})


@app.get("/healthz")
def healthz() -> Response:
    return Response("ok", mimetype="text/plain")
