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
