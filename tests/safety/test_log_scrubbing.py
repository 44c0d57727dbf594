"""No log line carries a secret, whatever logger, handler or argument style produced it."""

from __future__ import annotations

import io
import logging

import pytest

from venice_keys_mcp.safety.secrets import REDACTED, Scrubber, install_log_scrubber


@pytest.fixture
def log_scrubber():
    installed = install_log_scrubber(Scrubber())
    yield installed
    installed.uninstall()


@pytest.fixture
def stream_logger():
    """A logger that does not propagate, with a real StreamHandler added after install."""

    def make(name: str, fmt: str = "%(levelname)s %(message)s") -> tuple[logging.Logger, io.StringIO]:
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter(fmt))
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.propagate = False
        logger.setLevel(logging.DEBUG)
        made.append((logger, handler))
        return logger, stream

    made: list[tuple[logging.Logger, logging.Handler]] = []
    yield make
    for logger, handler in made:
        logger.removeHandler(handler)
        logger.propagate = True


def test_percent_args_are_scrubbed_in_caplog(log_scrubber, caplog, canary):
    caplog.set_level(logging.INFO)
    logging.getLogger("venice_keys_mcp.test").info("created key %s for %s", canary, "alice")
    assert canary not in caplog.text
    assert caplog.messages == [f"created key {REDACTED} for alice"]


def test_message_itself_is_scrubbed(log_scrubber, caplog, canary):
    caplog.set_level(logging.INFO)
    logging.getLogger("venice_keys_mcp.test").warning(f"inline {canary}")
    assert canary not in caplog.text and REDACTED in caplog.text


def test_mapping_args_and_non_string_messages_are_scrubbed(log_scrubber, caplog, canary):
    caplog.set_level(logging.INFO)
    log = logging.getLogger("venice_keys_mcp.test")
    log.info("%(key)s", {"key": canary})
    log.info({"payload": canary})
    log.info("%s", ValueError(f"bad key {canary}"))
    assert canary not in caplog.text
    assert len(caplog.records) == 3


def test_exception_text_is_scrubbed(log_scrubber, stream_logger, canary):
    logger, stream = stream_logger("venice_keys_mcp.test.exc")
    try:
        raise RuntimeError(f"Venice said no to {canary}")
    except RuntimeError:
        logger.exception("request failed")
    output = stream.getvalue()
    assert canary not in output
    assert "Traceback" in output and f"RuntimeError: Venice said no to {REDACTED}" in output


def test_handler_added_after_install_on_a_non_propagating_logger_is_covered(
    log_scrubber, stream_logger, canary
):
    logger, stream = stream_logger("venice_keys_mcp.test.late")
    logger.debug("Authorization: Bearer %s", "abcdefghijklmnop123")
    logger.error("secret %s", canary)
    output = stream.getvalue()
    assert canary not in output and "abcdefghijklmnop123" not in output
    assert output.count(REDACTED) == 2


def test_extra_fields_are_scrubbed_by_root_handlers(canary):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s detail=%(detail)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    installed = install_log_scrubber(Scrubber())
    try:
        logging.getLogger("venice_keys_mcp.test.extra").warning("call", extra={"detail": canary})
    finally:
        installed.uninstall()
        root.removeHandler(handler)
    assert canary not in stream.getvalue()
    assert f"detail={REDACTED}" in stream.getvalue()


def test_configured_literal_secret_is_scrubbed(caplog):
    literal = "configured-admin-secret-value"
    installed = install_log_scrubber(Scrubber([literal]))
    try:
        caplog.set_level(logging.INFO)
        logging.getLogger("venice_keys_mcp.test").info("using %s", literal)
    finally:
        installed.uninstall()
    assert literal not in caplog.text


def test_uninstall_restores_the_record_factory_and_removes_filters():
    before = logging.getLogRecordFactory()
    installed = install_log_scrubber(Scrubber())
    assert logging.getLogRecordFactory() is not before
    assert installed in logging.getLogger().filters
    installed.uninstall()
    assert logging.getLogRecordFactory() is before
    assert installed not in logging.getLogger().filters
    assert all(installed not in h.filters for h in logging.getLogger().handlers)


def test_bad_format_string_neither_crashes_nor_leaks(log_scrubber, stream_logger, canary):
    logger, stream = stream_logger("venice_keys_mcp.test.badfmt")
    logger.info("%d items", canary)
    assert canary not in stream.getvalue()


def test_installing_the_same_scrubber_twice_is_one_installation():
    scrubber = Scrubber()
    first = install_log_scrubber(scrubber)
    try:
        assert install_log_scrubber(scrubber) is first
    finally:
        first.uninstall()
    assert first not in logging.getLogger().filters
