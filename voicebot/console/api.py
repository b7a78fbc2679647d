"""The console's HTTP API (FastAPI) under /api/v1/, the dashboard at /, `/metrics`.

Thin handlers: parse, authorise (`Authorization: Bearer TOKEN`; 401 without a valid token,
403 outside the role, see `tokens.py`), call the service layer (`service.Console`), audit every
change (`audit.py`), answer. OpenAPI at /api/v1/openapi.json, its pages at /api/docs.

    GET  /api/v1/flows                          viewer    the flows, with their versions
    GET  /api/v1/flows/{name}                   viewer    its YAML
    POST /api/v1/flows/check                    viewer    `flow check` of {name, text}
    PUT  /api/v1/flows/{name}                   admin     a new version: checked first (422)
    GET  /api/v1/campaigns                      viewer    progress of every campaign
    POST /api/v1/campaigns                      operator  create from a CSV (multipart)
    GET  /api/v1/campaigns/{name}               viewer    progress, counts by disposition
    POST /api/v1/campaigns/{name}/{action}      operator  start | pause | resume | cancel
    GET  /api/v1/campaigns/{name}/export        viewer    ?format=csv|json
    GET  /api/v1/calls                          viewer    ?number&since&until&outcome&flow
    GET  /api/v1/calls/{id}                     viewer    turns, latencies, slots
    GET  /api/v1/calls/{id}/recording           viewer    audio/wav
    GET  /api/v1/calls/{id}/context             viewer    the agent's desktop document
    GET  /api/v1/live                           viewer    calls in progress (and just ended)
    GET  /api/v1/live/stream                    viewer    Server-Sent Events: each turn
    GET  /api/v1/dnc  POST /api/v1/dnc  DELETE /api/v1/dnc/{number}   viewer / operator
                                                          (GET: ?number&limit&offset, a page)
    GET  /api/v1/workers                        viewer    workers' health
    GET  /api/v1/audit                          admin     who changed what, when
    GET  /api/v1/whoami                         viewer    the token's holder and role
    GET  /metrics                               (open)    Prometheus text
"""

# no `from __future__ import annotations`: FastAPI reads the handlers' annotations, and the
# dependencies they name (`identity`, `check`) are local to `create_app`

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from voicebot.call.records import CallQuery
from voicebot.console.audit import AuditTrail
from voicebot.console.live import LiveCalls
from voicebot.console.metrics import CONTENT_TYPE, Metrics
from voicebot.console.service import Console, FlowCheck
from voicebot.console.tokens import Identity, Role, TokenStore
from voicebot.errors import CampaignError, ContactsError, FlowError, VoicebotError

log = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 15.0
ACTIONS = ("start", "pause", "resume", "cancel")


@dataclass
class ConsoleParts:
    """What the app serves; `workers()` and `on_campaign(name, action)` come from `serve`."""

    console: Console
    tokens: TokenStore
    audit: AuditTrail
    live: LiveCalls
    metrics: Metrics
    workers: Callable[[], list[dict[str, Any]]] = field(default=lambda: [])
    on_campaign: Callable[[str, str], None] = field(default=lambda name, action: None)


# -- bodies (pydantic at the edge) ----------------------------------------------------------
class FlowText(BaseModel):
    name: str = Field(description="file name in flows_dir, e.g. support_line.yaml")
    text: str = Field(description="the flow's YAML")


class FlowVersion(BaseModel):
    text: str = Field(description="the flow's YAML")


class DncAdd(BaseModel):
    number: str
    reason: str = "added by an operator"


def _check(result: FlowCheck) -> dict[str, Any]:
    return {
        "name": result.name,
        "ok": result.ok,
        "errors": list(result.errors),
        "warnings": list(result.warnings),
    }


def _call(record: Any) -> dict[str, Any]:
    out = asdict(record)
    out["duration"] = record.duration
    latencies = [t["latency_ms"] for t in record.turns if t.get("latency_ms") is not None]
    out["latencies_ms"] = latencies
    out["has_recording"] = bool(record.recording_path)
    return out


