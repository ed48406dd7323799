"""Settings shared by every environment. Everything that varies is read from the environment.

Environment variables (see docs/runbook.md for the full list):
    DATABASE_URL        postgres://user:pass@host:port/name (required)
    REDIS_URL           redis://host:port/db; when set, Celery, the cache and the channel
                        layer use Redis; when empty, tasks run in process and the cache and
                        channel layer live in memory (the single-machine mode of `make run`).
    DJANGO_SECRET_KEY   required in production
"""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import environ
from celery.schedules import crontab

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")

SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
SECRET_KEY_FALLBACKS = env.list("DJANGO_SECRET_KEY_FALLBACKS", default=[])
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=[])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "simple_history",
    "django_htmx",
    "apps.core",
    "apps.accounts",
    "apps.kyc",
    "apps.instruments",
    "apps.ledger",
    "apps.orders",
    "apps.matching",
    "apps.positions",
    "apps.settlement",
    "apps.marketdata",
    "apps.surveillance",
    "apps.reporting",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "apps.core.middleware.RequestContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "apps.core.middleware.AuditActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/bourse")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, Celery broker, channel layer -----------------------------------------------
REDIS_URL = env("REDIS_URL", default="")
REDIS_KEY_PREFIX = env("REDIS_KEY_PREFIX", default="bourse")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": REDIS_KEY_PREFIX,
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": f"{REDIS_KEY_PREFIX}:asgi"},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Auth -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
LOGIN_URL = "accounts:sign_in"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:sign_in"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_RESET_TIMEOUT = 60 * 60  # one hour
SESSION_COOKIE_AGE = 60 * 60 * 8
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # HTMX reads it to send X-CSRFToken

# API tokens: lifetime and how often last-use is written back.
API_TOKEN_TTL = timedelta(days=env.int("API_TOKEN_TTL_DAYS", default=30))
API_TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)

OTP_TOTP_ISSUER = "Bourse"
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
LANGUAGES = [("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and uploaded files --------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Client documents (KYC) live outside any publicly served path and are streamed by views that
# check permissions.
PRIVATE_MEDIA_ROOT = Path(env("PRIVATE_MEDIA_ROOT", default=str(BASE_DIR / "var" / "private")))
DATA_UPLOAD_MAX_MEMORY_SIZE = 12 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# --- E-mail ---------------------------------------------------------------------------------
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Bourse <no-reply@bourse.local>")
PORTAL_BASE_URL = env("PORTAL_BASE_URL", default="http://127.0.0.1:8000")

# --- REST framework -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: its WWW-Authenticate header makes unauthenticated calls answer 401.
        "apps.accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "apps.core.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.core.api.exception_handler.envelope_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("THROTTLE_ANON", default="120/min"),
        "user": env("THROTTLE_USER", default="1200/min"),
        "login": env("THROTTLE_LOGIN", default="10/min"),
        "login_email": env("THROTTLE_LOGIN_EMAIL", default="5/min"),
        "register": env("THROTTLE_REGISTER", default="20/hour"),
        "password_reset": env("THROTTLE_PASSWORD_RESET", default="5/hour"),
        "webhook": env("THROTTLE_WEBHOOK", default="6000/min"),
    },
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
    "COERCE_DECIMAL_TO_STRING": True,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Bourse API",
    "DESCRIPTION": "Client and back-office API of the Bourse brokerage platform.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI served from our own static files: the docs work without internet access.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Celery ---------------------------------------------------------------------------------
MATCHING_SHARDS = env.int("MATCHING_SHARDS", default=2)
CELERY_QUEUES_NON_MATCHING = ["default", "notifications", "settlement", "surveillance", "reporting"]

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ROUTES = {
    "apps.settlement.tasks.*": {"queue": "settlement"},
    "apps.surveillance.tasks.*": {"queue": "surveillance"},
    "apps.reporting.tasks.*": {"queue": "reporting"},
    "apps.*.tasks.notify_*": {"queue": "notifications"},
    "apps.marketdata.tasks.notify_*": {"queue": "notifications"},
}

# Periodic jobs. Under `make run` without Redis, `manage.py run_scheduler` runs the same table
# in process, so scheduled work happens in every mode.
CELERY_BEAT_SCHEDULE = {
    "core-outbox-sweep": {
        "task": "apps.core.tasks.outbox_sweep",
        "schedule": timedelta(seconds=30),
    },
    "core-idempotency-purge": {
        "task": "apps.core.tasks.idempotency_purge",
        "schedule": crontab(hour=3, minute=10),
    },
    "accounts-token-purge": {
        "task": "apps.accounts.tasks.api_tokens_purge_expired",
        "schedule": crontab(hour=3, minute=20),
    },
    "instruments-halts-resume-due": {
        "task": "apps.instruments.tasks.halts_resume_due",
        "schedule": timedelta(seconds=30),
    },
    "marketdata-ticks-purge": {
        "task": "apps.marketdata.tasks.ticks_purge",
        "schedule": crontab(hour=3, minute=40),
    },
}

# --- Logging --------------------------------------------------------------------------------
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "apps.core.logging.ContextFilter"}},
    "formatters": {
        "default": {
            "format": "%(asctime)s %(levelname)s [%(correlation_id)s] %(name)s: %(message)s",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["context"],
            "formatter": "default",
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
    },
}

