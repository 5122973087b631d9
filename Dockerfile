# syntax=docker/dockerfile:1
#
# The exosome evidence bot, run from its installed wheel (issue 17, point 4): one image for the Rasa server
# (REST, socket.io, the staff console under /staff, and the widget's page server) and for the action server.
# docker-compose.yml runs it with PostgreSQL and Redis. This file is not built on the development machine,
# which has no Docker engine; docs/operators.md, "Containers", says what is tested instead.
#
# Needs BuildKit (the default builder of Docker Engine 23 and later, and of `docker compose`): the start-up
# script below is an inline here-document.

ARG PYTHON_IMAGE=python:3.10-slim

# ---------------------------------------------------------------------------------------------------------
# build: the project's wheel, the widget bundle and the trained model
# ---------------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    RASA_TELEMETRY_ENABLED=false \
    SQLALCHEMY_SILENCE_UBER_WARNING=1 \
    TF_CPP_MIN_LOG_LEVEL=3 \
    RASA_MAX_CACHE_SIZE=0

# Node.js and npm only for the widget's build (`npm ci` of socket.io-client, pinned in widget/package-lock.json).
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# pip, and setuptools and wheel at the versions Rasa 3.6 works with, as scripts/setup-venv installs them.
RUN pip install --upgrade pip "setuptools==70.3.0" "wheel==0.43.0"

WORKDIR /src
COPY . .

# The project's wheel: the packages bot and actions, and data/ as the package exobot_data (pyproject.toml),
# built as tests/test_package.py builds it.
RUN pip wheel --no-deps --no-build-isolation -w /wheels .

# The wheel and its dependencies, with the project's constraints file when the checkout has one.
RUN if [ -f constraints.txt ]; then pip install -c constraints.txt /wheels/exobot-*.whl; \
    else pip install /wheels/exobot-*.whl; fi \
 && pip check

# The widget bundle (widget/dist/widget.js), built from the checkout as `make widget` builds it.
RUN python -m bot.widget build

# The model, trained by the installed package on its installed data (exobot_data): the same training data
# as `make train`, read from where the running bot reads its facts and term lists. The build stops if the
# data would come from anywhere else.
WORKDIR /opt/exobot
RUN cp /src/config.yml /src/domain.yml /src/credentials.yml /src/endpoints.yml . \
 && data=$(python -c "import bot.paths; print(bot.paths.DATA)") \
 && case "$data" in */site-packages/exobot_data) ;; \
      *) echo "error: the training data are not the installed package's: $data" >&2; exit 1 ;; esac \
 && rasa train --config config.yml --domain domain.yml --data "$data" \
      --skip-validation --fixed-model-name current --out models \
 && python -m bot.kb

# ---------------------------------------------------------------------------------------------------------
# runtime: the virtual environment with the installed wheel, the model, and the files the wheel does not ship
# ---------------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}

