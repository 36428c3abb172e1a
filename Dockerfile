# syntax=docker/dockerfile:1
# One image for every role of the stack: reference-server node (`crm-harness serve`), conformance
# runner (`crm-harness conform`) and Locust master/worker (`locust -f scenarios/...`).

# Build wheels in a throwaway stage so the runtime image carries no compiler or pip cache.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY harness ./harness
COPY reference_server ./reference_server
COPY scenarios ./scenarios
# The `cluster` extra: the bundled server and its Redis/PostgreSQL backends (the harness alone
# would be `.`).
RUN pip wheel --wheel-dir /wheels '.[cluster]'

FROM python:3.11-slim
LABEL org.opencontainers.image.title="crm-realtime-harness" \
      org.opencontainers.image.description="Conformance and load harness for real-time CRM Socket.IO servers, and its reference server" \
      org.opencontainers.image.licenses="MIT"
# `crm-harness serve` reads CRM_HOST/CRM_PORT/CRM_DATA_DIR when no option is given, and the
# health check reads CRM_PORT too: `docker run -e CRM_PORT=9000 ...` moves both.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CRM_HOST=0.0.0.0 \
    CRM_PORT=8000 \
    CRM_DATA_DIR=/data
COPY --from=build /wheels /wheels
RUN pip install --no-index --find-links /wheels 'crm-realtime-harness[cluster]' && rm -rf /wheels

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

# Python rather than curl: the slim image has no curl and the probe needs nothing else.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('CRM_PORT', '8000')}/healthz\", timeout=2)"]

ENTRYPOINT ["crm-harness"]
# Set JWT_SECRET (-e JWT_SECRET=...): the server's default is for local trials only.
CMD ["serve"]