# --- Business settings ----------------------------------------------------------------------
# Currencies the firm holds for clients, with their minor units.
CURRENCIES = {"USD": 2, "EUR": 2, "GBP": 2, "CHF": 2, "JPY": 0}
BASE_CURRENCY = "USD"
# Idempotency-Key records are kept at least this long (API.md promises 31 days).
IDEMPOTENCY_KEY_TTL = timedelta(days=35)
# An idempotent request that has been "in progress" this long is taken to have died.
IDEMPOTENCY_STALE_AFTER = timedelta(seconds=60)
# Outbox rows older than this are re-sent by the sweeper.
OUTBOX_RESEND_AFTER = timedelta(seconds=20)
DEMO_PASSWORD = env("BOURSE_DEMO_PASSWORD", default="bourse-demo-2026")
CSRF_FAILURE_VIEW = "apps.core.views.csrf_failure"

# --- Instruments ----------------------------------------------------------------------------
# Choice sets whose field names other apps use too ("status", "kind") get their own schema
# names; once two "status" sets exist, every one of them needs a name, trading accounts' too.
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update(
    {
        "AccountStatusEnum": "apps.accounts.choices.AccountStatus",
        "InstrumentStatusEnum": "apps.instruments.choices.InstrumentStatus",
        "HaltKindEnum": "apps.instruments.choices.HaltKind",
        "ClosureKindEnum": "apps.instruments.choices.ClosureKind",
        "MarketStateEnum": "apps.instruments.choices.MarketState",
    }
)

