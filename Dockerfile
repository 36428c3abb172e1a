# One image for every role of the stack: reference-server node (`crm-harness serve`), conformance
# runner (`crm-harness conform`) and Locust master/worker (`locust -f scenarios/...`).
#
# BASE_IMAGE: any Debian-like image with Python >= 3.11 and its venv module. The default comes from
# the registry; where none is reachable, scripts/local-docker.sh builds crm-local/base from
# Debian's packages and deploy/local/docker-compose.local.yml builds on it (see docs/scale.md).
# Legacy builder and BuildKit alike: no `syntax` line (BuildKit would fetch that frontend image).
ARG BASE_IMAGE=python:3.11-slim
# The pinned dependency set the image installs (lock/<LOCK>.txt): `server`, the bundled server
# with its cluster backends (Redis, PostgreSQL); `harness` for an image that only checks servers.
# The locks are for CPython 3.11 on Linux x86_64: a BASE_IMAGE with another Python may not
# find wheels for every pin.
ARG LOCK=server

# Dependencies in a venv of their own stage, from the lock alone (exact versions, hashes
# checked; nothing resolved): this stage, the slow one, and the runtime layer that copies it are
# rebuilt only when the lock changes, never on a code or README change.
FROM ${BASE_IMAGE} AS deps
ARG LOCK
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/venv
WORKDIR /src
COPY lock/${LOCK}.txt ./lock.txt
RUN /opt/venv/bin/pip install --quiet --require-hashes -r lock.txt

# The project's own wheel (a small layer for the runtime stage to install).
FROM deps AS build
COPY pyproject.toml README.md ./
COPY harness ./harness
COPY reference_server ./reference_server
COPY scenarios ./scenarios
RUN /opt/venv/bin/pip wheel --quiet --no-deps --wheel-dir /wheels .

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="crm-realtime-harness" \
      org.opencontainers.image.description="Conformance and load harness for real-time CRM Socket.IO servers, and its reference server" \
      org.opencontainers.image.licenses="MIT"
# `crm-harness serve` reads CRM_HOST/CRM_PORT/CRM_DATA_DIR when no option is given, and the
# health check reads CRM_PORT too: `docker run -e CRM_PORT=9000 ...` moves both.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CRM_HOST=0.0.0.0 \
    CRM_PORT=8000 \
    CRM_DATA_DIR=/data
# Same base in every stage, so the venv's interpreter links resolve here too.
COPY --from=deps /opt/venv /opt/venv
COPY --from=build /wheels /wheels
RUN pip install --quiet --no-deps --no-index /wheels/*.whl && rm -rf /wheels

# Non-root: nothing here needs privilege. The server writes only /data (the embedded SQLite
# store when no --database-url is given); load runs write /runs (a volume shared by the Locust
# master and workers in docker-compose.yml) and reports/.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin crm \
    && mkdir -p /data /runs /app/reports \
    && chown -R crm:crm /data /runs /app/reports
WORKDIR /app
# Locust loads scenarios by file path; the Locust entry scripts; the SLO example for gates.
COPY --chown=crm:crm scenarios ./scenarios
COPY --chown=crm:crm deploy/locust ./deploy/locust
COPY --chown=crm:crm slo.example.toml ./
USER crm
VOLUME ["/data", "/runs"]
EXPOSE 8000

# Python rather than curl: the slim image has no curl and the probe needs nothing else. Only the
# server listens here: docker-compose.yml gives the Locust services checks of their own.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('CRM_PORT', '8000')}/healthz\", timeout=2)"]

ENTRYPOINT ["crm-harness"]
# Set JWT_SECRET (-e JWT_SECRET=...): the server's default is for local trials only.
CMD ["serve"]
