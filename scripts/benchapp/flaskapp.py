"""The Flask workload of scripts/bench: one JSON endpoint."""

from flask import Flask, jsonify

app = Flask(__name__)

ITEMS = [{"id": i, "name": f"item {i}", "price": i * 1.25, "tags": ["a", "b"]} for i in range(10)]


@app.get("/flask/json")
def items():
    return jsonify(count=len(ITEMS), items=ITEMS)
