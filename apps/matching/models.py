"""Tables of the matching app:
the order book (pure Python core) and the Celery matching pipeline.
"""
