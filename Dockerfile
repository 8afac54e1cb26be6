# Omni's production image: one image for every role of `./run serve` (web, worker realtime, worker bulk, beat);
# compose.yaml picks the role with `command:`. Not built on the development machine (no Docker engine there):
# tests/test_deploy_files.py checks this file against ./run and compose.yaml instead.
#
#   docker build -t omni .
#   docker run --env-file .env -p 8000:8000 omni            # web
#   docker run --env-file .env omni worker realtime         # any other role
#   docker run --env-file .env --entrypoint ./run omni migrate
#
# Python 3.11: the version the locks are compiled with (their environment markers are resolved for it).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# The builder installs the runtime lock into /app/.venv; only that venv goes on to the final image, so pip's cache
# and the build context's other files stay behind.
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY run requirements.txt ./
# requirements.txt only (./run install --prod): every file checked against the lock's hashes, wheels only, no test
# tools. It leaves the stamp that tells later `./run install` calls the venv is current.
RUN ./run install --prod

FROM ${PYTHON_IMAGE}
# No apt packages: Chinese on the Pillow-drawn coupon cards and posters comes from the noto-cjk-sans-otc wheel in the
# runtime lock; Chromium and fonts-noto-cjk are for the browser tests only.
RUN groupadd --system --gid 10001 omni \
    && useradd --system --uid 10001 --gid omni --home-dir /app --no-create-home --shell /usr/sbin/nologin omni
WORKDIR /app
# OMNI_INSTALL=runtime: any `./run install` inside the image means the runtime lock, never the dev one.
# OMNI_VAR_DIR: the one directory the app writes (collected static files, beat's schedule), owned by the app user;
# the code stays root's and read-only to it.
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    OMNI_INSTALL=runtime \
    OMNI_VAR_DIR=/app/var \
    OMNI_PORT=8000
COPY --from=builder /app/.venv /app/.venv
COPY . /app
RUN mkdir -p /app/var && chown omni:omni /app/var
USER omni
# Static files collected into the image (STATIC_ROOT, under OMNI_VAR_DIR), served by WhiteNoise; `./run serve web`
# collects again at start, which then finds nothing to copy. The key only lets the settings load; it is not kept.
# DEBUG off: the production storage, hashed and compressed names (the embedded default's DEBUG would copy them plain).
RUN DJANGO_SECRET_KEY=collectstatic-at-build-only DJANGO_DEBUG=false .venv/bin/python manage.py collectstatic --no-input -v 0 \
    && rm -rf /app/var/celery
EXPOSE 8000
# The web role's liveness (/healthz touches no dependency): any answer below 500 means the process serves; a 400
# (the probe's Host is not in DJANGO_ALLOWED_HOSTS) or a redirect to https still does, and http.client follows no
# redirect. compose.yaml turns the check off for the workers and beat, which serve no HTTP.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import http.client, os; c = http.client.HTTPConnection('127.0.0.1', int(os.environ.get('OMNI_PORT', '8000')), timeout=4); c.request('GET', '/healthz'); raise SystemExit(c.getresponse().status >= 500)"]
ENTRYPOINT ["./run", "serve"]
CMD ["web"]
