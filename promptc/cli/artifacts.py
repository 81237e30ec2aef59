"""``promptc show``, ``diff``, ``validate``, ``keys new``, ``sign`` and ``rehash``: artifacts
read, compared, checked and signed, without any LM."""

from __future__ import annotations

import argparse

from promptc._artifact import artifact as art
from promptc.cli.common import EXIT_ARTIFACT, EXIT_DIFF, EXIT_OK, terminal_safe
from promptc.exceptions import PromptcError

__all__ = [
    "add_parsers",
    "cmd_diff",
    "cmd_keys_new",
    "cmd_rehash",
    "cmd_show",
    "cmd_sign",
    "cmd_validate",
]


def cmd_show(args: argparse.Namespace) -> int:
    """Print a readable view of one artifact."""
    from promptc.cli.show import show_artifact

    print(terminal_safe(show_artifact(art.load_artifact(args.artifact), full=args.full)))
    return EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    """Print what changed between two artifacts; exit 1 if anything did."""
    from promptc.cli.show import diff_artifacts

    text = diff_artifacts(art.load_artifact(args.old), art.load_artifact(args.new))
    print(terminal_safe(text) or "no differences")
    return EXIT_DIFF if text else EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    """Check each artifact (and its signature with ``--verify``); one line per file."""
    if args.verify:
        from promptc._artifact.signing import check_public_key

        check_public_key(args.verify)  # a bad key is a usage error, not a bad artifact
    bad = 0
    for path in args.artifacts:
        try:
            a = art.load_artifact(path, verify=args.verify)
        except (PromptcError, OSError) as exc:  # whatever is wrong, go on to the next file
            bad += 1
            text = " ".join(str(exc).split())
            shown = text if str(path) in text else f"{path}: {text}"
            print(f"INVALID {terminal_safe(shown)}", flush=True)
        else:
            signed = ", signature ok" if args.verify else ""
            line = f"ok      {path} ({a.program.name}, {len(a.predictors)} predictor(s){signed})"
            print(terminal_safe(line))
    return EXIT_ARTIFACT if bad else EXIT_OK


def cmd_keys_new(args: argparse.Namespace) -> int:
    """Write a new Ed25519 key pair."""
    from promptc._artifact.signing import new_keys

    private, public = new_keys(args.out)
    print(f"private key {private} (mode 0600: keep it where artifacts are built, never ship it)")
    print(f"public key  {public} (ship this one: promptc.load(path, verify={str(public)!r}))")
    return EXIT_OK


def cmd_sign(args: argparse.Namespace) -> int:
    """Sign an artifact in place or to ``--output``."""
    from promptc._artifact.signing import sign_artifact

    signed = sign_artifact(art.load_artifact(args.artifact), args.key)
    out = art.save_artifact(signed, args.output or args.artifact)
    key_id = signed.signature.key_id if signed.signature else "?"
    print(f"signed {out} (ed25519, key {key_id})")
    return EXIT_OK


def cmd_rehash(args: argparse.Namespace) -> int:
    """Accept a reviewed hand edit: validate, rewrite the hash, record the edit."""
    from promptc._artifact.signing import rehash_artifact

    _, message = rehash_artifact(args.artifact)
    print(message)
    return EXIT_OK


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare the artifact commands and their options on the subcommand set ``sub``."""
    s = sub.add_parser("show", help="a readable view of an artifact")
    s.add_argument("artifact")
    s.add_argument("--full", action="store_true", help="print demo values uncut")
    s.set_defaults(func=cmd_show)

    d = sub.add_parser("diff", help="what changed between two artifacts (exit 1 if anything)")
    d.add_argument("old")
    d.add_argument("new")
    d.set_defaults(func=cmd_diff)

    v = sub.add_parser("validate", help="check artifacts against the schema and their hashes")
    v.add_argument("artifacts", nargs="+")
    v.add_argument("--verify", metavar="PUBLIC_KEY", help="require a valid signature by this key")
    v.set_defaults(func=cmd_validate)

    k = sub.add_parser("keys", help="signing keys for artifacts (Ed25519)")
    kn = k.add_subparsers(dest="keys_command", required=True).add_parser(
        "new", help="write a new key pair: the private key 0600, the public key beside it"
    )
    kn.add_argument("--out", required=True, metavar="DIR", help="folder for the two key files")
    kn.set_defaults(func=cmd_keys_new)

    g = sub.add_parser("sign", help="sign an artifact (tamper evidence for promptc.load(verify=))")
    g.add_argument("artifact")
    g.add_argument("--key", required=True, metavar="PRIVATE_KEY", help="from `promptc keys new`")
    g.add_argument("-o", "--output", help="write the signed artifact here (default: in place)")
    g.set_defaults(func=cmd_sign)

    h = sub.add_parser(
        "rehash", help="accept a reviewed hand edit: validate, rewrite the hash, record the edit"
    )
    h.add_argument("artifact")
    h.set_defaults(func=cmd_rehash)
