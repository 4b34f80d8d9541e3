"""The AWS emulator: moto in server mode, plus a local Lambda Invoke API for our functions.

* Step Functions really executes state machines (moto's ``execute_state_machine``), so
  executions wait on task tokens; DynamoDB, SQS, Secrets Manager and Glue are moto's.
* ``POST /2015-03-31/functions/<name>/invocations`` — what a state machine's
  ``lambda:invoke`` task calls — runs the registered :class:`LocalFunction` in this
  process, the way ``sam local start-lambda`` would, including Lambda's error payload.
* moto's DynamoDB evaluates a condition and applies the write in separate Python steps
  without a lock; DynamoDB itself makes each item write atomic. The emulator therefore
  handles DynamoDB requests one at a time, which is what the correlation guarantees rely on.

Functions find it through ``AWS_ENDPOINT_URL``; none of them knows it is local.
"""

from __future__ import annotations

import json
import os
import re
import threading
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import unquote

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from local.functions import LocalFunction, error_payload
from local.net import free_port

_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def function_name(reference: str) -> str:
    """``producer``, ``...:function:producer`` or ``...:function:producer:$LATEST`` → ``producer``."""
    reference = unquote(reference)
    if ":function:" in reference:
        reference = reference.split(":function:", 1)[1]
    return reference.split(":", 1)[0]


class _QuietHandler(WSGIRequestHandler):
    """No access log: the demo prints its own timeline."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


class Emulator:
    def __init__(self, functions: Iterable[LocalFunction] = (), *, port: int | None = None) -> None:
        self.port = port or free_port()
        self.functions: dict[str, LocalFunction] = {f.name: f for f in functions}
        self._dynamodb_lock = threading.Lock()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add_function(self, function: LocalFunction) -> None:
        self.functions[function.name] = function

    # -- WSGI --------------------------------------------------------------------------------

    def _app(self, moto_app: WsgiApp) -> WsgiApp:
        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            match = _INVOKE_PATH.match(environ.get("PATH_INFO", ""))
            if match and environ.get("REQUEST_METHOD") == "POST":
                name = function_name(match.group("name"))
                if name in self.functions:
                    return self._invoke(self.functions[name], Request(environ))(environ, start_response)
            if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
                with self._dynamodb_lock:
                    return list(moto_app(environ, start_response))
            return moto_app(environ, start_response)

        return app

    def _invoke(self, function: LocalFunction, request: Request) -> Response:
        raw = request.get_data()
        event = json.loads(raw) if raw else {}
        if request.headers.get("X-Amz-Invocation-Type") == "Event":
            threading.Thread(target=self._run_quietly, args=(function, event), daemon=True).start()
            return Response(status=202)
        try:
            result = function.invoke(event)
        except Exception as error:
            return Response(
                json.dumps(error_payload(error)),
                status=200,
                headers={"X-Amz-Function-Error": "Unhandled", "X-Amz-Executed-Version": "$LATEST"},
                content_type="application/json",
            )
        return Response(json.dumps(result), status=200, content_type="application/json")

    @staticmethod
    def _run_quietly(function: LocalFunction, event: Any) -> None:
        try:
            function.invoke(event)
        except Exception:  # an async invoke's failure is the function's own log line, as in Lambda
            return

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Emulator:
        from moto.server import DomainDispatcherApplication, create_backend_app  # noqa: PLC0415 - dev only

        # moto's Step Functions calls other services (our Lambda functions included) here.
        os.environ["MOTO_PORT"] = str(self.port)
        self._server = make_server(
            "127.0.0.1",
            self.port,
            self._app(DomainDispatcherApplication(create_backend_app)),
            threaded=True,
            request_handler=_QuietHandler,
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="aws-emulator", daemon=True)
        self._thread.start()
        self._post("/moto-api/config", {"stepfunctions": {"execute_state_machine": True}})
        return self

    def reset(self) -> None:
        """Forget every resource (moto's reset), keeping the server and its functions."""
        self._post("/moto-api/reset", None)
        self._post("/moto-api/config", {"stepfunctions": {"execute_state_machine": True}})

    def _post(self, path: str, body: Any) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        request = urllib.request.Request(self.endpoint_url + path, data=data, method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our own http://127.0.0.1 server
            response.read()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def client_environment(self) -> Mapping[str, str]:
        """What a process needs to talk to this emulator with boto3."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
            "AWS_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        }

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
