"""A load-generating client for benchmarks, free of Django so client processes start bare."""

import http.client
import time


def post_all(port: int, posts: list[tuple[str, bytes]]) -> list[tuple[int, float]]:
    """POST each (path, body) on a fresh connection, as WeCom's deliveries come; (status, ms) each."""
    results = []
    for url, body in posts:
        before = time.perf_counter()
        client = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        client.request("POST", url, body=body, headers={"Content-Type": "text/xml"})
        status = client.getresponse().status
        client.close()
        results.append((status, (time.perf_counter() - before) * 1000))
    return results


def get_all(port: int, gets: list[tuple[str, str]]) -> list[tuple[str, int, float]]:
    """GET each (path, session cookie) on a fresh connection; (path, status, ms) each."""
    results = []
    for path, session in gets:
        before = time.perf_counter()
        client = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        client.request("GET", path, headers={"Accept": "application/json", "Cookie": f"sessionid={session}"})
        response = client.getresponse()
        response.read()
        client.close()
        results.append((path, response.status, (time.perf_counter() - before) * 1000))
    return results
