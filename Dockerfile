# Leadline's image: the wheel built from this checkout, installed on a slim Python, run as a
# user without privileges. The browser scripts are built already (their dist/ is checked in),
# so no node is needed here. docs/deploy.md says how to build and run it.

# Stage 1: build the wheel (the same command CI runs to check it: pip wheel . --no-deps).
FROM python:3.11.13-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY leadline ./leadline
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# Stage 2: install it, with its dependencies, and nothing else of the checkout.
FROM python:3.11.13-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LEADLINE_DATABASE_URL=sqlite:////var/lib/leadline/leadline.db \
    LEADLINE_LOG_FORMAT=json
COPY --from=build /wheels /wheels
RUN pip install /wheels/*.whl \
    && rm -rf /wheels \
    && groupadd --system --gid 10001 leadline \
    && useradd --system --uid 10001 --gid leadline --home-dir /var/lib/leadline \
       --shell /usr/sbin/nologin leadline \
    && mkdir -p /var/lib/leadline \
    && chown leadline:leadline /var/lib/leadline
WORKDIR /var/lib/leadline
# SQLite's file, when no LEADLINE_DATABASE_URL points at PostgreSQL.
VOLUME ["/var/lib/leadline"]
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]
CMD ["leadline", "serve", "--host", "0.0.0.0", "--port", "8000"]
