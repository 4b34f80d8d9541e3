"""The project's Lambda functions, loaded and invoked in this process like Lambda would.

Each :class:`LocalFunction` is one deployed function: a handler from ``functions/<code>/``
plus its own environment. Loading it is its cold start: the module is executed fresh,
under its environment, as a module of its own — so two functions built from the same
code (a correlate-mode and a start-mode consumer) keep separate configurations, as two
Lambda functions would.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.context import LocalLambdaContext

ROOT = Path(__file__).resolve().parent.parent
LAYER_PATH = ROOT / "layers" / "kafka_connector"
FUNCTION_CODES = ("producer", "consumer", "subscribe", "redrive")

_load_lock = threading.Lock()


def ensure_layer_on_path() -> None:
    """Make ``import kafka_connector`` work as it does with the layer attached (/opt/python)."""
    for path in (str(LAYER_PATH), str(ROOT)):
        if path not in sys.path:
            sys.path.insert(0, path)


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class LocalFunction:
    name: str
    code: str
    environment: dict[str, str] = field(default_factory=dict)
    timeout_seconds: float = 60.0
    _handler: Callable[[Any, Any], Any] | None = field(default=None, repr=False)
    _module: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.code not in FUNCTION_CODES:
            raise ValueError(f"unknown function code {self.code!r}; expected one of {FUNCTION_CODES}")

    def handler(self) -> Callable[[Any, Any], Any]:
        if self._handler is None:
            with _load_lock:
                if self._handler is None:
                    self._module = _load(self.name, self.code, self.environment)
                    self._handler = self._module.lambda_handler
        return self._handler

    @property
    def module(self) -> Any:
        """The loaded ``app`` module (its module-level objects: ``consumer``, ``publisher``)."""
        self.handler()
        return self._module

    def shutdown(self) -> None:
        """Lambda's shutdown phase: close what the execution environment kept open."""
        publisher = getattr(self._module, "publisher", None)
        if publisher is not None:
            publisher.close()

    def invoke(self, event: Any) -> Any:
        """Run the handler once with a fresh context; exceptions propagate as Lambda's would."""
        handler = self.handler()
        context = LocalLambdaContext(self.name, timeout_seconds=self.timeout_seconds)
        with environment({"AWS_LAMBDA_FUNCTION_NAME": self.name}):
            return handler(event, context)


def _load(name: str, code: str, env: Mapping[str, str]) -> Any:
    ensure_layer_on_path()
    path = ROOT / "functions" / code / "app.py"
    module_name = f"_local_function_{name.replace('-', '_')}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    with environment(env):
        spec.loader.exec_module(module)
    sys.modules[module_name] = module
    return module


def error_payload(error: BaseException) -> dict[str, Any]:
    """The body Lambda returns for an unhandled exception (``X-Amz-Function-Error: Unhandled``)."""
    return {
        "errorMessage": str(error),
        "errorType": type(error).__name__,
        "stackTrace": traceback.format_tb(error.__traceback__),
    }


def forget_cached_clients() -> None:
    """Drop the layer's cached boto3 clients, made for another endpoint (a new or a stopped emulator)."""
    if "kafka_connector.aws.clients" in sys.modules:
        sys.modules["kafka_connector.aws.clients"].client.cache_clear()
