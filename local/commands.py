"""The stack's subcommands of ``python -m local``: ``up``, ``dlq``, ``table``, ``redrive``, ``--stack``.

Registered by :mod:`local.__main__` with one call each way (:func:`add_stack_commands`,
:func:`run_stack_command`), so the commands' options and dispatch live here. Every command
but ``up`` attaches to the stack ``up`` runs; with none running it says so in one line on
stderr and exits 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from local.inputs import env_pairs

STACK_COMMANDS = ("up", "dlq", "table", "redrive")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def add_stack_commands(commands: Any, invoke: argparse.ArgumentParser) -> None:
    invoke.add_argument(
        "--stack", action="store_true", help="run against the stack `python -m local up` keeps running"
    )
    up = commands.add_parser("up", help="keep the broker, the emulator and the consumer's mapping running")
    up.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="override a consumer variable"
    )
    up.add_argument(
        "--retry-limit",
        type=int,
        default=None,
        help="the mapping's retries before the dead-letter queue (10)",
    )
    for name, what in (("dlq", "the dead-letter queue"), ("table", "the correlation table")):
        show = commands.add_parser(name, help=f"show {what} of the running stack, one line each")
        show.add_argument("--json", action="store_true", help="one JSON document instead")
    redrive = commands.add_parser("redrive", help="replay the running stack's dead-letter queue")
    redrive.add_argument("--max-messages", type=_positive, default=100, help="at most this many (100)")
    redrive.add_argument("--dry-run", action="store_true", help="show what would be replayed; change nothing")
    redrive.add_argument("--json", action="store_true", help="the report as JSON (the function's response)")
    redrive.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="override a consumer variable"
    )


def run_stack_command(args: argparse.Namespace) -> int:
    from local.stack import StackNotRunning  # noqa: PLC0415 - imports boto3 and the layer's helpers

    try:
        return _run(args)
    except StackNotRunning as reason:
        print(reason, file=sys.stderr)
        return 1
    except BrokenPipeError:  # `python -m local table | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _run(args: argparse.Namespace) -> int:
    # Imported here: the layer is on the path by now (local.__main__ put it there).
    from local import inspect, redrive, stack  # noqa: PLC0415

    if args.command == "up":
        limit = stack.DEFAULT_RETRY_LIMIT if args.retry_limit is None else args.retry_limit
        return stack.up(env_pairs(args.env), retry_limit=limit)
    if args.command == "dlq":
        return inspect.dlq(as_json=args.json)
    if args.command == "table":
        return inspect.table(as_json=args.json)
    if args.command == "redrive":
        return redrive.redrive(
            env_pairs(args.env), max_messages=args.max_messages, dry_run=args.dry_run, as_json=args.json
        )
    from local.inputs import parse_env  # noqa: PLC0415 - invoke --stack: the same --env/--env-vars
    from local.resources import function_logical_ids  # noqa: PLC0415

    logical_id = function_logical_ids().get(args.function, args.function)
    return stack.invoke_on_stack(
        args.function, args.event, parse_env(args.env, args.env_vars, args.function, logical_id)
    )
