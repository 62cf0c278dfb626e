"""Settings shared by every environment. Secrets come from the environment (see production.py)."""
import os
from pathlib import Path

import dj_database_url
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
DEBUG = False
ALLOWED_HOSTS: list[str] = []

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from our static files, never a CDN
    "apps.core",
    "apps.accounts",
    "apps.generation",
    "apps.adapters",
    "apps.finance",
    "apps.medical",
    "apps.monitoring",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "apps.core.uploads.RequestSizeLimitMiddleware",  # 413 above PLUMBLINE_MAX_REQUEST_BYTES, body unread
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",  # Content-Security-Policy (CONTENT_SECURITY_POLICY below)
    "apps.core.headers.PermissionsPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "apps.core.middleware.PlainTextInputMiddleware",  # no NUL byte in paths, query strings and forms
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# --- Security headers, in every environment (so the browser tests run under them) ---------------------
# No inline script or style anywhere: pages load static/js and static/css only (Swagger UI: its split view,
# whose init script is a separate request, and templates/drf_spectacular/swagger_ui.html without <style>).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],  # Swagger UI's icons are data: SVGs
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
PERMISSIONS_POLICY = {feature: [] for feature in (
    "accelerometer", "camera", "geolocation", "gyroscope", "magnetometer", "microphone", "payment", "usb",
)}

ROOT_URLCONF = "config.urls"
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
                "apps.accounts.context_processors.navigation",
            ],
        },
    },
]

