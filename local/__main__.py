"""``python -m local``: the development runtime's commands (docs/local-runtime.md).

One subparser per command, each with a ``run`` callable taking the parsed arguments. A
user's mistake (a missing file, invalid JSON, an unknown parameter, a broker that does not
answer) ends in one line on stderr and exit status 2 (1 for something unavailable); Ctrl-C
in ``interrupted`` and 130; a defect in one line too, with the traceback under ``--verbose``.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import traceback
from collections.abc import Callable

from local.commands import STACK_COMMANDS, add_stack_commands, run_stack_command
from local.functions import FUNCTION_CODES, ensure_layer_on_path

Command = Callable[[argparse.Namespace], int]


def _run_invoke(args: argparse.Namespace) -> int:
    from local.invoke import QUIET, VERBOSE, InvokeRequest, invoke  # noqa: PLC0415 - imports the layer

    verbosity = QUIET if args.quiet else VERBOSE if args.verbose else 1
    return invoke(
        InvokeRequest(
            function=args.function,
            event=args.event,
            env=args.env,
            env_vars=args.env_vars,
            parameter_overrides=args.parameter_overrides,
            start_executions=args.start_execution,
            verbosity=verbosity,
        )
    )


def _run_demo(args: argparse.Namespace) -> int:
    from local.demo import run  # noqa: PLC0415

    return run()


def _add_invoke(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    invoke = commands.add_parser(
        "invoke", help="run one function with an event, like `sam local invoke -e`", description=None
    )
    invoke.add_argument("function", choices=FUNCTION_CODES)
    invoke.add_argument("event", help="path of the event JSON (events/…), or - for standard input")
    invoke.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="set a variable")
    invoke.add_argument("--env-vars", metavar="FILE", help="SAM-style JSON file of environment variables")
    invoke.add_argument(
        "--parameter-overrides",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="template parameters, as sam local invoke takes them (e.g. ConnectorMode=start)",
    )
    invoke.add_argument(
        "--start-execution",
        action="append",
        default=[],
        metavar="STATE_MACHINE=INPUT",
        help="first start an execution of a template state machine and let it wait on its task token",
    )
    amount = invoke.add_mutually_exclusive_group()
    amount.add_argument("-q", "--quiet", action="store_true", help="stderr: errors only")
    amount.add_argument(
        "-v", "--verbose", action="store_true", help="stderr: every log line, metrics, the environment"
    )
    invoke.set_defaults(run=_run_invoke)
    return invoke


def _add_demo(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser("demo", help="the end-to-end scenario on the embedded broker and the emulator")
    demo.set_defaults(run=_run_demo)


def _configure_logging(verbose: bool, quiet: bool) -> None:
    """Libraries' log records to stderr: WARNING and above (DEBUG with --verbose, none with --quiet).

    The root logger stays at WARNING at least, so that the consumer's per-record lines reach
    the in-process capture of ``invoke`` whatever is shown.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.DEBUG if verbose else logging.CRITICAL + 1 if quiet else logging.WARNING)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    logging.getLogger("kafka").setLevel(logging.CRITICAL)  # connection chatter while brokers stop
    for name in ("botocore", "boto3", "urllib3"):  # "found credentials", "found endpoint": every client
        logging.getLogger(name).setLevel(logging.WARNING)
    if not verbose:  # the emulator's own logs (moto reports a failed execution's every state at ERROR)
        for name in ("moto", "werkzeug"):
            logging.getLogger(name).setLevel(logging.CRITICAL)


def main(argv: list[str] | None = None) -> int:
    ensure_layer_on_path()
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    invoke = _add_invoke(commands)
    _add_demo(commands)
    add_stack_commands(commands, invoke)
    args = parser.parse_args(argv)
    if args.command in STACK_COMMANDS or getattr(args, "stack", False):
        args.run = run_stack_command  # up, dlq, table, redrive, and invoke --stack: the running stack
    verbose, quiet = getattr(args, "verbose", False), getattr(args, "quiet", False)
    _configure_logging(verbose, quiet)
    # `kill` and `timeout` send SIGTERM: clean up (broker, emulator) exactly as on Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    return run(args.run, args, verbose)


def run(command: Command, args: argparse.Namespace, verbose: bool = False) -> int:
    """``command(args)`` with every ending a user may meet turned into one line on stderr."""
    from local.inputs import Unavailable, UsageError  # noqa: PLC0415
    from local.template import TemplateError  # noqa: PLC0415

    try:
        return command(args)
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
    except (UsageError, Unavailable) as error:
        _say(f"error: {error}")
        return error.exit_status
    except TemplateError as error:
        _say(f"error: {error}")
        return 2
    except Exception as error:
        if verbose:
            traceback.print_exc()
        _say(f"error: unexpected {type(error).__name__}: {error} (--verbose shows the traceback)")
        return 1


def _say(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main())
