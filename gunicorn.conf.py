"""gunicorn's settings for the archive, in one place: the container image, docker-compose and the benchmarks run
`gunicorn archive.wsgi --config gunicorn.conf.py`. Options given on the command line override these."""

bind = "0.0.0.0:8000"
workers = 4
# Threaded workers: a sync worker is killed after --timeout even while it streams a long zip download; a gthread
# worker's heartbeat does not wait for its requests.
worker_class = "gthread"
threads = 8
accesslog = "-"
