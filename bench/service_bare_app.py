"""A bare Flask JSON endpoint: the reference that bench/service.py holds Axon's predict throughput to.

It parses a JSON body and answers a small JSON document, as any JSON API must; nothing else.
Serve it as bench/service.py does: ``gunicorn --chdir bench service_bare_app:app``.
"""

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/predict")
def predict():
    request.get_json()
    return jsonify(predictions=[0])
