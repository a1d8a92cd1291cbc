import hashlib
import os
import pickle
import subprocess

import requests
import yaml
from flask import Markup, request, send_file
from werkzeug.utils import secure_filename


def run(name):
    # ruleid: python.security.subprocess-shell-true
    subprocess.run(f"ls {name}", shell=True)
    # ok: python.security.subprocess-shell-true
    subprocess.run(["ls", name])
    # ruleid: python.security.os-system
    os.system("rm -rf " + name)


def load(data, text):
    # ruleid: python.security.eval
    value = eval(text)
    # ok: python.security.eval
    value = int(text)
    # ruleid: python.security.exec
    exec(text)
    # ruleid: python.security.pickle-load
    obj = pickle.loads(data)
    # ruleid: python.security.yaml-unsafe-load
    conf = yaml.load(text)
    # ok: python.security.yaml-unsafe-load
    conf = yaml.safe_load(text)
    # ok: python.security.yaml-unsafe-load
    conf = yaml.load(text, Loader=yaml.SafeLoader)
    return value, obj, conf


def query(cur, user_id):
    # ruleid: python.security.sql-string-query
    cur.execute(f"SELECT * FROM users WHERE id = {user_id}")
    # ruleid: python.security.sql-string-query
    cur.execute("SELECT * FROM users WHERE id = %s" % user_id)
    # ok: python.security.sql-string-query
    cur.execute("SELECT * FROM users WHERE id = %s", (user_id,))


def download():
    name = request.args.get("name")
    # ruleid: python.security.path-traversal-request
    with open(name) as handle:
        handle.read()
    safe = secure_filename(request.args.get("name"))
    # ok: python.security.path-traversal-request
    return send_file(safe)


def proxy():
    url = request.args.get("url")
    # ruleid: python.security.ssrf-request-url
    requests.get(url)
    # ok: python.security.ssrf-request-url
    requests.get("https://example.com/status")


def digest(data):
    # ruleid: python.security.weak-hash
    hashlib.md5(data)
    # ok: python.security.weak-hash
    hashlib.sha256(data)
    # ok: python.security.weak-hash
    hashlib.md5(data, usedforsecurity=False)


def page(comment):
    # ruleid: python.security.markup-from-variable
    html = Markup(comment)
    # ok: python.security.markup-from-variable
    html = Markup("<b>hello</b>")
    return html


def fetch(url):
    # ruleid: python.security.tls-verify-disabled
    requests.get(url, verify=False)
    # ok: python.security.tls-verify-disabled
    requests.get(url, timeout=5)