# --- KYC (apps.kyc) -------------------------------------------------------------------------
# Keys encrypting tax ids at rest (Fernet, comma-separated, newest first). Production refuses
# to start without them; development and tests derive one from SECRET_KEY.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[]) or [
    k for k in [env("FIELD_ENCRYPTION_KEY", default="")] if k
]
KYC_MINIMUM_AGE = env.int("KYC_MINIMUM_AGE", default=18)
KYC_DOCUMENT_MAX_BYTES = env.int("KYC_DOCUMENT_MAX_BYTES", default=10 * 1024 * 1024)
# Approve clean, complete tier-1 applications without a person looking at them.
KYC_AUTO_APPROVE = env.bool("KYC_AUTO_APPROVE", default=False)
# Name-match score (0-100) from which a list entry is a possible match.
KYC_SCREENING_THRESHOLD = env.int("KYC_SCREENING_THRESHOLD", default=85)
# ISO codes of high-risk countries; empty means the list shipped in apps/kyc/data.
KYC_HIGH_RISK_COUNTRIES = env.list("KYC_HIGH_RISK_COUNTRIES", default=[])
KYC_PEP_LIST_FILE = env(
    "KYC_PEP_LIST_FILE", default=str(BASE_DIR / "apps" / "kyc" / "data" / "pep_sample.csv")
)
KYC_SANCTIONS_SAMPLE_FILE = BASE_DIR / "apps" / "kyc" / "data" / "sdn_sample.csv"
# Daily limits per tier in the base currency; an empty value means no limit.
KYC_TIER_LIMITS = {
    tier: {
        kind: env(f"KYC_TIER{tier}_DAILY_{kind.upper()}_LIMIT", default=default) or None
        for kind in ("trading", "withdrawal")
    }
    for tier, default in ((1, "1000"), (2, "50000"), (3, ""))
}
# Periodic re-review: high-risk clients yearly, others every three years.
KYC_REVIEW_INTERVAL_DAYS = env.int("KYC_REVIEW_INTERVAL_DAYS", default=3 * 365)
KYC_HIGH_RISK_REVIEW_INTERVAL_DAYS = env.int("KYC_HIGH_RISK_REVIEW_INTERVAL_DAYS", default=365)
# Days an approved client keeps their tier's limits once a review falls due.
KYC_REVIEW_GRACE_DAYS = env.int("KYC_REVIEW_GRACE_DAYS", default=30)
KYC_ACCREDITATION_VALIDITY_DAYS = env.int("KYC_ACCREDITATION_VALIDITY_DAYS", default=365)
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update(
    {
        "KycStatusEnum": "apps.kyc.choices.KycStatus",
        "KycDocumentKindEnum": "apps.kyc.choices.DocumentKind",
        "KycTierEnum": "apps.kyc.choices.Tier",
        "KycRiskLevelEnum": "apps.kyc.choices.RiskRating",
        "KycWealthRangeEnum": "apps.kyc.choices.WealthRange",
        "AccreditationStatusEnum": "apps.kyc.choices.AccreditationStatus",
    }
)
CELERY_BEAT_SCHEDULE["kyc-reviews-due"] = {
    "task": "apps.kyc.tasks.kyc_reviews_mark_due",
    "schedule": crontab(hour=2, minute=30),
}

# --- Ledger and funding ---------------------------------------------------------------------
# Bank webhook: X-Bank-Signature is the hex HMAC-SHA256 of the raw body with this secret. While
# rotating, the previous secret stays valid in BANK_WEBHOOK_SECRET_FALLBACKS. Empty: every
# webhook call is refused.
BANK_WEBHOOK_SECRET = env("BANK_WEBHOOK_SECRET", default="")
BANK_WEBHOOK_SECRET_FALLBACKS = env.list("BANK_WEBHOOK_SECRET_FALLBACKS", default=[])
# The bank behind payouts and returns (apps.ledger.bank.BankAdapter).
BANK_ADAPTER = env("BANK_ADAPTER", default="apps.ledger.bank.SimulatedBank")
BANK_SIMULATED_DELAY = timedelta(seconds=env.int("BANK_SIMULATED_DELAY_SECONDS", default=15))
BANK_SIMULATED_FAILURE_RATE = env.float("BANK_SIMULATED_FAILURE_RATE", default=0.0)
# Where clients send deposits (shown with their reference on the funding page).
BANK_DEPOSIT_ACCOUNT = {
    "bank_name": env("BANK_DEPOSIT_BANK_NAME", default="Bourse Settlement Bank"),
    "beneficiary": env("BANK_DEPOSIT_BENEFICIARY", default="Bourse Securities Ltd - client money"),
    "iban": env("BANK_DEPOSIT_IBAN", default="GB33BUKB20201555555555"),
    "bic": env("BANK_DEPOSIT_BIC", default="BUKBGB22"),
}
# Withdrawal limits per account currency ("*": any other), as (per request, per day) in that
# currency; an account's own per_withdrawal_limit / daily_withdrawal_limit override them.
WITHDRAWAL_DEFAULT_LIMITS = {
    "*": (
        env("WITHDRAWAL_LIMIT_PER_REQUEST", default="50000"),
        env("WITHDRAWAL_LIMIT_DAILY", default="100000"),
    ),
    "JPY": ("7500000", "15000000"),
}
# Withdrawals above this amount need two different staff approvals (four-eyes).
WITHDRAWAL_FOUR_EYES_THRESHOLDS = {
    "*": env("WITHDRAWAL_FOUR_EYES_THRESHOLD", default="10000"),
    "JPY": "1500000",
}
# API schema: the funding objects' statuses are distinct enums.
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update(
    {
        "DepositStatusEnum": "apps.ledger.choices.DepositStatus",
        "WithdrawalStatusEnum": "apps.ledger.choices.WithdrawalStatus",
        "AdjustmentStatusEnum": "apps.ledger.choices.AdjustmentStatus",
    }
)
CELERY_BEAT_SCHEDULE.update(
    {
        "ledger-verify": {
            "task": "apps.ledger.tasks.ledger_verify",
            "schedule": crontab(hour=2, minute=30),
        },
        "ledger-simulated-bank": {
            "task": "apps.ledger.tasks.simulated_bank_settle_due",
            "schedule": timedelta(seconds=5),
        },
    }
)

