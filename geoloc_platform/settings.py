"""Django settings, read once from the environment (django-environ); every variable is in the README.

Two deployments share this file:
- embedded default (no variables set): SQLite in WAL mode, Celery tasks run in-process, local media;
- production (``DJANGO_ENV=production``): PostgreSQL, Redis broker, ``SECRET_KEY`` required, secure cookies.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.management.utils import get_random_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")  # optional; .env.example is committed

DJANGO_ENV = env.str("DJANGO_ENV", default="embedded")
PRODUCTION = DJANGO_ENV == "production"

DEBUG = env.bool("DEBUG", default=False)
VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))


def _embedded_secret_key() -> str:
    """A random key kept in VAR_DIR, so sessions survive restarts of the embedded platform."""
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        key_file.write_text(get_random_secret_key())
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY") if PRODUCTION else env.str("SECRET_KEY", default="") or _embedded_secret_key()
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

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
    "drf_spectacular_sidecar",
    "leaflet",
    "djgeojson",
    "axes",
    "geoloc_platform.crises",
    "geoloc_platform.accounts",
    "crawling",
    "classification",
    "tasks_app",
    "consensus",
    "mapping",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "geoloc_platform.middleware.ContentSecurityPolicyMiddleware",  # no inline script, on every response
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "geoloc_platform.middleware.ApiRequestBodyGuard",  # malformed API bodies: 400 in JSON, before CSRF reads them
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks
]

ROOT_URLCONF = "geoloc_platform.urls"
WSGI_APPLICATION = "geoloc_platform.wsgi.application"
ASGI_APPLICATION = "geoloc_platform.asgi.application"

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

# --- Database -----------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while a task writes; IMMEDIATE takes the write lock at BEGIN, which
    # serialises the scheduler's read-then-write transactions instead of failing them on upgrade.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;",
        "transaction_mode": "IMMEDIATE",
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth ---------------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "geoloc_platform.accounts.address_lockout.AddressLockoutBackend",  # password spraying: failures per address
    "axes.backends.AxesStandaloneBackend",  # login throttling runs before the password is checked
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "crises:list"
LOGOUT_REDIRECT_URL = "crises:list"

AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "geoloc_platform.client_address.client_address"  # behind TRUSTED_PROXY_COUNT proxies
# Failed logins from one address across every username before that address is locked out for the cool-off.
LOGIN_FAILURES_PER_ADDRESS = env.int("LOGIN_FAILURES_PER_ADDRESS", default=30)
# Crises that take anonymous help give each visitor a guest account; this caps how many one address makes.
GUEST_ACCOUNTS_PER_ADDRESS_PER_HOUR = env.int("GUEST_ACCOUNTS_PER_ADDRESS_PER_HOUR", default=20)
# Accounts made through the sign-up page per client address per hour (geoloc_platform.client_address).
SIGNUP_PER_ADDRESS_PER_HOUR = env.int("SIGNUP_PER_ADDRESS_PER_HOUR", default=5)
# E-mail: the confirmation link of crises that require one. consolemail:// prints mails (embedded default).
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="geoloc-platform@localhost")
EMAIL_CONFIRMATION_MAX_AGE_DAYS = env.int("EMAIL_CONFIRMATION_MAX_AGE_DAYS", default=7)

# --- I18n ---------------------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("pt", "Português"), ("fr", "Français"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and media ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
# Stored images are served only after a permission check (geoloc_platform/protected_media.py). Behind nginx the
# bytes come from its internal location at this prefix (X-Accel-Redirect); empty: Django streams them itself.
MEDIA_ACCEL_REDIRECT = env.str("MEDIA_ACCEL_REDIRECT", default="")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION  # embedded: serve static/ without collectstatic
if not PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise expects it even when it serves from finders

# --- Security -----------------------------------------------------------------------------------
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=PRODUCTION)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=PRODUCTION)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
SECURE_HSTS_PRELOAD = PRODUCTION
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if PRODUCTION else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Reverse proxies in front of Django that append to X-Forwarded-For (nginx in docker-compose.yml: 1). Every limit
# keyed on an address reads it through geoloc_platform.client_address; 0 trusts no header at all.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# --- Cache (rate limits, debouncing, login throttling) ------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "geoloc_platform.cache.RedisCache", "LOCATION": REDIS_URL}}
else:
    # Database cache: shared by the web process and the periodic runner of the embedded platform.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "cache_table"}}

# With Redis, sessions are read from the cache (written through to the database): one query less on every request.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db" if REDIS_URL else "django.contrib.sessions.backends.db"

# --- Celery -------------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL  # embedded default: tasks run in the caller's process
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # a worker killed mid-task leaves its message to be redelivered
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "cpu"
# GPU inference only goes to DIFFICULTY_QUEUE: "gpu", or "cpu" for a deployment without a GPU worker.
CELERY_TASK_ROUTES = {"classification.tasks.*_gpu": {"queue": env.str("DIFFICULTY_QUEUE", default="gpu")}}
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)}
CELERY_TIMEZONE = TIME_ZONE
# A worker consuming the cpu queue loads the gazetteer before forking its children, which then share it.
GEOLOC_GAZETTEER_PRELOAD = env.bool("GEOLOC_GAZETTEER_PRELOAD", default=True)

# How long an image may sit in a working stage before the sweeper nudges it again.
PIPELINE_STUCK_AFTER = timedelta(seconds=env.int("PIPELINE_STUCK_AFTER_SECONDS", default=600))
PIPELINE_MAX_ATTEMPTS = env.int("PIPELINE_MAX_ATTEMPTS", default=5)
PIPELINE_SWEEP_INTERVAL = timedelta(seconds=env.int("PIPELINE_SWEEP_INTERVAL_SECONDS", default=60))

CELERY_BEAT_SCHEDULE = {
    "pipeline-sweep": {"task": "crawling.tasks.pipeline_sweep", "schedule": PIPELINE_SWEEP_INTERVAL},
}

# --- REST API -----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": [  # keyed on geoloc_platform.client_address, never on a client's header
        "geoloc_platform.throttling.AnonRateThrottle",
        "geoloc_platform.throttling.UserRateThrottle",
    ],
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,  # DRF's own throttle classes, where a view names them, agree
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("API_RATE_ANON", default="60/min"),
        "user": env.str("API_RATE_USER", default="600/min"),
    },
    "EXCEPTION_HANDLER": "geoloc_platform.exceptions.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Disaster image geolocation API",
    "VERSION": "1.0.0",
    "SWAGGER_UI_DIST": "SIDECAR",  # served from our own static files, no CDN
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Maps ---------------------------------------------------------------------------------------
MAP_TILE_URL = env.str("MAP_TILE_URL", default="https://tile.openstreetmap.org/{z}/{x}/{y}.png")
MAP_TILE_ATTRIBUTION = env.str(
    "MAP_TILE_ATTRIBUTION", default='&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a>'
)
LEAFLET_CONFIG = {
    "DEFAULT_CENTER": (20.0, 0.0),
    "DEFAULT_ZOOM": 2,
    "MIN_ZOOM": 1,
    "MAX_ZOOM": 19,
    "TILES": [("OpenStreetMap", MAP_TILE_URL, {"attribution": MAP_TILE_ATTRIBUTION, "maxZoom": 19})],
    "RESET_VIEW": False,
}

# --- Logging ------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# --- Images -------------------------------------------------------------------------------------
IMAGE_MAX_BYTES = env.int("IMAGE_MAX_BYTES", default=20 * 1024 * 1024)
IMAGE_MAX_PIXELS = env.int("IMAGE_MAX_PIXELS", default=40_000_000)  # Pillow's bomb limit, lowered

# --- Crawling -----------------------------------------------------------------------------------
# Sources are on when their credentials are set (Mastodon needs none); every one is in crawling/README.md.
MASTODON_INSTANCES = env.list("MASTODON_INSTANCES", default=["https://mastodon.social"])
BLUESKY_SERVICE_URL = env.str("BLUESKY_SERVICE_URL", default="https://bsky.social")
BLUESKY_IDENTIFIER = env.str("BLUESKY_IDENTIFIER", default="")
BLUESKY_APP_PASSWORD = env.str("BLUESKY_APP_PASSWORD", default="")
X_API_URL = env.str("X_API_URL", default="https://api.x.com")
X_BEARER_TOKEN = env.str("X_BEARER_TOKEN", default="")
X_READ_BUDGET = env.int("X_READ_BUDGET", default=0)  # post reads per crisis; reads cost money, so 0 = off
FLICKR_API_URL = env.str("FLICKR_API_URL", default="https://api.flickr.com/services/rest/")
FLICKR_API_KEY = env.str("FLICKR_API_KEY", default="")
CRAWL_INTERVAL = timedelta(seconds=env.int("CRAWL_INTERVAL_SECONDS", default=60))
CRAWL_MAX_PAGES = env.int("CRAWL_MAX_PAGES", default=20)  # per source and crawl
CRAWL_HTTP_TIMEOUT = env.float("CRAWL_HTTP_TIMEOUT_SECONDS", default=20.0)
CRAWL_LEASE = timedelta(seconds=env.int("CRAWL_LEASE_SECONDS", default=900))
CRAWL_RATE_LIMIT_DEFAULT_WAIT = timedelta(seconds=env.int("CRAWL_RATE_LIMIT_DEFAULT_WAIT_SECONDS", default=900))
CRAWL_RATE_LIMIT_MAX_WAIT = timedelta(seconds=env.int("CRAWL_RATE_LIMIT_MAX_WAIT_SECONDS", default=86400))
# Image downloads (IMAGE_MAX_BYTES and IMAGE_MAX_PIXELS above also apply).
ALLOW_LOOPBACK_FETCH = env.bool("ALLOW_LOOPBACK_FETCH", default=False)  # tests only: never in a deployment
FETCH_CONNECT_TIMEOUT = env.float("FETCH_CONNECT_TIMEOUT_SECONDS", default=5.0)
FETCH_READ_TIMEOUT = env.float("FETCH_READ_TIMEOUT_SECONDS", default=10.0)
FETCH_TOTAL_TIMEOUT = env.float("FETCH_TOTAL_TIMEOUT_SECONDS", default=30.0)  # the whole body, against slow drips
FETCH_MAX_REDIRECTS = env.int("FETCH_MAX_REDIRECTS", default=5)
DEDUP_MAX_DISTANCE = env.int("DEDUP_MAX_DISTANCE", default=10)  # PHash Hamming distance of near duplicates (of 64)
# Imports from the admin (crawling README, "Imports"): the largest upload, and whether an import runs in a thread of
# the web process, as on the embedded default (no worker), so its page shows progress; with a broker a worker runs it.
IMPORT_MAX_UPLOAD_BYTES = env.int("IMPORT_MAX_UPLOAD_BYTES", default=1024 * 1024 * 1024)
IMPORT_IN_BACKGROUND_THREAD = env.bool("IMPORT_IN_BACKGROUND_THREAD", default=CELERY_TASK_ALWAYS_EAGER)
CELERY_BEAT_SCHEDULE["crawl-active-crises"] = {
    "task": "crawling.tasks.crawl_active_crises",
    "schedule": CRAWL_INTERVAL,
}

# --- Crowd work ---------------------------------------------------------------------------------
# tasks_app (README "Settings"): leases, gold images, skill routing, rate limits, maps for volunteers.
CROWD_LEASE_SECONDS = env.int("CROWD_LEASE_SECONDS", default=600)
CROWD_HEARTBEAT_EXTENSION_SECONDS = env.int("CROWD_HEARTBEAT_EXTENSION_SECONDS", default=300)
CROWD_LEASE_MAX_SECONDS = env.int("CROWD_LEASE_MAX_SECONDS", default=3 * 3600)
CROWD_HEARTBEAT_INTERVAL_SECONDS = env.int("CROWD_HEARTBEAT_INTERVAL_SECONDS", default=60)
CROWD_LAZY_EXPIRY_BATCH = env.int("CROWD_LAZY_EXPIRY_BATCH", default=50)
CROWD_LAZY_EXPIRY_INTERVAL_SECONDS = env.float("CROWD_LAZY_EXPIRY_INTERVAL_SECONDS", default=5.0)
CROWD_LEASE_SWEEP_INTERVAL = timedelta(seconds=env.int("CROWD_LEASE_SWEEP_INTERVAL_SECONDS", default=60))
CROWD_GOLD_RATE = env.float("CROWD_GOLD_RATE", default=0.2)
CROWD_GOLD_TAPER_ANSWERS = env.int("CROWD_GOLD_TAPER_ANSWERS", default=20)
CROWD_GOLD_MIN_RATE = env.float("CROWD_GOLD_MIN_RATE", default=0.02)
CROWD_NEWCOMER_SKILL = env.float("CROWD_NEWCOMER_SKILL", default=0.3)
CROWD_EXPERT_SKILL = env.float("CROWD_EXPERT_SKILL", default=0.7)
CROWD_REPORTS_TO_WITHHOLD = env.int("CROWD_REPORTS_TO_WITHHOLD", default=2)
# Trust (consensus README, "Trust"): a pin this close to the text-derived guess, placed without searching, only
# repeats it; a track record needs this share of its checked answers right; a verification's expected answer.
CROWD_PRIOR_CONFIRM_M = env.float("CROWD_PRIOR_CONFIRM_M", default=300.0)
CROWD_PRIOR_CONFIRM_SHARE = env.float("CROWD_PRIOR_CONFIRM_SHARE", default=0.2)
CROWD_RECORD_MIN_ACCURACY = env.float("CROWD_RECORD_MIN_ACCURACY", default=0.8)
CROWD_VERIFY_YES_M = env.float("CROWD_VERIFY_YES_M", default=50.0)
CROWD_VERIFY_NEARBY_M = env.float("CROWD_VERIFY_NEARBY_M", default=500.0)
# The leaderboard is recomputed when a page asks for it and it is older than this (pages poll at this period).
CROWD_LEADERBOARD_MAX_AGE_SECONDS = env.int("CROWD_LEADERBOARD_MAX_AGE_SECONDS", default=5)
CROWD_LEADERBOARD_SIZE = env.int("CROWD_LEADERBOARD_SIZE", default=10)
GOOGLE_MAPS_EMBED_KEY = env.str("GOOGLE_MAPS_EMBED_KEY", default="")  # browser key, restrict it by referrer
MAPILLARY_TOKEN = env.str("MAPILLARY_TOKEN", default="")  # client token: it is sent to browsers
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"].update(
    {
        "crowd_next": env.str("CROWD_RATE_NEXT", default="120/min"),
        "crowd_answer": env.str("CROWD_RATE_ANSWER", default="60/min"),
        "crowd_heartbeat": env.str("CROWD_RATE_HEARTBEAT", default="30/min"),
    }
)
CELERY_BEAT_SCHEDULE.update(
    {
        "crowd-lease-expiry": {"task": "tasks_app.tasks.lease_expire_due", "schedule": CROWD_LEASE_SWEEP_INTERVAL},
    }
)

# --- Consensus ----------------------------------------------------------------------------------
# consensus (README "Settings"): how ratings aggregate and when an image's location is settled.
CONSENSUS_RATING_METHOD = env.str("CONSENSUS_RATING_METHOD", default="dawid_skene")  # or majority_vote
CONSENSUS_DS_SMOOTHING = env.float("CONSENSUS_DS_SMOOTHING", default=1.0)
CONSENSUS_DS_MIN_ANSWERS = env.int("CONSENSUS_DS_MIN_ANSWERS", default=5)  # fewer: pooled "occasional volunteer"
CONSENSUS_WARNING_MARGIN = env.float("CONSENSUS_WARNING_MARGIN", default=0.1)
CONSENSUS_EXTRA_RATINGS = env.int("CONSENSUS_EXTRA_RATINGS", default=2)  # more ratings for warned images
# 0: every rating goes through the debounced task. Recomputing per rating starved the crawl in the soak run
# (bench/bench_soak.py: 1,058 of 1,436 worker-seconds, 2,146 messages waiting on the one cpu queue).
CONSENSUS_SYNC_MAX_RATINGS = env.int("CONSENSUS_SYNC_MAX_RATINGS", default=0)
CONSENSUS_DEBOUNCE_SECONDS = env.int("CONSENSUS_DEBOUNCE_SECONDS", default=5)
CONSENSUS_TARGET_RADIUS_M = env.float("CONSENSUS_TARGET_RADIUS_M", default=250.0)
CONSENSUS_MAX_GEOLOCATION_ANSWERS = env.int("CONSENSUS_MAX_GEOLOCATION_ANSWERS", default=6)
CONSENSUS_CLUSTER_EPS_M = env.float("CONSENSUS_CLUSTER_EPS_M", default=2000.0)
CONSENSUS_SKILL_PRIOR_ANSWERS = env.float("CONSENSUS_SKILL_PRIOR_ANSWERS", default=20.0)  # shrinks early skill
# Adaptive redundancy and trust (consensus README, "Trust"): who counts as skilled, what a pin that only repeats the
# text's guess weighs, and when a practice (gold) pin counts as correct for a track record.
CONSENSUS_SKILLED_SKILL = env.float("CONSENSUS_SKILLED_SKILL", default=0.3)
CONSENSUS_VERIFIED_PIN_SKILL = env.float("CONSENSUS_VERIFIED_PIN_SKILL", default=0.3)
CONSENSUS_PRIOR_CONFIRM_WEIGHT = env.float("CONSENSUS_PRIOR_CONFIRM_WEIGHT", default=0.2)
CONSENSUS_GOLD_CORRECT_M = env.float("CONSENSUS_GOLD_CORRECT_M", default=250.0)
CONSENSUS_REFRESH_INTERVAL = timedelta(seconds=env.int("CONSENSUS_REFRESH_INTERVAL_SECONDS", default=900))
CELERY_BEAT_SCHEDULE["consensus-refresh"] = {
    "task": "consensus.tasks.active_crises_refresh",
    "schedule": CONSENSUS_REFRESH_INTERVAL,
}

# --- Text geolocation and relevance -------------------------------------------------------------
# Online geocoder for streets and landmarks: "" (off: offline gazetteer only), "nominatim" or "photon".
GEOCODER_PROVIDER = env.str("GEOCODER_PROVIDER", default="")
GEOCODER_URL = env.str("GEOCODER_URL", default="https://nominatim.openstreetmap.org")
GEOCODER_USER_AGENT = env.str("GEOCODER_USER_AGENT", default="geoloc-platform (crisis image geolocation)")
GEOCODER_MIN_DELAY_SECONDS = env.float("GEOCODER_MIN_DELAY_SECONDS", default=1.0)  # Nominatim policy: 1 req/s
GEOCODER_TIMEOUT_SECONDS = env.float("GEOCODER_TIMEOUT_SECONDS", default=10.0)
GEOLOC_SPACY_MODEL = env.str("GEOLOC_SPACY_MODEL", default="")  # e.g. en_core_web_sm, when installed
GEOLOC_MATCHER = env.str("GEOLOC_MATCHER", default="ngram")  # or "entity_ruler" for small gazetteers
GEOLOC_GAZETTEER_CACHE_DIR = Path(env.str("GEOLOC_GAZETTEER_CACHE_DIR", default=str(VAR_DIR / "gazetteer")))
GEOLOC_ALT_TEXT_WEIGHT = env.float("GEOLOC_ALT_TEXT_WEIGHT", default=0.9)
GEOLOC_OCR_WEIGHT = env.float("GEOLOC_OCR_WEIGHT", default=0.6)  # sign text read by OCR is noisy
# How long a worker reuses a crisis's located posts (the crisis-level prior) before reading them again.
GEOLOC_CRISIS_CONTEXT_SECONDS = env.float("GEOLOC_CRISIS_CONTEXT_SECONDS", default=60.0)
# Which mention becomes a post's point: "packaged" (the learned selector shipped with the code), a weights JSON
# written by manage.py train_geolocation_selector, or "off" (the rules choose).
GEOLOC_SELECTOR_WEIGHTS = env.str("GEOLOC_SELECTOR_WEIGHTS", default="packaged")
RELEVANCE_OCR_ENABLED = env.bool("RELEVANCE_OCR_ENABLED", default=False)  # needs rapidocr-onnxruntime
RELEVANCE_MIN_SIDE_PX = env.int("RELEVANCE_MIN_SIDE_PX", default=100)
RELEVANCE_MAX_ASPECT_RATIO = env.float("RELEVANCE_MAX_ASPECT_RATIO", default=3.0)
RELEVANCE_MAX_TEXT_AREA = env.float("RELEVANCE_MAX_TEXT_AREA", default=0.20)
RELEVANCE_MAX_FLAT_FRACTION = env.float("RELEVANCE_MAX_FLAT_FRACTION", default=0.70)
# The relevance classifier (classification README): trained by train_relevance on people's relevance labels, it
# judges what the rules kept, on the cpu queue. A small backbone: it sees every image that reaches the filter.
RELEVANCE_BACKBONE = env.str("RELEVANCE_BACKBONE", default="tf_efficientnet_lite0")
RELEVANCE_WEIGHTS_PATH = env.str("RELEVANCE_WEIGHTS_PATH", default="")  # local timm state dict, when offline
RELEVANCE_IMAGE_SIZE = env.int("RELEVANCE_IMAGE_SIZE", default=0)  # 0: the backbone's (224 for Lite0)
RELEVANCE_DROP_THRESHOLD = env.float("RELEVANCE_DROP_THRESHOLD", default=0.9)  # p(not relevant) to drop: keep-leaning
# The classifier holds an image back (stage "probably not relevant", reviewed by coordinators) at or above a
# per-crisis threshold chosen from the crisis's own labels so that at most this share of its relevant images is held
# back; RELEVANCE_DROP_THRESHOLD is the threshold until the crisis has this many labelled relevant images scored.
RELEVANCE_HELD_BACK_TARGET = env.float("RELEVANCE_HELD_BACK_TARGET", default=0.03)
RELEVANCE_THRESHOLD_MIN_RELEVANT_LABELS = env.int("RELEVANCE_THRESHOLD_MIN_RELEVANT_LABELS", default=30)
RELEVANCE_MIN_LABELS = env.int("RELEVANCE_MIN_LABELS", default=100)  # labelled images before training is allowed
RELEVANCE_MIN_LABELS_PER_CLASS = env.int("RELEVANCE_MIN_LABELS_PER_CLASS", default=20)
RELEVANCE_DEVICE = env.str("RELEVANCE_DEVICE", default="cpu")  # training and scoring; "auto": CUDA when available
RELEVANCE_TORCH_THREADS = env.int("RELEVANCE_TORCH_THREADS", default=1)  # per worker process; 0: torch's default
RELEVANCE_RETRAIN_MIN_NEW_LABELS = env.int("RELEVANCE_RETRAIN_MIN_NEW_LABELS", default=0)  # 0: never automatic
CELERY_BEAT_SCHEDULE["relevance-retrain-due"] = {  # also brings the crowd's relevance labels up to date
    "task": "classification.tasks.relevance_retrain_due",
    "schedule": timedelta(hours=1),
}

# --- Mapping and privacy ------------------------------------------------------------------------
# mapping (README "Settings"): public coarsening and delay, blurring, retention, export limits, dashboard.
MAP_PUBLIC_GRID_M = env.float("MAP_PUBLIC_GRID_M", default=1000.0)  # public maps snap points to this grid
MAP_PUBLIC_DELAY = timedelta(seconds=env.int("MAP_PUBLIC_DELAY_SECONDS", default=3600))
MAP_PAGE_SIZE = env.int("MAP_PAGE_SIZE", default=10_000)  # features per GeoJSON page (a client may ask up to 50,000)
MAP_LIVE_POLL_SECONDS = env.int("MAP_LIVE_POLL_SECONDS", default=3)  # the map page polls the `since` cursor
MAP_BLUR_FOR_VOLUNTEERS_DEFAULT = env.bool("MAP_BLUR_FOR_VOLUNTEERS_DEFAULT", default=False)  # per crisis in admin
MAP_RETENTION_DAYS = env.int("MAP_RETENTION_DAYS", default=90)  # after a crisis closes: purge posts and originals
# The dashboard's statistics are recomputed when it asks and they are older than this (it polls at this period).
MAP_DASHBOARD_MAX_AGE_SECONDS = env.int("MAP_DASHBOARD_MAX_AGE_SECONDS", default=5)
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"].update(
    {
        "map_export": env.str("MAP_RATE_EXPORT", default="30/hour"),
        "map_features": env.str("MAP_RATE_FEATURES", default="120/min"),  # a live map polls every few seconds
    }
)
CELERY_BEAT_SCHEDULE.update(
    {
        "map-blur-public": {"task": "mapping.tasks.public_images_blur", "schedule": timedelta(minutes=5)},
        "map-retention": {"task": "mapping.tasks.retention_purge_due", "schedule": timedelta(hours=6)},
    }
)

# --- Difficulty classifier ----------------------------------------------------------------------
# classification/difficulty (README): the backbone trained by train_difficulty and how images are scored.
DIFFICULTY_BACKBONE = env.str("DIFFICULTY_BACKBONE", default="tf_efficientnet_b6.ns_jft_in1k")
DIFFICULTY_WEIGHTS_PATH = env.str("DIFFICULTY_WEIGHTS_PATH", default="")  # local timm state dict, when offline
DIFFICULTY_IMAGE_SIZE = env.int("DIFFICULTY_IMAGE_SIZE", default=0)  # 0: the backbone's (528 for B6)
DIFFICULTY_CLASS_MAPPING = env.str("DIFFICULTY_CLASS_MAPPING", default="easy_vs_difficult")
DIFFICULTY_LABEL_METHOD = env.str("DIFFICULTY_LABEL_METHOD", default="dawid_skene")  # or majority_vote
DIFFICULTY_EXCLUDE_WARNED = env.bool("DIFFICULTY_EXCLUDE_WARNED", default=False)
DIFFICULTY_DEVICE = env.str("DIFFICULTY_DEVICE", default="auto")  # auto: CUDA when available
DIFFICULTY_BATCH_SIZE = env.int("DIFFICULTY_BATCH_SIZE", default=32)
DIFFICULTY_BATCH_MAX_WAIT_SECONDS = env.float("DIFFICULTY_BATCH_MAX_WAIT_SECONDS", default=10.0)
DIFFICULTY_MODEL_DIR = Path(env.str("DIFFICULTY_MODEL_DIR", default=str(VAR_DIR / "models")))
DIFFICULTY_RETRAIN_MIN_NEW_LABELS = env.int("DIFFICULTY_RETRAIN_MIN_NEW_LABELS", default=0)  # 0: never automatic
CELERY_BEAT_SCHEDULE["difficulty-retrain-due"] = {
    "task": "classification.tasks.difficulty_retrain_due",
    "schedule": timedelta(hours=1),
}
# Geolocatability estimators (classification/difficulty README): the cold start scores every crisis until a version
# learned from the crisis's own ratings beats it on the crisis's held-back images.
DIFFICULTY_COLD_START = env.bool("DIFFICULTY_COLD_START", default=True)  # install and activate it when none is active
DIFFICULTY_COLD_START_HEAD = Path(  # the head it uses: the one trained by train_cold_start_difficulty, shipped
    env.str("DIFFICULTY_COLD_START_HEAD", default=str(BASE_DIR / "classification/difficulty/coldstart/lite0_head.json"))
)
DIFFICULTY_TORCH_THREADS = env.int("DIFFICULTY_TORCH_THREADS", default=1)  # per worker process; 0: torch's default
DIFFICULTY_CPU_FAST = env.bool("DIFFICULTY_CPU_FAST", default=True)  # channels_last / bf16 on CPU where faster
DIFFICULTY_CPU_TOLERANCE = env.float("DIFFICULTY_CPU_TOLERANCE", default=0.01)  # largest change vs fp32 accepted
DIFFICULTY_LEARN_MIN_RATINGS = env.int("DIFFICULTY_LEARN_MIN_RATINGS", default=30)  # 0: no in-crisis learning
DIFFICULTY_LEARN_NEW_RATINGS = env.int("DIFFICULTY_LEARN_NEW_RATINGS", default=10)  # more since the last try
DIFFICULTY_LEARN_HELD_BACK_SHARE = env.float("DIFFICULTY_LEARN_HELD_BACK_SHARE", default=0.3)
DIFFICULTY_LEARN_MIN_HELD_BACK = env.int("DIFFICULTY_LEARN_MIN_HELD_BACK", default=8)
CELERY_BEAT_SCHEDULE["difficulty-learn-due"] = {
    "task": "classification.tasks.difficulty_learn_due",
    "schedule": timedelta(seconds=env.int("DIFFICULTY_LEARN_INTERVAL_SECONDS", default=300)),
}
