"""`LeanRoute`: FastAPI's route class, with each route's dependencies solved by a plan made
once per route instead of being worked out again on every request.

FastAPI's `solve_dependencies` walks a route's dependency tree anew for every request: for
every node it makes a `Response`, classifies the callable, computes its cache key, checks
the overrides, reads the query string and cookies to validate parameters it may not have,
and walks again under every repeat of a cached dependency (the hold's tree has 17 nodes;
`current_user` and its three are walked twice, `get_tx` three times). Profiled on the
flash sale's requests that bookkeeping was about a fifth of a request's CPU in the app.
Here the tree is read once: which nodes are generators or coroutines, their cache keys,
which parameters each validates; a request then does only the calls and validations.

What a request sees is FastAPI's own behaviour, kept step for step: dependencies in
declaration order, each solved before its parent and at most once (cached by FastAPI's
key); a dependency whose own parameters fail is not called and the errors are gathered and
raised together as `RequestValidationError` after the others ran; generator dependencies
entered by FastAPI's own `_solve_generator` on its request or function exit stack (their
exits shielded from cancellation); the body read and decoded as FastAPI does (its
content-type rule, its `json_invalid` error); parameters and bodies validated by FastAPI's
own functions (a query, header or cookie parameter not sent, optional with an immutable
default FastAPI does not validate, takes that default without the walk); the response
validated and dumped by FastAPI's `serialize_response`. A route or an
override set using anything else (sync callables, `Response` / `BackgroundTasks` /
`SecurityScopes` parameters, OAuth scopes, `use_cache=False`, forms, streaming, a limit on
a dependency's concurrency) and any request while FastAPI's telemetry is on get FastAPI's
stock handler, unchanged.
"""

import email.message
import functools
import json
from collections.abc import Callable, Coroutine, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any, cast

from fastapi import params
from fastapi._body_limit import get_body_limit_error
from fastapi._compat import ModelField, Undefined
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.models import (
    Dependant,
    _get_cache_key,
    _is_async_gen_callable,
    _is_coroutine_callable,
)
from fastapi.dependencies.utils import (
    _get_param_aliases,
    _get_param_model,
    _solve_generator,
    get_dependant,
    request_body_to_args,
    request_params_to_args,
)
from fastapi.exceptions import EndpointContext, RequestValidationError
from fastapi.routing import (
    APIRoute,
    _effective_route_context_var,
    _extract_endpoint_context,
    serialize_response,
)
from fastapi.telemetry._api import get_telemetry_data
from fastapi.utils import is_body_allowed_for_status_code
from starlette.exceptions import HTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.requests import Request
from starlette.responses import Response

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


@dataclass(slots=True)
class _Node:
    """One dependency as a request solves it (FastAPI's `Dependant`, read once)."""

    dependant: Dependant
    call: Callable[..., Any]
    name: str | None
    key: Any
    generator: bool
    function_scope: bool
    children: "tuple[_Node, ...]"
    path: tuple[ModelField, ...]
    query: tuple[ModelField, ...]
    header: tuple[ModelField, ...]
    cookie: tuple[ModelField, ...]
    body: list[ModelField]
    request_names: tuple[str, ...]
    """Its `Request` and `HTTPConnection` parameters."""
    validates: bool
    """This node or one below it validates a parameter or body (so may report errors)."""
    absent: "dict[str, tuple[tuple[str, ...], dict[str, Any]]]"
    """Per source (`query_params`, `headers`, `cookies`) whose every parameter is optional
    with an immutable default not validated: the keys any of them is read by, and their
    values when none of those keys is sent (what FastAPI's validation then gives)."""


class _Unsupported(Exception):
    """Something only FastAPI's own solver does."""


def _compile(
    dependant: Dependant, key: Any, overrides: Mapping[Any, Any], is_root: bool = False
) -> _Node:
    d = dependant
    if (
        d.background_tasks_param_name
        or d.response_param_name
        or d.security_scopes_param_name
        or d.websocket_param_name
        or d.own_oauth_scopes
        or d.parent_oauth_scopes
        or not d.use_cache
        or getattr(d, "concurrency", None) is not None
        or any(isinstance(f.field_info, params.Form) for f in d.body_params)
    ):
        raise _Unsupported
    generator = _is_async_gen_callable(d.call)
    if not is_root and not generator and not _is_coroutine_callable(d.call):
        raise _Unsupported  # sync functions, sync generators, classes: a thread pool
    children = []
    for sub in d.dependencies:
        use = sub
        if sub.call in overrides:  # as FastAPI: the override's own signature, the original's key
            use = get_dependant(
                path=cast(str, sub.path),
                call=overrides[sub.call],
                name=sub.name,
                parent_oauth_scopes=sub.parent_oauth_scopes,
                scope=sub.scope,
                concurrency=getattr(sub, "concurrency", None),
            )
        children.append(_compile(use, _get_cache_key(dependant=sub), overrides))
    path, query = tuple(d.path_params), tuple(d.query_params)
    header, cookie, body = tuple(d.header_params), tuple(d.cookie_params), list(d.body_params)
    return _Node(
        dependant=d,
        call=cast(Callable[..., Any], d.call),
        name=d.name,
        key=key,
        generator=generator,
        function_scope=d.scope == "function",
        children=tuple(children),
        path=path,
        query=query,
        header=header,
        cookie=cookie,
        body=body,
        request_names=tuple(
            n for n in (d.request_param_name, d.http_connection_param_name) if n is not None
        ),
        validates=bool(path or query or header or cookie or body)
        or any(c.validates for c in children),
        absent={
            source: defaults
            for source, fields in (
                ("query_params", query),
                ("headers", header),
                ("cookies", cookie),
            )
            if (defaults := _absent(fields)) is not None
        },
    )


