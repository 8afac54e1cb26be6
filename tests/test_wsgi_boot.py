"""The WSGI application boots as a server boots it: in a fresh interpreter, middleware before any view. The test run
itself imports DRF's views long before the first request, so an import cycle that only this order meets (the
middleware's module importing DRF's views, which load that module's parser) would pass every other test."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

BOOT = """
import io, json, wsgiref.util
from omni.wsgi import application
environ = {"PATH_INFO": "/api/v1/no-such-thing/", "REQUEST_METHOD": "GET", "wsgi.input": io.BytesIO()}
wsgiref.util.setup_testing_defaults(environ)
answer = {}
def start_response(status, headers, exc_info=None):
    answer["status"] = status
body = b"".join(application(environ, start_response))
print(json.dumps({"status": answer["status"], "body": json.loads(body)}))
"""


def test_the_wsgi_application_answers_its_first_request_in_a_fresh_interpreter():
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    env["DJANGO_SETTINGS_MODULE"] = "omni.settings"
    result = subprocess.run(
        [sys.executable, "-c", BOOT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["status"].startswith("404")
    assert answer["body"]["error"]["code"] == "not_found"
