"""The one family of errors the command-line tools turn into a message and an exit status; library
code raises these, never SystemExit, so that a caller (a notebook, a test) can catch them.

    try:
        run_sweep(spec, options, dataset)
    except PipelineError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(err.exit_status)
"""

from __future__ import annotations


class PipelineError(Exception):
    """Something the run cannot go past; the message says what and where."""

    exit_status = 1


class UserError(PipelineError):
    """Input the user can fix: a spec key, a dataset path, a samples file, a sweep name (exit 2)."""

    exit_status = 2


class TrackingUnavailable(PipelineError):
    """The MLflow tracking store cannot be reached or opened: nothing could be logged (exit 1)."""


class NothingToResume(UserError):
    """--resume names a sweep that is not there, or whose Tune results are gone."""


class NothingToExtend(UserError):
    """--extend names a sweep that is not there, that another spec made, or that has no new point to run."""