_IMMUTABLE = (type(None), bool, int, float, str, bytes)


def _absent(fields: tuple[ModelField, ...]) -> tuple[tuple[str, ...], dict[str, Any]] | None:
    """For `_Node.absent`: when every field, not sent, is its default as FastAPI gives it
    (`deepcopy` of an immutable default, unvalidated), the keys read and those values."""
    if not fields:
        return None
    keys: list[str] = []
    values: dict[str, Any] = {}
    for field in fields:
        info = field.field_info
        if (
            _get_param_model(field) is not None
            or info.is_required()
            or info.validate_default
            or type(field.default) not in _IMMUTABLE
        ):
            return None
        keys.extend(key for _, key in _get_param_aliases(field))
        values[field.name] = field.default
    return tuple(keys), values


class _Solver:
    __slots__ = ("body", "cache", "embed", "request")

    def __init__(self, request: Request, body: Any, embed: bool) -> None:
        self.request = request
        self.body = body
        self.embed = embed
        self.cache: dict[Any, Any] = {}

    async def solve(self, node: _Node) -> tuple[dict[str, Any], list[Any]]:
        values: dict[str, Any] = {}
        errors: list[Any] = []
        cache = self.cache
        for child in node.children:
            if child.key in cache and not child.validates:
                solved = cache[child.key]  # FastAPI walks it again and finds the same
            else:
                sub_values, sub_errors = await self.solve(child)
                if sub_errors:
                    errors.extend(sub_errors)
                    continue
                if child.key in cache:
                    solved = cache[child.key]
                elif child.generator:
                    solved = await self._enter(child, sub_values)
                else:
                    solved = await child.call(**sub_values)
            if child.name is not None:
                values[child.name] = solved
            if child.key not in cache:
                cache[child.key] = solved
        request = self.request
        for fields, source in (
            (node.path, "path_params"),
            (node.query, "query_params"),
            (node.header, "headers"),
            (node.cookie, "cookies"),
        ):
            if fields:
                received = getattr(request, source)
                absent = node.absent.get(source)
                if absent is not None:
                    keys, defaults = absent
                    if not any(key in received for key in keys):
                        values.update(defaults)
                        continue
                found, failed = request_params_to_args(fields, received)
                values.update(found)
                errors += failed
        if node.body:
            found, failed = await request_body_to_args(
                body_fields=node.body, received_body=self.body, embed_body_fields=self.embed
            )
            values.update(found)
            errors.extend(failed)
        for name in node.request_names:
            values[name] = request
        return values, errors

    async def _enter(self, node: _Node, values: dict[str, Any]) -> Any:
        """A generator dependency, entered as FastAPI enters it (its exit shielded from
        cancellation), on the function's exit stack or the request's."""
        scope = self.request.scope
        stack = scope["fastapi_function_astack" if node.function_scope else "fastapi_inner_astack"]
        return await _solve_generator(
            dependant=node.dependant,
            stack=cast(AsyncExitStack, stack),
            sub_values=values,
            request=self.request,
        )


class LeanRoute(APIRoute):
    """An `APIRoute` whose requests are solved by a plan made once (see the module)."""

    def get_route_handler(self) -> Handler:
        stock = super().get_route_handler()
        effective = _effective_route_context_var.get()
        route: Any = (
            effective if effective is not None and effective.original_route is self else self
        )
        if (
            route.is_sse_stream
            or route.is_json_stream
            or not _is_coroutine_callable(route.dependant.call)
        ):
            return stock
        lean = _Lean(route, stock)
        return lean.handle if lean.plan({}) is not None else stock


