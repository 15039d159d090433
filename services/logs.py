"""Logging set-up shared by every service: our own INFO lines, libraries only when they warn."""

import logging

QUIET = ("httpx", "aiokafka", "faust", "mode", "uvicorn.access")


def quiet_config() -> dict[str, object]:
    """A `logging.config.dictConfig` that silences the libraries below WARNING (for Faust's
    worker, which configures logging itself)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "loggers": {name: {"level": "WARNING"} for name in QUIET},
    }


def setup_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
