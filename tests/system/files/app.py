"""The Flask app the system tests serve; its name is its directory's (/srv/NAME/app.py)."""

import os

from flask import Flask

NAME = os.path.basename(os.path.dirname(os.path.abspath(__file__)))
app = Flask(__name__)


@app.route("/")
def hello():
    return f"Hello from {NAME}\n"


@app.route("/seq/<int:number>")
def seq(number):
    # Numbered requests: the body proves which request was answered, the vassal's request
    # log line ("GET /seq/N") proves it was logged.
    return f"{NAME} {number}\n"