# --- Market data and real time (apps.marketdata) ---------------------------------------------
# Storage: "auto" uses TimescaleDB (hypertables, compression, retention, continuous aggregates)
# when the extension is in the database, plain PostgreSQL otherwise; "off" always plain;
# "require" refuses to migrate without the extension.
MARKETDATA_TIMESCALE = env("MARKETDATA_TIMESCALE", default="auto")
MARKETDATA_TICK_RETENTION_DAYS = env.int("MARKETDATA_TICK_RETENTION_DAYS", default=730)
MARKETDATA_QUOTE_RETENTION_DAYS = env.int("MARKETDATA_QUOTE_RETENTION_DAYS", default=30)
MARKETDATA_MINUTE_CANDLE_RETENTION_DAYS = env.int(
    "MARKETDATA_MINUTE_CANDLE_RETENTION_DAYS", default=90
)
MARKETDATA_COMPRESS_AFTER_DAYS = env.int("MARKETDATA_COMPRESS_AFTER_DAYS", default=7)
# Sessions are dated in this zone until trading calendars date them per instrument.
MARKETDATA_TRADING_DAY_TZ = env("MARKETDATA_TRADING_DAY_TZ", default="UTC")
MARKETDATA_DEPTH_LEVELS = env.int("MARKETDATA_DEPTH_LEVELS", default=20)
MARKETDATA_RECENT_PRINTS = env.int("MARKETDATA_RECENT_PRINTS", default=100)
MARKETDATA_CANDLES_MAX_POINTS = env.int("MARKETDATA_CANDLES_MAX_POINTS", default=5000)
MARKETDATA_MAX_WATCHLISTS = env.int("MARKETDATA_MAX_WATCHLISTS", default=20)
MARKETDATA_MAX_WATCHLIST_ITEMS = env.int("MARKETDATA_MAX_WATCHLIST_ITEMS", default=200)
MARKETDATA_MAX_ACTIVE_ALERTS = env.int("MARKETDATA_MAX_ACTIVE_ALERTS", default=100)
# The WebSocket feed: conflation (updates per second per symbol, the latest wins), the
# coalescing window that batches symbols into one message, what a connection may hold
# pending per stream, and limits per connection and per user.
MARKETDATA_WS_QUOTES_PER_SECOND = env.float("MARKETDATA_WS_QUOTES_PER_SECOND", default=4.0)
MARKETDATA_WS_DEPTH_PER_SECOND = env.float("MARKETDATA_WS_DEPTH_PER_SECOND", default=4.0)
MARKETDATA_WS_TRADES_PER_SECOND = env.float("MARKETDATA_WS_TRADES_PER_SECOND", default=10.0)
MARKETDATA_WS_BATCH_WINDOW_MS = env.int("MARKETDATA_WS_BATCH_WINDOW_MS", default=10)
MARKETDATA_WS_MAX_PENDING = env.int("MARKETDATA_WS_MAX_PENDING", default=200)
MARKETDATA_WS_MAX_SYMBOLS = env.int("MARKETDATA_WS_MAX_SYMBOLS", default=200)
MARKETDATA_WS_MAX_CONNECTIONS_PER_USER = env.int(
    "MARKETDATA_WS_MAX_CONNECTIONS_PER_USER", default=10
)
# Each connection refreshes its slot in the per-user count, and re-reads the cached quote and
# depth of its symbols (a lost last update is made good), this often.
MARKETDATA_WS_HEARTBEAT_SECONDS = env.int("MARKETDATA_WS_HEARTBEAT_SECONDS", default=30)
# OpenAPI: the price alerts' status is its own enum.
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update(
    {
        "PriceAlertStatusEnum": "apps.marketdata.choices.AlertStatus",
        "NotificationEventEnum": "apps.marketdata.choices.NotificationEvent",
    }
)
# The channel layer with Redis: "pubsub" (channels-redis' RedisPubSubChannelLayer: one Redis
# subscription per group and process, fan-out inside the process) or "classic"
# (RedisChannelLayer). bench/channel_layers.py measures both; docs/performance.md has why.
CHANNEL_LAYER = env("CHANNEL_LAYER", default="pubsub")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": f"{REDIS_KEY_PREFIX}:asgi"},
        }
    }
    if CHANNEL_LAYER == "classic":
        # The classic layer blocks 5 s in BZPOPMIN; redis-py's default 5 s socket timeout
        # would fail those reads (and the consumer) whenever a connection is idle.
        CHANNEL_LAYERS["default"]["BACKEND"] = "channels_redis.core.RedisChannelLayer"
        CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = [
            {"address": REDIS_URL, "socket_timeout": 15}
        ]
