"""Write the HTML report of a sweep from its MLflow runs.

    python -m pipeline.report dropout                      # newest 'dropout' sweep in ./mlflow.db
    python -m pipeline.report ring8 --tracking-uri http://127.0.0.1:5000 --out /tmp/ring8.html
    python -m pipeline.report big --detail 10              # only the top 10 trials drawn in full
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.errors import PipelineError
from pipeline.report.render import write_report
from pipeline.tracking.location import add_sweep_arguments, resolve_tracking_uri


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.report",
        description="Rank the trials of a sweep tracked in MLflow and write one self-contained HTML report.",
    )
    add_sweep_arguments(parser)
    parser.add_argument("--out", type=Path, default=None, help="output file (default: reports/NAME.html)")
    parser.add_argument("--detail", type=int, default=None, metavar="K",
                        help="draw the top K trials in full (sample grids, curves); the rest are one leaderboard "
                        "row each (default: the sweep's report.detail, 20)")
    args = parser.parse_args(argv)
    uri = resolve_tracking_uri(args.tracking_uri)
    out = args.out or Path("reports") / f"{args.name}.html"
    try:
        write_report(args.name, uri, out, parent_run_id=args.run_id, detail=args.detail)
    except PipelineError as err:  # SweepNotFound (exit 2), ...
        print(f"error: {err}", file=sys.stderr)
        return err.exit_status
    print(f"Report: {out.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
