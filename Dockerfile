# The bot as a container: slim Python, a non-root user, the database on a volume, a health check.
# The base image is pinned by digest (the multi-platform index of python:3.11-slim-bookworm), so a rebuild
# gets exactly the image that was tested. To move to a newer one, look the digest up with
# `docker buildx imagetools inspect python:3.11-slim-bookworm` and replace it here.
FROM python:3.11-slim-bookworm@sha256:b18992999dbe963a45a8a4da40ac2b1975be1a776d939d098c647482bcad5cba

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DATABASE_PATH=/data/bot.sqlite3 \
    HTTP_HOST=0.0.0.0 \
    HTTP_PORT=8080

# The sqlite3 command-line tool, for operators inspecting the database (`docker compose exec bot sqlite3
# /data/bot.sqlite3`); nothing else, and no apt lists left behind in the image.
RUN apt-get update \
    && apt-get install -y --no-install-recommends sqlite3 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY cogs ./cogs
COPY storage ./storage
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 10001 kling \
    && mkdir -p /data \
    && chown kling:kling /data

USER kling
VOLUME ["/data"]
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=40s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('HTTP_PORT', '8080'), timeout=4)"

CMD ["kling-bot"]