# How updates reach the WebSocket connections: "hub" (one Redis PUBLISH per update, one
# subscription per stream in each daphne process, fan-out by function call) or "layer" (the
# channel layer's groups). bench/channel_layers.py measures them.
MARKETDATA_FEED_TRANSPORT = env("MARKETDATA_FEED_TRANSPORT", default="hub")
# The market simulator (apps.marketdata.simulator): house market makers quote and trade the
# open instruments so the demo market moves. `make run` turns it on; never in production.
MARKETDATA_SIMULATOR = env.bool("MARKETDATA_SIMULATOR", default=False)
MARKETDATA_SIMULATOR_EVERY_SECONDS = env.int("MARKETDATA_SIMULATOR_EVERY_SECONDS", default=2)
MARKETDATA_SIMULATOR_STEPS = env.int("MARKETDATA_SIMULATOR_STEPS", default=4)
MARKETDATA_SIMULATOR_SYMBOLS = env.list("MARKETDATA_SIMULATOR_SYMBOLS", default=[])
if MARKETDATA_SIMULATOR:
    CELERY_BEAT_SCHEDULE["marketdata-simulate"] = {
        "task": "apps.marketdata.tasks.simulate_market",
        "schedule": timedelta(seconds=MARKETDATA_SIMULATOR_EVERY_SECONDS),
    }

# --- Orders and matching (apps.orders, apps.matching) ---------------------------------------
# A market buy may pay at most this percentage above the best ask (the hold is sized on it);
# a market sell takes at least this much below the best bid.
ORDER_MARKET_COLLAR_PCT = Decimal(env("ORDER_MARKET_COLLAR_PCT", default="5"))
# Fat-finger cap: the largest notional one order may have, in the base currency.
ORDER_MAX_NOTIONAL = Decimal(env("ORDER_MAX_NOTIONAL", default="1000000"))
# Self-trade prevention: which order is cancelled when an account's orders would meet.
MATCHING_SELF_TRADE = env("MATCHING_SELF_TRADE", default="cancel_resting")
# Orders per matching transaction: larger batches amortise more, smaller ones hold clients'
# ledger buckets locked for less time (intake waits on them).
MATCHING_BATCH_SIZE = env.int("MATCHING_BATCH_SIZE", default=200)
# Orders left waiting for the pipeline longer than this are enqueued again by the sweeper.
MATCHING_SWEEP_AFTER_SECONDS = env.int("MATCHING_SWEEP_AFTER_SECONDS", default=5)

CELERY_BEAT_SCHEDULE.update(
    {
        "matching-sweep": {
            "task": "apps.matching.tasks.matching_sweep",
            "schedule": timedelta(seconds=5),
        },
        "orders-expire-due": {
            "task": "apps.orders.tasks.orders_expire_due",
            "schedule": timedelta(seconds=30),
        },
    }
)

