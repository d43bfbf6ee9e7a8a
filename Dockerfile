# The archive's container image: gunicorn serving archive.wsgi; the same image runs the Celery worker and beat.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends gdal-bin libgdal32 libgeos-c1v5 libproj25 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput -v 0

RUN useradd --system --home /app archive
USER archive
EXPOSE 8000
# Threaded workers: a sync worker is killed after --timeout even while it streams a long zip download; a gthread
# worker's heartbeat does not wait for its requests.
CMD ["gunicorn", "archive.wsgi", "--bind", "0.0.0.0:8000", "--workers", "4", "--worker-class", "gthread", \
     "--threads", "8", "--access-logfile", "-"]
