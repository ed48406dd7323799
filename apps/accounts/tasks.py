from celery import shared_task

from apps.accounts import services


@shared_task(name="apps.accounts.tasks.api_tokens_purge_expired")
def api_tokens_purge_expired() -> int:
    return services.api_tokens_purge_expired()
