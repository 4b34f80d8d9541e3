"""``python -m local``: the development runtime's commands."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from local.commands import STACK_COMMANDS, add_stack_commands, run_stack_command
from local.functions import FUNCTION_CODES, ensure_layer_on_path


def main(argv: list[str] | None = None) -> int:
    ensure_layer_on_path()
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    invoke = commands.add_parser("invoke", help="run one function with an event, like `sam local invoke -e`")
    invoke.add_argument("function", choices=FUNCTION_CODES)
    invoke.add_argument("event", help="path of the event JSON, e.g. events/producer-json.json")
    invoke.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="override a variable"
    )
    invoke.add_argument("--env-vars", help="SAM-style JSON file of environment variables")
    commands.add_parser("demo", help="the end-to-end scenario on the embedded broker and the emulator")
    add_stack_commands(commands, invoke)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("kafka").setLevel(logging.CRITICAL)  # connection chatter while brokers stop
    # `kill` and `timeout` send SIGTERM: clean up (broker, emulator) exactly as on Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    if args.command in STACK_COMMANDS or getattr(args, "stack", False):
        return run_stack_command(args)
    if args.command == "invoke":
        from local.invoke import invoke as run_invoke  # noqa: PLC0415 - imports the layer, after the path is set
        from local.invoke import parse_env  # noqa: PLC0415

        return run_invoke(args.function, args.event, parse_env(args.env, args.env_vars, args.function))
    from local.demo import run  # noqa: PLC0415

    return run()


if __name__ == "__main__":
    sys.exit(main())
