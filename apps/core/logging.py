import logging

from apps.core import context


class ContextFilter(logging.Filter):
    """Adds the correlation id of the current request or task to every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = context.correlation_id() or "-"
        return True
