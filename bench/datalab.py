"""`python -m bench.datalab`: the datalab's median of 10 frames of 2k x 2k against numpy's median of the same arrays.

Not measurable yet: the datalab app of this project has no operations (its issue is still open), so there is no
median operation to time. This says so, and why, rather than timing something else under its name.
"""

import argparse
import importlib.util

from bench.common import add_database_argument, heading, record, say

TARGET_RATIO = 1.5
OPERATION_MODULE = "datalab.operations"


def availability() -> str | None:
    """None when the datalab has operations to measure, else the reason it cannot be measured."""
    if importlib.util.find_spec(OPERATION_MODULE) is None:
        return (
            "the datalab app has no operations yet (datalab/ holds only its app configuration; "
            f"{OPERATION_MODULE} does not exist), so there is no median operation to time against numpy"
        )
    return "the datalab has operations now, but this benchmark does not drive them yet: add it here"


def run() -> dict:
    heading("Datalab: median of 10 frames of 2k x 2k against numpy")
    reason = availability()
    say(f"  NOT AVAILABLE: {reason}.")
    return {"available": False, "reason": reason, "target_ratio": TARGET_RATIO, "verdict": "not measured"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_database_argument(parser)
    args = parser.parse_args(argv)
    record("datalab", run(), database=args.database)


if __name__ == "__main__":
    main()