class _Lean:
    """One route's plan and its request handler."""

    def __init__(self, route: Any, stock: Handler) -> None:
        self.stock = stock
        self.dependant: Dependant = route.dependant
        self.call = cast(Callable[..., Coroutine[Any, Any, Any]], route.dependant.call)
        self.body_field: ModelField | None = route.body_field
        self.embed: bool = route._embed_body_fields
        self.status_code: int | None = route.status_code
        self.response_field: ModelField | None = route.response_field
        self.dump_json = self.response_field is not None and isinstance(
            route.response_class, DefaultPlaceholder
        )
        response_class = route.response_class
        self.response_class: type[Response] = (
            response_class.value
            if isinstance(response_class, DefaultPlaceholder)
            else response_class
        )
        strict = route.strict_content_type
        self.strict_content_type: bool = (
            strict.value if isinstance(strict, DefaultPlaceholder) else strict
        )
        self.serialize_options = {
            "include": route.response_model_include,
            "exclude": route.response_model_exclude,
            "by_alias": route.response_model_by_alias,
            "exclude_unset": route.response_model_exclude_unset,
            "exclude_defaults": route.response_model_exclude_defaults,
            "exclude_none": route.response_model_exclude_none,
        }
        self.overrides_provider = route.dependency_overrides_provider
        self.plans: dict[Any, _Node | None] = {}
        self.contexts: dict[tuple[str, str], EndpointContext] = {}
        """`context`'s answer per method and root path (a copy is handed out)."""

    def plan(self, overrides: Mapping[Any, Any]) -> _Node | None:
        key = tuple(overrides.items())
        if key not in self.plans:
            try:
                self.plans[key] = _compile(self.dependant, None, overrides, is_root=True)
            except _Unsupported:
                self.plans[key] = None
        return self.plans[key]

    def context(self, request: Request) -> EndpointContext:
        """FastAPI's endpoint context for errors, a fresh dict per call as FastAPI's."""
        key = (request.method, request.scope.get("root_path", ""))
        ctx = self.contexts.get(key)
        if ctx is None:
            ctx = self._context(request)
            if len(self.contexts) < 32:
                self.contexts[key] = ctx
        return EndpointContext(**ctx)

    def _context(self, request: Request) -> EndpointContext:
        ctx = EndpointContext(**_extract_endpoint_context(self.call))
        mount_path = request.scope.get("root_path", "").rstrip("/")
        ctx["path"] = f"{request.method} {mount_path}{self.dependant.path}"
        return ctx

    async def handle(self, request: Request) -> Response:
        provider = self.overrides_provider
        overrides = getattr(provider, "dependency_overrides", None) if provider else None
        root = self.plan(overrides or {})
        if root is None or get_telemetry_data() is not None:
            return await self.stock(request)
        body = await self._body(request) if self.body_field is not None else Undefined
        values, errors = await _Solver(request, body, self.embed).solve(root)
        if errors:
            raise RequestValidationError(
                errors, body=None if body is Undefined else body, endpoint_ctx=self.context(request)
            )
        raw = await self.call(**values)
        if isinstance(raw, Response):
            return raw
        content = await serialize_response(
            field=self.response_field,
            response_content=raw,
            **self.serialize_options,
            endpoint_ctx=self.context(request),
            dump_json=self.dump_json,
        )
        if self.dump_json:
            response = Response(content=content, media_type="application/json")
        else:
            response = self.response_class(content)
        if self.status_code:
            response.status_code = self.status_code
        if not is_body_allowed_for_status_code(response.status_code):
            response.body = b""
        return response

    async def _body(self, request: Request) -> Any:
        """The request's body as FastAPI reads it: JSON when declared so (or when the route
        does not insist on a content type and none is given), else the bytes."""
        try:
            body_bytes = await request.body()
            if not body_bytes:
                return Undefined
            content_type = request.headers.get("content-type")
            if not content_type:
                return body_bytes if self.strict_content_type else await request.json()
            return await request.json() if _is_json(content_type) else body_bytes
        except json.JSONDecodeError as e:
            raise RequestValidationError(
                [
                    {
                        "type": "json_invalid",
                        "loc": ("body", e.pos),
                        "msg": "JSON decode error",
                        "input": {},
                        "ctx": {"error": e.msg},
                    }
                ],
                body=e.doc,
                endpoint_ctx=self.context(request),
            ) from e
        except HTTPException:
            raise
        except Exception as e:
            if MAX_BODY_SIZE_SCOPE_KEY in request.scope and (error := get_body_limit_error(e)):
                raise error from e
            raise HTTPException(
                status_code=400, detail="There was an error parsing the body"
            ) from e


@functools.lru_cache(maxsize=64)
def _is_json(content_type: str) -> bool:
    """FastAPI's rule: an `application/json` or `application/*+json` content type
    (remembered for the few content types clients send)."""
    message = email.message.Message()
    message["content-type"] = content_type
    if message.get_content_maintype() == "application":
        subtype = message.get_content_subtype()
        return subtype == "json" or subtype.endswith("+json")
    return False
