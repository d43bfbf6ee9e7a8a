"""Background work of the datalab: one task computes a run; housekeeping keeps runs from waiting forever."""

from celery import shared_task
from django.conf import settings

from datalab import execution, services


@shared_task(
    bind=True,
    name="datalab.execute_run",
    # A worker that dies mid-run leaves its message unacknowledged: RabbitMQ redelivers it to another worker, which
    # takes the run over once its heartbeat is stale.
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    soft_time_limit=settings.DATALAB_TIME_LIMIT_SECONDS,
    time_limit=settings.DATALAB_TIME_LIMIT_SECONDS + 60,
)
def execute_run(self, run_id: int) -> None:
    execution.execute(self, run_id)


@shared_task(name="datalab.housekeeping", ignore_result=True)
def housekeeping() -> None:
    services.housekeeping()
