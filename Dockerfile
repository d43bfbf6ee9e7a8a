# syntax=docker/dockerfile:1
# The archive's container image: gunicorn serving archive.wsgi; the same image runs the Celery worker and beat.
# Two stages: the first builds a wheel for every pinned requirement (with a compiler, for anything that ships no
# wheel); the second installs those wheels on a slim base with only the shared libraries GeoDjango loads at run time.

FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY requirements.txt .
RUN pip wheel --wheel-dir /wheels -r requirements.txt


FROM python:3.11-slim-bookworm AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
# GDAL, GEOS and PROJ as shared libraries only (Django finds them through ldconfig); no command-line tools, no headers.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgdal32 libgeos-c1v5 libproj25 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# The wheels are mounted for this step only, so that no layer of the image keeps them.
COPY requirements.txt .
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels -r requirements.txt

COPY . .
# Hashed, compressed static files for whitenoise. Loading the settings and the apps here also proves that GDAL and
# GEOS load. The key is a placeholder that exists only during this step.
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput -v 0

# The code and the static files stay root's and read-only; the processes run as an unprivileged user, who writes to
# /tmp (the datalab's scratch directory, beat's schedule) and to its home (astropy's configuration and cache).
RUN useradd --system --uid 10001 --create-home --home-dir /home/archive --shell /usr/sbin/nologin archive
USER archive
EXPOSE 8000
# gunicorn's settings (gthread workers, threads, bind, access log) are in gunicorn.conf.py, which the benchmarks read too.
CMD ["gunicorn", "archive.wsgi", "--config", "gunicorn.conf.py"]
