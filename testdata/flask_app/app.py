"""A real Flask app for gowsgi's end-to-end tests.

Start with testdata/ on sys.path:  gowsgi run flask_app.app:app
Routes and expected answers: testdata/README.md.
"""

import hashlib
import itertools
import threading

from flask import (Flask, jsonify, make_response, redirect,
                   render_template, request, session, stream_with_context,
                   url_for)

app = Flask(__name__)
app.config.update(
    SECRET_KEY="gowsgi-testdata-not-a-secret",  # fixed: tests decode nothing
    MAX_CONTENT_LENGTH=64 * 1024 * 1024,        # a 10 MB upload must pass
)

# In-memory items; per process (use one worker when a test writes then reads).
_items_lock = threading.Lock()
_items = {
    1: {"id": 1, "name": "apple", "price": 3},
    2: {"id": 2, "name": "banana", "price": 2},
}
_next_id = itertools.count(3)


@app.get("/api/items")
def list_items():
    with _items_lock:
        items = [_items[k] for k in sorted(_items)]
    return jsonify(items)


@app.post("/api/items")
def create_item():
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return jsonify(error="expected a JSON object"), 400
    with _items_lock:
        item = dict(data)
        item["id"] = next(_next_id)
        _items[item["id"]] = item
    return jsonify(item), 201


@app.get("/api/items/<int:item_id>")
def get_item(item_id):
    with _items_lock:
        item = _items.get(item_id)
    if item is None:
        return jsonify(error="not found", id=item_id), 404
    return jsonify(item)


@app.get("/form")
def form_get():
    return render_template("form.html", title="Contact")


@app.post("/form")
def form_post():
    # Each field once: its value; a repeated field: the list of values.
    fields = {k: (v[0] if len(v) == 1 else v)
              for k, v in request.form.to_dict(flat=False).items()}
    return jsonify(fields)


@app.post("/upload")
def upload():
    files = {}
    for field, storage in request.files.items(multi=True):
        digest = hashlib.sha256()
        size = 0
        while True:
            block = storage.stream.read(64 * 1024)
            if not block:
                break
            digest.update(block)
            size += len(block)
        files[storage.filename] = {
            "field": field,
            "size": size,
            "sha256": digest.hexdigest(),
            "content_type": storage.content_type,
        }
    return jsonify(files=files, form=request.form.to_dict())


@app.get("/stream")
def stream():
    @stream_with_context
    def generate():
        # request is still usable here thanks to stream_with_context
        method = request.method
        for i in range(10):
            yield "line %d %s\n" % (i, method)
    return app.response_class(generate(), mimetype="text/plain")


@app.get("/session/set")
def session_set():
    session["v"] = request.args.get("v", "")
    return jsonify(v=session["v"])


@app.get("/session/get")
def session_get():
    return jsonify(v=session.get("v"))


@app.get("/cookie")
def cookie():
    resp = make_response("cookie set\n")
    resp.mimetype = "text/plain"
    resp.set_cookie("plain", "cookie-value", path="/")
    return resp


@app.get("/redirect")
def do_redirect():
    return redirect(url_for("list_items"), code=302)


@app.get("/raise")
def do_raise():
    raise RuntimeError("flask_app /raise: deliberate error")
