"""Settings of the daphne process the browser tests talk to: the test settings, with the
Redis namespace of the test process that started it (given in the environment), so the
published feed, the cache and the per-user connection counts are shared and cleaned up with
the test's own keys."""

import os

from config.settings.test import *  # noqa: F403
from config.settings.test import CACHES, CHANNEL_LAYERS, REDIS_URL

REDIS_KEY_PREFIX = os.environ["BOURSE_BROWSER_REDIS_PREFIX"]
if REDIS_URL:
    CACHES["default"]["KEY_PREFIX"] = REDIS_KEY_PREFIX
    CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = f"{REDIS_KEY_PREFIX}:asgi"