def create_app(parts: ConsoleParts) -> FastAPI:
    app = FastAPI(
        title="voicebot console",
        version="1",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    bearer = HTTPBearer(auto_error=False)
    console, live = parts.console, parts.live

    def identity(
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Identity:
        found = parts.tokens.identify(creds.credentials) if creds is not None else None
        if found is None:
            raise HTTPException(
                401,
                "a valid API token is needed: Authorization: Bearer TOKEN "
                "(voicebot token create --role viewer)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return found

    def role(needed: Role) -> Any:
        def check(who: Annotated[Identity, Depends(identity)]) -> Identity:
            if who.role < needed:
                raise HTTPException(
                    403, f"{who} may not do this: it needs the role {needed.name} or above"
                )
            return who

        return Depends(check)

    viewer, operator, admin = role(Role.viewer), role(Role.operator), role(Role.admin)

    @app.exception_handler(VoicebotError)
    async def voicebot_error(request: Request, exc: VoicebotError) -> JSONResponse:
        text = str(exc)
        status = 400
        if isinstance(exc, ContactsError | FlowError):
            status = 422
        elif isinstance(exc, CampaignError):
            status = 404 if ": no campaign " in text else 409
        problems = [str(p) for p in getattr(exc, "problems", ())]
        return JSONResponse({"detail": text, "problems": problems}, status_code=status)

    # -- flows -------------------------------------------------------------------------------
    @app.get("/api/v1/flows", tags=["flows"])
    def flows(who: Identity = viewer) -> list[dict[str, Any]]:
        return console.flows()

    @app.get("/api/v1/flows/{name}", tags=["flows"], response_class=PlainTextResponse)
    def flow(name: str, who: Identity = viewer) -> str:
        return console.flow_text(name)

    @app.post("/api/v1/flows/check", tags=["flows"])
    def check_flow(body: FlowText, who: Identity = viewer) -> dict[str, Any]:
        return _check(console.check_flow(body.name, body.text))

    @app.put("/api/v1/flows/{name}", tags=["flows"])
    def upload_flow(name: str, body: FlowVersion, who: Identity = admin) -> JSONResponse:
        result = console.upload_flow(name, body.text)
        if not result.ok:
            return JSONResponse(_check(result), status_code=422)
        parts.audit.record(str(who), "flow.upload", name, {"bytes": len(body.text)})
        return JSONResponse(_check(result))

    # -- campaigns ---------------------------------------------------------------------------
    @app.get("/api/v1/campaigns", tags=["campaigns"])
    def campaigns(who: Identity = viewer) -> list[dict[str, Any]]:
        return [_summary(s) for s in console.campaigns()]

    @app.post("/api/v1/campaigns", tags=["campaigns"], status_code=201)
    async def create_campaign(
        name: Annotated[str, Form()],
        flow: Annotated[str, Form(description="a flow file in flows_dir")],
        contacts: Annotated[UploadFile, File(description="the contacts CSV, a `phone` column")],
        strict: Annotated[bool, Form()] = False,
        window: Annotated[str | None, Form()] = None,
        max_concurrent: Annotated[int | None, Form()] = None,
        cps: Annotated[float | None, Form()] = None,
        max_attempts: Annotated[int | None, Form()] = None,
        daily_cap: Annotated[int | None, Form()] = None,
        who: Identity = operator,
    ) -> dict[str, Any]:
        data = await contacts.read(console.config.csv_bytes + 1)
        given = {
            "window": window,
            "max_concurrent": max_concurrent,
            "cps": cps,
            "max_attempts": max_attempts,
            "daily_cap": daily_cap,
        }
        options = {k: v for k, v in given.items() if v is not None}

        def create() -> Any:
            return console.create_campaign(
                name,
                flow,
                data,
                filename=contacts.filename or "contacts.csv",
                options=options,
                strict=strict,
            )

        created = await asyncio.to_thread(create)
        detail = {"flow": flow, "accepted": created.accepted, "rejected": created.rejected}
        parts.audit.record(str(who), "campaign.create", name, {**detail, **options})
        return asdict(created)

    @app.get("/api/v1/campaigns/{name}", tags=["campaigns"])
    def campaign(name: str, who: Identity = viewer) -> dict[str, Any]:
        found = console.campaign(name)
        out = _summary(console.progress(name))
        out["flow"] = Path(found.flow).name
        out["settings"] = json.loads(found.settings_json)
        return out

    @app.post("/api/v1/campaigns/{name}/{action}", tags=["campaigns"])
    def transition(name: str, action: str, who: Identity = operator) -> dict[str, Any]:
        if action not in ACTIONS:
            raise HTTPException(404, f"no action {action!r}: use one of {', '.join(ACTIONS)}")
        changed = console.transition(name, action)
        parts.audit.record(str(who), f"campaign.{action}", name, {"state": changed.state})
        parts.on_campaign(name, action)
        return {"name": changed.name, "state": changed.state}

    @app.get("/api/v1/campaigns/{name}/export", tags=["campaigns"])
    def export(
        name: str, format: Annotated[str, Query(pattern="^(csv|json)$")] = "csv",
        who: Identity = viewer,
    ) -> Response:  # fmt: skip
        text = console.export(name, format)
        kind = "application/json" if format == "json" else "text/csv; charset=utf-8"
        headers = {"Content-Disposition": f'attachment; filename="{name}.{format}"'}
        return Response(text, media_type=kind, headers=headers)

    # -- calls -------------------------------------------------------------------------------
    @app.get("/api/v1/calls", tags=["calls"])
    def calls(
        number: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        outcome: str | None = None,
        flow: str | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
        who: Identity = viewer,
    ) -> dict[str, Any]:
        page = console.calls(CallQuery(number, since, until, outcome, flow, limit, offset))
        rows = []
        for r in page.calls:
            row = asdict(r)
            row.pop("turns")
            row["duration"] = r.duration
            rows.append(row)
        return {"total": page.total, "offset": page.offset, "limit": page.limit, "calls": rows}

    @app.get("/api/v1/retention", tags=["calls"])
    def retention(who: Identity = viewer) -> dict[str, Any]:
        """Recordings and words of calls older than `days` are deleted (settings
        retention.days; 0 keeps them): the cut-off, the oldest call kept, the last purge."""
        return console.retention(datetime.now(UTC))

    @app.get("/api/v1/calls/{call_id}", tags=["calls"])
    def call(call_id: str, who: Identity = viewer) -> dict[str, Any]:
        record = console.call(call_id)
        if record is None:
            raise HTTPException(404, f"no call {call_id}")
        return _call(record)

    @app.get("/api/v1/calls/{call_id}/context", tags=["calls"])
    def context(call_id: str, who: Identity = viewer) -> dict[str, Any]:
        found = console.context(call_id)
        if found is None:
            raise HTTPException(404, f"no call {call_id}")
        return found

    @app.get("/api/v1/calls/{call_id}/recording", tags=["calls"], response_class=FileResponse)
    def recording(call_id: str, who: Identity = viewer) -> FileResponse:
        path = console.recording(call_id)
        if path is None:
            raise HTTPException(404, f"call {call_id} has no recording")
        return FileResponse(path, media_type="audio/wav", filename=f"{call_id}.wav")

    # -- live calls --------------------------------------------------------------------------
    @app.get("/api/v1/live", tags=["live"])
    def live_calls(who: Identity = viewer) -> list[dict[str, Any]]:
        return live.snapshot()

    @app.get("/api/v1/live/stream", tags=["live"], response_class=StreamingResponse)
    async def live_stream(
        request: Request, call_id: str | None = None, who: Identity = viewer
    ) -> StreamingResponse:
        queue = live.subscribe(call_id)

        async def events() -> AsyncIterator[str]:
            try:
                snapshot = {"type": "snapshot", "calls": live.snapshot(call_id)}
                yield f"event: snapshot\ndata: {json.dumps(snapshot)}\n\n"
                while not await request.is_disconnected():
                    try:
                        message = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    yield f"event: {message['type']}\ndata: {json.dumps(message)}\n\n"
            finally:
                live.unsubscribe(queue)

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    # -- do-not-call list --------------------------------------------------------------------
    @app.get("/api/v1/dnc", tags=["dnc"])
    def dnc(
        response: Response,
        number: str = "",
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
        who: Identity = viewer,
    ) -> list[dict[str, str]]:
        """A page of the list in number order (`number`: those containing it); the header
        X-Total-Count says how many match."""
        total, page = console.dnc(limit, offset, number)
        response.headers["X-Total-Count"] = str(total)
        return page

    @app.post("/api/v1/dnc", tags=["dnc"])
    def dnc_add(body: DncAdd, who: Identity = operator) -> dict[str, Any]:
        try:
            added = console.dnc_add(body.number, body.reason, source=f"api:{who.name}")
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        parts.audit.record(str(who), "dnc.add", body.number, {"reason": body.reason})
        return {"number": body.number, "added": added}

    @app.delete("/api/v1/dnc/{number}", tags=["dnc"])
    def dnc_remove(number: str, who: Identity = operator) -> dict[str, Any]:
        try:
            removed = console.dnc_remove(number)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        parts.audit.record(str(who), "dnc.remove", number)
        return {"number": number, "removed": removed}

    # -- workers, audit, metrics -------------------------------------------------------------
    @app.get("/api/v1/workers", tags=["workers"])
    def workers(who: Identity = viewer) -> list[dict[str, Any]]:
        return parts.workers()

    @app.get("/api/v1/audit", tags=["audit"])
    def audit(
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
        who: Identity = admin,
    ) -> list[dict[str, Any]]:
        return [asdict(e) for e in parts.audit.entries(limit, offset)]

    @app.get("/api/v1/whoami", tags=["audit"])
    def whoami(who: Identity = viewer) -> dict[str, Any]:
        return {"token_id": who.token_id, "name": who.name, "role": who.role.name}

    @app.get("/api/v1/health", tags=["workers"])
    def health() -> dict[str, Any]:
        return {"ok": True, "calls": live.counts()}

    @app.get("/metrics", response_class=PlainTextResponse, include_in_schema=False)
    def metrics() -> Response:
        return Response(parts.metrics.text(), media_type=CONTENT_TYPE)

    # -- the dashboard -----------------------------------------------------------------------
    static = resources.files("voicebot.console") / "static"
    index = (static / "index.html").read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def dashboard() -> str:
        return index

    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    return app


def _summary(s: Any) -> dict[str, Any]:
    out = asdict(s)
    out["next_wake"] = s.next_wake.isoformat() if s.next_wake else None
    return out
