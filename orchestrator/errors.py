"""User errors: one line on stderr and exit code 2, for every command (local and cluster).

An error the user can fix (a bad spec, data, store, cluster address) is not a traceback: the
commands wear :func:`handles_user_errors`. Imports only the standard library and click; the
error types are imported when an error is caught (they pull in torch and Ray).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

ERROR_PREFIX = "gansweep: error: "  # also how `gansweep submit` finds the driver's error in a job's logs


class UserError(Exception):
    """Base of an error the user can fix that is defined next to the commands (ClusterError): caught
    without this module importing its definer, which imports this module for the decorator."""


def user_errors() -> tuple[type[BaseException], ...]:
    """Exception types that mean "the user can fix this" (imported lazily: keeps --help fast)."""
    from orchestrator.sweep_spec import SpecError
    from orchestrator.tune import SweepError
    from orchestrator.writable import NotWritableError
    from trainers.data import DataError
    from trainers.metrics import FIDWeightsError

    errors: list[type[BaseException]] = [UserError, SpecError, SweepError, DataError, FIDWeightsError,
                                         NotWritableError]
    try:
        from orchestrator.report import ReportError

        errors.append(ReportError)
    except ImportError:
        pass
    return tuple(errors)


def fail(message: str, code: int = 2) -> NoReturn:
    click.echo(f"{ERROR_PREFIX}{message}", err=True)
    sys.exit(code)


def handles_user_errors(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (SystemExit, KeyboardInterrupt, click.exceptions.Exit):
            raise  # before the next clause: building its tuple imports torch and Ray (seconds)
        except user_errors() as err:
            fail(str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__)

    return wrapper  # type: ignore[return-value]