# --- Positions, portfolio and the trading API (apps.positions, apps.orders.api) ------------
# Securities transferred in worth more than this (quantity x cost basis, in the instrument's
# currency; "*" for any other) wait for a second staff member; smaller ones apply at once.
SECURITIES_TRANSFER_FOUR_EYES_VALUE = {
    "*": env("SECURITIES_TRANSFER_FOUR_EYES_VALUE", default="25000"),
    "JPY": "3750000",
}
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update(
    {
        "OrderSideEnum": "apps.orders.choices.OrderSide",
        "OrderTypeEnum": "apps.orders.choices.OrderType",
        "TimeInForceEnum": "apps.orders.choices.TimeInForce",
        "OrderStatusEnum": "apps.orders.choices.OrderStatus",
        "SecuritiesTransferStatusEnum": "apps.positions.models.TransferStatus",
        "AccountTypeEnum": "apps.accounts.choices.AccountType",
    }
)
# Nightly: every position against the ledger's securities; differences become breaks for ops.
CELERY_BEAT_SCHEDULE["positions-reconcile"] = {
    "task": "apps.positions.tasks.positions_reconcile",
    "schedule": crontab(hour=2, minute=45),
}

# --- Corporate actions (apps.instruments) ---------------------------------------------------
# Tax withheld from dividends paid to accounts flagged tax_non_resident (30%: the US statutory
# rate for non-resident aliens without a treaty claim on file).
DIVIDEND_WITHHOLDING_RATE = Decimal(env("DIVIDEND_WITHHOLDING_RATE", default="0.30"))
# The house cash account dividends and cash in lieu are paid from: "custody" (the custodian
# credits the firm) or "bank".
CORPORATE_ACTION_CASH_ACCOUNT = env("CORPORATE_ACTION_CASH_ACCOUNT", default="custody")
# What a split does to the instrument's open orders: "adjust" (price / ratio, quantity x ratio,
# time priority kept) or "cancel" (holds released).
CORPORATE_ACTION_OPEN_ORDERS = {
    "split": env("CORPORATE_ACTION_SPLIT_ORDERS", default="adjust"),
    "reverse_split": env("CORPORATE_ACTION_REVERSE_SPLIT_ORDERS", default="cancel"),
}
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update(
    {
        "CorporateActionKindEnum": "apps.instruments.choices.CorporateActionKind",
        "CorporateActionStatusEnum": "apps.instruments.choices.CorporateActionStatus",
    }
)
# Approved corporate actions whose date has come: dividends paid, splits and symbols applied.
CELERY_BEAT_SCHEDULE["instruments-corporate-actions-due"] = {
    "task": "apps.instruments.tasks.corporate_actions_process_due",
    "schedule": timedelta(minutes=10),
}

# --- Settlement (apps.settlement) -----------------------------------------------------------
# A run settles the accounts with something due in chunks of this many accounts, each chunk
# one transaction; a chunk waits at most this long for a row lock before the run stops (to be
# resumed by running the date again).
SETTLEMENT_CHUNK_ACCOUNTS = env.int("SETTLEMENT_CHUNK_ACCOUNTS", default=250)
SETTLEMENT_LOCK_TIMEOUT_MS = env.int("SETTLEMENT_LOCK_TIMEOUT_MS", default=15000)
# Each calendar's business day is settled this long after its session closes (exchange time).
SETTLEMENT_RUN_AFTER_CLOSE_MINUTES = env.int("SETTLEMENT_RUN_AFTER_CLOSE_MINUTES", default=30)
# Regulation T: this many good-faith violations in twelve months restrict a cash account to
# settled-cash purchases for SETTLEMENT_GFV_RESTRICTION_DAYS; purchases older than the
# lookback are not examined (their proceeds have settled).
SETTLEMENT_GFV_LIMIT = env.int("SETTLEMENT_GFV_LIMIT", default=3)
SETTLEMENT_GFV_RESTRICTION_DAYS = env.int("SETTLEMENT_GFV_RESTRICTION_DAYS", default=90)
SETTLEMENT_GFV_LOOKBACK_DAYS = env.int("SETTLEMENT_GFV_LOOKBACK_DAYS", default=14)
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update(
    {"SettlementStatusEnum": "apps.settlement.choices.InstructionStatus"}
)
CELERY_BEAT_SCHEDULE.update(
    {
        # Cheap when nothing is due: each calendar is run once, after its close.
        "settlement-runs-due": {
            "task": "apps.settlement.tasks.settlement_runs_due",
            "schedule": timedelta(minutes=10),
        },
        "settlement-gfv-restrictions-lift": {
            "task": "apps.settlement.tasks.gfv_restrictions_lift_due",
            "schedule": timedelta(hours=1),
        },
    }
)