# PostgreSQL through DATABASE_URL (psycopg 3); SQLite, the embedded default, when it is unset.
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}", conn_max_age=60, conn_health_checks=True
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Where converted model checkpoints and other large local files live.
PLUMBLINE_DATA_DIR = Path(os.environ.get("PLUMBLINE_DATA_DIR", BASE_DIR / "var"))
# The model the generation workers serve: a preset name or a Hugging Face-format directory.
PLUMBLINE_MODEL = os.environ.get("PLUMBLINE_MODEL", "smollm2-135m-instruct")
PLUMBLINE_ENGINE_MAX_BATCH = env_int("PLUMBLINE_ENGINE_MAX_BATCH", 8)
# Intra-op threads of the gpu worker's engine on a CPU host, pinned when the engine starts (0 = torch's default,
# one per core). The engine's process should have its cores to itself: verification, exports and monitoring run
# on the `default` queue in another process; set this lower when other work shares the host's cores.
PLUMBLINE_ENGINE_THREADS = env_int("PLUMBLINE_ENGINE_THREADS", 0)
# Where the gpu worker's engine and adapter evaluation run (modelcore/device.py): "auto" (the first CUDA device if
# there is one, else the CPU), "cpu", "cuda" or "cuda:N"; and in what precision: "auto" (bfloat16 on CUDA, float32
# on a CPU), "float32", "bfloat16" or "float16". A value outside these stops the worker at start, naming the setting.
PLUMBLINE_DEVICE = os.environ.get("PLUMBLINE_DEVICE", "auto")
PLUMBLINE_DTYPE = os.environ.get("PLUMBLINE_DTYPE", "auto")
# Where generation runs (apps/generation/backends.py): "inproc" = one modelcore Engine in each gpu worker process
# (one host); "openai" = an OpenAI-compatible server at PLUMBLINE_BACKEND_URL (".../v1"): `python -m modelcore serve`,
# or vLLM for a pool of GPUs. PLUMBLINE_BACKEND_MODEL is the model's name on that server (default PLUMBLINE_MODEL);
# activated adapters are pushed to it under their labels ("name@version") and must be readable there at the path the
# workers see (a shared PLUMBLINE_DATA_DIR).
PLUMBLINE_BACKEND = os.environ.get("PLUMBLINE_BACKEND", "inproc")
PLUMBLINE_BACKEND_URL = os.environ.get("PLUMBLINE_BACKEND_URL", "")
PLUMBLINE_BACKEND_API_KEY = os.environ.get("PLUMBLINE_BACKEND_API_KEY", "")
PLUMBLINE_BACKEND_MODEL = os.environ.get("PLUMBLINE_BACKEND_MODEL", "")
PLUMBLINE_BACKEND_TIMEOUT_S = env_int("PLUMBLINE_BACKEND_TIMEOUT_S", 600)  # one HTTP request, stream included
# Memory of the gpu worker's prefix cache (modelcore/prefix_cache.py): the KV of prompt prefixes that requests share
# (the system prompt, a company's fact table across a report's sections) is kept and reused; 0 turns it off.
PLUMBLINE_PREFIX_CACHE_MB = env_int("PLUMBLINE_PREFIX_CACHE_MB", 256)
# Input limits that the API enforces before anything is written.
PLUMBLINE_MAX_PROMPT_CHARS = env_int("PLUMBLINE_MAX_PROMPT_CHARS", 16000)
PLUMBLINE_MAX_NEW_TOKENS = env_int("PLUMBLINE_MAX_NEW_TOKENS", 1024)
PLUMBLINE_API_TOKEN_TTL_DAYS = env_int("PLUMBLINE_API_TOKEN_TTL_DAYS", 90)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.authentication.HashedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["apps.core.parsers.StrictJSONParser"],  # depth, size, NUL/surrogate, number limits
    "DEFAULT_SCHEMA_CLASS": "apps.core.schema.PlumblineAutoSchema",
    # Every list: ?limit= (1..200, default 50) and ?offset=; a bad value is a 400 naming the parameter.
    "DEFAULT_PAGINATION_CLASS": "apps.core.pagination.CappedLimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "apps.core.exceptions.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Plumbline API",
    "DESCRIPTION": (
        "Vertical-domain LLM platform: generation jobs, finance reports, clinical drafts.\n\n"
        "Every error answers `ErrorOutput`: `{detail, code, errors}`, `errors` naming each bad field or query "
        "parameter. Every list is paginated: `?limit=` (1 to 200, default 50) and `?offset=`, answering "
        "`{count, next, previous, results}`; a bad value is a 400. Work that runs on a worker answers 202 "
        "with the job to poll."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # One name per choice set that several components share (the schema is validated with --fail-on-warn).
    "ENUM_NAME_OVERRIDES": {
        "JobStatusEnum": "apps.generation.models.GenerationJob.Status",
        "ReportStatusEnum": "apps.finance.models.reports.Report.Status",
        "SectionKindEnum": "apps.finance.reports.prompts.SECTION_KINDS",
        "DraftStatusEnum": "apps.medical.models.Draft.Status",
        "DraftVerificationEnum": "apps.medical.models.Draft.Verification",
        "TriageStatusEnum": "apps.medical.models.TriageAssessment.Status",
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Celery -----------------------------------------------------------------------------------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or None
CELERY_TASK_IGNORE_RESULT = True  # job state lives in the database, not in the result backend
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True  # a task is acknowledged when it ends, so a lost worker's job comes back
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # a gpu worker takes one message per free thread, no more
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 900)
# The soft limit leaves the task time to record its failure before the hard limit.
CELERY_TASK_SOFT_TIME_LIMIT = env_int(
    "CELERY_TASK_SOFT_TIME_LIMIT", CELERY_TASK_TIME_LIMIT - max(5, CELERY_TASK_TIME_LIMIT // 10)
)
# A queued or running job whose row has not changed for this long lost its message (a broker restart without
# persistence): beat's sweep (apps.generation.tasks.requeue_stale_jobs, every PLUMBLINE_JOB_REQUEUE_EVERY_S)
# enqueues it again. Above the time limit, so a live delivery is never taken over.
PLUMBLINE_JOB_REQUEUE_AFTER_S = env_int("PLUMBLINE_JOB_REQUEUE_AFTER_S", CELERY_TASK_TIME_LIMIT + 60)
CELERY_BEAT_SCHEDULE = {
    "generation-requeue-stale-jobs": {
        "task": "apps.generation.tasks.requeue_stale_jobs",
        "schedule": env_int("PLUMBLINE_JOB_REQUEUE_EVERY_S", 60),
    },
    "monitoring-compute-snapshots": {  # drift and consistency snapshots of closed windows (apps.monitoring)
        "task": "apps.monitoring.tasks.compute_snapshots",
        "schedule": env_int("PLUMBLINE_MONITORING_SNAPSHOT_EVERY_S", 300),
    },
}
# A message not acknowledged within this many seconds is delivered again. It must stay above twice the
# hard time limit, or a task still running would be delivered a second time.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 2 * CELERY_TASK_TIME_LIMIT + 60),
    # How often an idle worker looks for messages whose visibility timeout ran out (a lost worker's jobs):
    # every interval x throttle seconds.
    "unacked_restore_interval": env_int("CELERY_UNACKED_RESTORE_INTERVAL", 10),
    "unacked_restore_throttle": env_int("CELERY_UNACKED_RESTORE_THROTTLE", 10),
}
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES = (Queue("default"), Queue("gpu"))
CELERY_TASK_ROUTES = {
    "apps.generation.tasks.requeue_stale_jobs": {"queue": "default"},  # a database sweep, no model
    "apps.generation.tasks.*": {"queue": "gpu"},  # run_job: every kind of job runs the model
    # Loads its own model copy: queue eval, a worker process apart from the one holding the serving Engine, so
    # an evaluation never takes the Engine's cores or memory (compose: worker-eval; make run: its own process).
    "apps.adapters.tasks.evaluate_adapter_version": {"queue": "eval"},
    "apps.adapters.tasks.push_adapter_to_backend": {"queue": "default"},  # one HTTP call to the model server
    "apps.medical.tasks.verify_draft_version": {"queue": "default"},  # knowledge-base checks, CPU only
    "apps.monitoring.tasks.compute_snapshots": {"queue": "default"},  # statistics + a small embedding model, CPU
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Monitoring (apps.monitoring; README "Monitoring"): a drift statistic (PSI, KS, Jensen-Shannon, embedding MMD) or an
# outcome rate's rise over the reference above the drift threshold, or a consistency below its threshold, raises an
# alert. Windows are counted in requests per domain and adapter version; the first window is the reference.
PLUMBLINE_MONITORING_DRIFT_THRESHOLD = float(os.environ.get("PLUMBLINE_MONITORING_DRIFT_THRESHOLD", "0.15"))
PLUMBLINE_MONITORING_CONSISTENCY_THRESHOLD = float(os.environ.get("PLUMBLINE_MONITORING_CONSISTENCY_THRESHOLD", "0.85"))
PLUMBLINE_MONITORING_WINDOW_SIZE = env_int("PLUMBLINE_MONITORING_WINDOW_SIZE", 200)
# The reference of a domain and adapter version: its first N windows together (1000 requests at the defaults), so a
# window of 200 is compared with a reference five times its size (a one-window reference put PSI's sampling noise
# near the 0.15 threshold: 63 false alarms in 500 same-distribution windows, bench/monitoring_snapshot.py).
PLUMBLINE_MONITORING_REFERENCE_WINDOWS = env_int("PLUMBLINE_MONITORING_REFERENCE_WINDOWS", 5)
# Thresholds of PSI and KS calibrated per window size by resampling the reference (false-alarm rate alpha).
PLUMBLINE_MONITORING_CALIBRATED_THRESHOLDS = os.environ.get("PLUMBLINE_MONITORING_CALIBRATED_THRESHOLDS", "") == "1"
PLUMBLINE_MONITORING_CALIBRATION_ALPHA = float(os.environ.get("PLUMBLINE_MONITORING_CALIBRATION_ALPHA", "0.01"))
# Triage consistency: the share of triage jobs re-sampled k times (a low-priority job on queue gpu).
PLUMBLINE_MONITORING_CONSISTENCY_SHARE = float(os.environ.get("PLUMBLINE_MONITORING_CONSISTENCY_SHARE", "0.02"))
PLUMBLINE_MONITORING_CONSISTENCY_SAMPLES = env_int("PLUMBLINE_MONITORING_CONSISTENCY_SAMPLES", 5)
PLUMBLINE_MONITORING_CONSISTENCY_TEMPERATURE = float(
    os.environ.get("PLUMBLINE_MONITORING_CONSISTENCY_TEMPERATURE", "0.8"))
PLUMBLINE_MONITORING_CONSISTENCY_PRIORITY = env_int("PLUMBLINE_MONITORING_CONSISTENCY_PRIORITY", 9)  # 9: last
PLUMBLINE_MONITORING_FEATURE_BATCH = env_int("PLUMBLINE_MONITORING_FEATURE_BATCH", 256)  # prompts embedded at once
# Dotted paths of fn(alert_id=...) called after an alert is stored (the retraining proposal's hook).
PLUMBLINE_MONITORING_ALERT_HOOKS = [p for p in os.environ.get("PLUMBLINE_MONITORING_ALERT_HOOKS", "").split(",") if p]

# Longest prompt + completion the engine holds per request (None: the model's own context length).
PLUMBLINE_ENGINE_MAX_SEQ_LEN = env_int("PLUMBLINE_ENGINE_MAX_SEQ_LEN", 0) or None
# Per-layer attention of the served model (JSON, read by gpu workers when they load the model; "" = as the
# checkpoint says): a list with one spec per layer, or {"kind", "options", "layers": [indices]}.
# Example for long inputs: {"kind": "sparse", "options": {"score": "quest"}, "layers": [2, 3, ..., 29]}.
PLUMBLINE_LAYER_ATTENTION = os.environ.get("PLUMBLINE_LAYER_ATTENTION", "")
# Weight-only quantization of the served model, applied when gpu workers load it (modelcore/quant.py):
# "" (float32), "int8" (per output channel) or "int4" (group-wise, PLUMBLINE_QUANTIZE_GROUP_SIZE 32 / 64 / 128;
# the lm_head stays int8 under int4).
PLUMBLINE_QUANTIZE = os.environ.get("PLUMBLINE_QUANTIZE", "")
PLUMBLINE_QUANTIZE_GROUP_SIZE = env_int("PLUMBLINE_QUANTIZE_GROUP_SIZE", 32)

# Service metrics for operators (apps/monitoring/metrics.py, README "Service metrics"). The web answers GET /metrics
# to "Authorization: Bearer <PLUMBLINE_METRICS_TOKEN>" only ("" = /metrics answers 404). A worker started with
# PLUMBLINE_METRICS_PORT > 0 serves its own metrics on PLUMBLINE_METRICS_ADDR:PORT (no token: keep it on a private
# address). Processes of one host or container share counters through PROMETHEUS_MULTIPROC_DIR (environment only).
PLUMBLINE_METRICS_TOKEN = os.environ.get("PLUMBLINE_METRICS_TOKEN", "")
PLUMBLINE_METRICS_PORT = env_int("PLUMBLINE_METRICS_PORT", 0)
PLUMBLINE_METRICS_ADDR = os.environ.get("PLUMBLINE_METRICS_ADDR", "127.0.0.1")

# Adapter registry: upload limits and the forgetting guard (relative rise of the general-set loss allowed).
PLUMBLINE_ADAPTER_MAX_BYTES = env_int("PLUMBLINE_ADAPTER_MAX_BYTES", 512 * 1024 * 1024)
PLUMBLINE_ADAPTER_MAX_CONFIG_BYTES = env_int("PLUMBLINE_ADAPTER_MAX_CONFIG_BYTES", 64 * 1024)
# Largest request body of any kind (the biggest upload, adapter weights + config, plus multipart overhead);
# RequestSizeLimitMiddleware answers 413 above it before reading the body. Each upload view streams its
# files to disk and stops at its own per-field limit (apps/core/uploads.py).
PLUMBLINE_MAX_REQUEST_BYTES = env_int(
    "PLUMBLINE_MAX_REQUEST_BYTES", PLUMBLINE_ADAPTER_MAX_BYTES + PLUMBLINE_ADAPTER_MAX_CONFIG_BYTES + 1024 * 1024
)
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440  # non-file request data read into memory (Django's default, explicit)
PLUMBLINE_FORGETTING_MARGIN = float(os.environ.get("PLUMBLINE_FORGETTING_MARGIN", "0.05"))
PLUMBLINE_ADAPTER_EVAL_ROWS = env_int("PLUMBLINE_ADAPTER_EVAL_ROWS", 32)  # rows of each held-out set evaluated
PLUMBLINE_ENGINE_MAX_ADAPTERS = env_int("PLUMBLINE_ENGINE_MAX_ADAPTERS", 8)  # LoRA adapters resident per engine

# Finance research reports: tokens the model may write per prose section (the rating's JSON gets at least
# PLUMBLINE_REPORT_RATING_TOKENS), the longest edited section, and the DCF inputs a new report starts with.
PLUMBLINE_REPORT_SECTION_TOKENS = env_int("PLUMBLINE_REPORT_SECTION_TOKENS", 128)
PLUMBLINE_REPORT_RATING_TOKENS = env_int("PLUMBLINE_REPORT_RATING_TOKENS", 80)
PLUMBLINE_REPORT_MAX_SECTION_CHARS = env_int("PLUMBLINE_REPORT_MAX_SECTION_CHARS", 8000)
PLUMBLINE_REPORT_DEFAULT_WACC = float(os.environ.get("PLUMBLINE_REPORT_DEFAULT_WACC", "0.09"))
PLUMBLINE_REPORT_DEFAULT_TERMINAL_GROWTH = float(os.environ.get("PLUMBLINE_REPORT_DEFAULT_TERMINAL_GROWTH", "0.025"))
PLUMBLINE_REPORT_DEFAULT_FORECAST_YEARS = env_int("PLUMBLINE_REPORT_DEFAULT_FORECAST_YEARS", 5)

# Medicine: tokens the model may write for the triage JSON, each SOAP prose section, and the coded JSON
# (ICD codes, medications) of a draft.
PLUMBLINE_MEDICAL_TRIAGE_TOKENS = env_int("PLUMBLINE_MEDICAL_TRIAGE_TOKENS", 64)
PLUMBLINE_MEDICAL_SECTION_TOKENS = env_int("PLUMBLINE_MEDICAL_SECTION_TOKENS", 96)
PLUMBLINE_MEDICAL_CODES_TOKENS = env_int("PLUMBLINE_MEDICAL_CODES_TOKENS", 160)

# --- Abuse limits: login lockout (django-axes), API throttles and the cache their counters share -------------
from datetime import timedelta  # noqa: E402

INSTALLED_APPS += ["axes"]
# Last: it turns a login that axes refused into the lockout page (apps.accounts.views.login_locked_out).
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]
AUTHENTICATION_BACKENDS = [
    "apps.accounts.backends.LockoutBackend",  # first: a locked-out username+address is refused before its password
    "django.contrib.auth.backends.ModelBackend",
]
# Locked per username AND address: an attacker guessing one account is stopped, while the account's owner (from
# another address) and every other user (from the attacker's address too) can still log in. Locking by username
# alone would let anyone lock anyone out; by address alone, one office behind a NAT would lock each other out.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_FAILURE_LIMIT = env_int("PLUMBLINE_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("PLUMBLINE_LOGIN_COOLOFF_MINUTES", 15))
AXES_RESET_ON_SUCCESS = True  # a successful log-in forgets the earlier failures
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = True  # guessing on during the lockout keeps it locked
AXES_LOCKOUT_CALLABLE = "apps.accounts.views.login_locked_out"
# Behind N reverse proxies that set X-Forwarded-For, the client's address is the Nth from the right.
PLUMBLINE_TRUSTED_PROXY_COUNT = env_int("PLUMBLINE_TRUSTED_PROXY_COUNT", 0)
if PLUMBLINE_TRUSTED_PROXY_COUNT:
    AXES_IPWARE_PROXY_COUNT = PLUMBLINE_TRUSTED_PROXY_COUNT
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")
    REST_FRAMEWORK["NUM_PROXIES"] = PLUMBLINE_TRUSTED_PROXY_COUNT

# API throttles (apps/core/throttling.py): "<count>/<second|minute|hour|day>" per user, read per request.
REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = [
    "apps.core.throttling.ScopedThrottle",
    "apps.core.throttling.UserThrottle",
    "apps.core.throttling.AnonThrottle",
]
PLUMBLINE_THROTTLE_RATES = {
    "user": os.environ.get("PLUMBLINE_THROTTLE_USER", "1200/minute"),  # every API request (job pages poll ~2/s)
    "anon": os.environ.get("PLUMBLINE_THROTTLE_ANON", "60/minute"),  # per address, where no login is needed
    "jobs": os.environ.get("PLUMBLINE_THROTTLE_JOBS", "120/hour"),  # work queued on a worker
    "uploads": os.environ.get("PLUMBLINE_THROTTLE_UPLOADS", "30/hour"),  # adapter uploads, statement imports
    "tokens": os.environ.get("PLUMBLINE_THROTTLE_TOKENS", "10/hour"),  # new API tokens
}
# Throttle counters must be shared by every web process: Redis (PLUMBLINE_CACHE_URL; production falls back to the
# broker's Redis). Unset here, process memory: enough for `make run`'s single process.
PLUMBLINE_CACHE_URL = os.environ.get("PLUMBLINE_CACHE_URL", "")
PLUMBLINE_THROTTLE_CACHE = "throttle"
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "throttle": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": PLUMBLINE_CACHE_URL,
         "KEY_PREFIX": "plumbline"}
        if PLUMBLINE_CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "throttle"}
    ),
}