# tzdata: the support hours' time zone (data/support.yml, SUPPORT_TIMEZONE) is looked up with zoneinfo.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tzdata \
 && rm -rf /var/lib/apt/lists/*

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    RASA_TELEMETRY_ENABLED=false \
    SQLALCHEMY_SILENCE_UBER_WARNING=1 \
    TF_CPP_MIN_LOG_LEVEL=3 \
    PYTHONWARNINGS=ignore

RUN useradd --create-home --uid 1001 --shell /usr/sbin/nologin exobot \
 && install -d -m 0700 -o exobot -g exobot /home/exobot/.local /home/exobot/.local/state \
      /home/exobot/.local/state/exobot

COPY --from=build /opt/venv /opt/venv
# The model trained above (mount another one over it to replace it), credentials.yml (messaging channels stay
# off until their settings are in the environment) and endpoints.yml (the start-up script copies it).
COPY --from=build /opt/exobot/models/current.tar.gz /opt/exobot/models/current.tar.gz
COPY --from=build /opt/exobot/credentials.yml /opt/exobot/endpoints.yml /opt/exobot/
# The wheel does not ship the widget: bot.widget serves widget/dist/widget.js and widget/demo/index.html from
# next to the installed package (bot.paths.ROOT, the site-packages folder), so they go there.
COPY --from=build /src/widget/dist/widget.js /opt/venv/lib/python3.10/site-packages/widget/dist/widget.js
COPY --from=build /src/widget/demo/index.html /opt/venv/lib/python3.10/site-packages/widget/demo/index.html

# The Rasa server's start: what bot.serve does for `make run`, for one container.
COPY <<'PY' /opt/exobot/start_rasa.py
"""Start the container's Rasa server as `make run` (bot.serve) starts it, with the widget's page server.

1. The tracker store (TRACKER_DB_URL) and, when REDIS_URL is set, the Redis lock store must answer, or the
   container stops with an error naming the setting (Rasa alone would keep conversations in memory only).
2. A private copy of endpoints.yml (0600, in a 0700 folder) names the action server (ACTION_HOST, ACTION_PORT,
   with ACTION_SERVER_TOKEN) and, from REDIS_URL, the Redis lock store, as bot.serve writes it.
3. The widget's page server (`python -m bot.widget serve`) starts on WIDGET_PORT.
4. This process becomes `python -m bot.runtime run ...`: `rasa run`, with RASA_API_TOKEN and RASA_JWT_SECRET
   read from the environment, request bodies limited to SANIC_REQUEST_MAX_SIZE (64 KB by default) and
   private log lines.

Usage: python /opt/exobot/start_rasa.py [--model PATH]
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from bot.runtime import PRIVATE_UMASK, private_file
from bot.serve import DEFAULT_REQUEST_MAX_SIZE, QUIET_ENV, ServerSettings, StartupError, check_stores
from bot.serve import lock_store_settings
from bot.widget import server_command

HOME = Path(__file__).resolve().parent  # /opt/exobot


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=HOME / "models" / "current.tar.gz")
    args = parser.parse_args()
    os.umask(PRIVATE_UMASK)
    env = {**QUIET_ENV, **os.environ}
    settings = ServerSettings(
        model=args.model, rasa_port=int(env.get("RASA_PORT") or 5005), action_port=int(env.get("ACTION_PORT") or 5055),
        widget_port=int(env.get("WIDGET_PORT") or 5080), host=env.get("BOT_HOST") or "0.0.0.0",
        cors=env.get("CORS_ORIGINS"),
    )
    try:
        check_stores(env)
        if not settings.model.is_file():
            raise StartupError(f"No trained model at {settings.model}. Build the image (it trains one) or mount one there.")
        endpoints = yaml.safe_load((HOME / "endpoints.yml").read_text(encoding="utf-8")) or {}
        endpoints["action_endpoint"] = {"url": settings.action_url}
        token = env.get("ACTION_SERVER_TOKEN", "").strip()
        if token:
            endpoints["action_endpoint"]["token"] = token  # checked by bot.action_server
        lock_store = lock_store_settings(env)
        if lock_store:
            endpoints["lock_store"] = lock_store
    except StartupError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return 1
    path = Path(tempfile.mkdtemp(prefix="exobot-")) / "endpoints.yml"
    private_file(path, create=True)
    path.write_text(yaml.safe_dump(endpoints, sort_keys=False), encoding="utf-8")
    subprocess.Popen(server_command(settings.host, settings.widget_port, settings.rasa_port), env=env)
    env["SANIC_REQUEST_MAX_SIZE"] = env.get("SANIC_REQUEST_MAX_SIZE") or str(DEFAULT_REQUEST_MAX_SIZE)
    print(f"Rasa server on port {settings.rasa_port} (staff console /staff/), widget page on port "
          f"{settings.widget_port}, actions at {settings.action_url}; CORS {' '.join(settings.cors_origins)}",
          flush=True)
    command = [sys.executable, "-m", "bot.runtime", "run", "--model", str(settings.model),
               "--credentials", str(HOME / "credentials.yml"), "--endpoints", str(path),
               "--port", str(settings.rasa_port), "--interface", settings.host, "--cors", *settings.cors_origins]
    os.execve(sys.executable, command, env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
PY

USER exobot
WORKDIR /home/exobot
EXPOSE 5005 5055 5080

# The Rasa server (with the staff console and the widget's page server). The action server is the same image
# with `python -m bot.action_server --port 5055` and ACTION_HOST=0.0.0.0 plus ACTION_SERVER_TOKEN.
CMD ["python", "/opt/exobot/start_rasa.py"]
