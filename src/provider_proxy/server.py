"""Serving the app with uvicorn."""

from __future__ import annotations

import logging
import os

import uvicorn

from provider_proxy.config.proxy_config import build_config
from provider_proxy.config.settings import Settings
from provider_proxy.main import create_app
from provider_proxy.utils.logging import configure_logging

logger = logging.getLogger(__name__)


def run(settings: Settings) -> None:
    config = build_config(settings)
    configure_logging(settings.log_level, config.secrets)
    default = config.providers["default"]
    logger.info(
        "serving on http://%s:%d; default provider %s (%s) at %s; opus -> %s, sonnet -> %s, haiku -> %s",
        settings.host,
        settings.port,
        default.name,
        default.profile.kind,
        default.base_url,
        settings.big_model,
        settings.sonnet_model,
        settings.small_model,
    )
    if settings.workers > 1:
        # Workers build their own settings from the environment: hand them the command-line choices.
        if settings.config_file:
            os.environ["CONFIG_FILE"] = str(settings.config_file)
        os.environ["LOG_LEVEL"] = settings.log_level
        uvicorn.run(
            "provider_proxy.server:app_from_env",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_config=None,
            access_log=False,
        )
        return
    uvicorn.run(
        create_app(settings, config),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
    )


def app_from_env() -> object:
    """Worker entry point for `--workers N`: each worker builds its app from the same environment."""
    from provider_proxy.config.settings import load_settings

    settings = load_settings()
    configure_logging(settings.log_level, build_config(settings).secrets)
    return create_app(settings)
