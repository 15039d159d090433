"""The `$batch` wire format of the Dynamics connector: what it sends, how it reads answers that
leave out Content-IDs, nest change sets or stop at the first failure."""

import json

import httpx

from services.connectors.dynamics import classify
from services.connectors.dynamics_batch import BatchSender, Operation, decode, encode
from services.connectors.errors import Action, Category
from services.connectors.http import ApiClient, RequestBudget
from services.sandbox.dynamics import batch as sandbox_batch

ROOT = "http://org.example/api/data/v9.2/"


def http_part(status: int, headers: dict[str, str], body: str = "", cid: str | None = None) -> str:
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if cid is not None:
        lines.append(f"Content-ID: {cid}")
    lines += ["", f"HTTP/1.1 {status} Whatever"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return "\r\n".join(lines) + "\r\n\r\n" + body


def multipart(boundary: str, parts: list[str]) -> str:
    return "".join(f"--{boundary}\r\n{p}\r\n" for p in parts) + f"--{boundary}--\r\n"


def created(n: int) -> dict[str, str]:
    return {"OData-EntityId": f"{ROOT}contacts(0000000{n}-0000-0000-0000-000000000000)"}


def error(status: int, code: str, message: str) -> str:
    return json.dumps({"error": {"code": code, "message": message}})


def test_what_is_sent_is_a_batch_the_sandbox_reads_as_sent() -> None:
    ops = [
        Operation("a", "POST", "contacts", {"lastname": "Lee"}),
        Operation("b", "PATCH", "contacts(1)", {"firstname": "Bo"}, {"If-Match": "*"}),
        Operation("c", "DELETE", "contacts(2)"),
    ]
    body = encode(ops, ROOT, "batch_X")
    parsed = sandbox_batch.parse(body, "multipart/mixed; boundary=batch_X")
    assert [(p.method, p.url, p.content_id) for p in parsed] == [  # type: ignore[union-attr]
        ("POST", f"{ROOT}contacts", "1"),
        ("PATCH", f"{ROOT}contacts(1)", "2"),
        ("DELETE", f"{ROOT}contacts(2)", "3"),
    ]
    assert json.loads(parsed[1].body) == {"firstname": "Bo"}  # type: ignore[union-attr]
    assert ("if-match", "*") in parsed[1].headers  # type: ignore[union-attr]


def test_change_set_responses_are_flattened_in_order() -> None:
    inner = multipart(
        "changesetresponse_1",
        [http_part(204, created(1), cid="1"), http_part(204, created(2), cid="2")],
    ).rstrip("\r\n")
    text = multipart(
        "batchresponse_9",
        [
            "Content-Type: multipart/mixed; boundary=changesetresponse_1\r\n\r\n" + inner,
            http_part(400, {"Content-Type": "application/json"}, error(400, "0x1", "bad"), "3"),
        ],
    )
    parts = decode("multipart/mixed; boundary=batchresponse_9", text.encode())
    assert [(p.status, p.content_id) for p in parts] == [(204, "1"), (204, "2"), (400, "3")]
    assert parts[0].headers["odata-entityid"].endswith("(00000001-0000-0000-0000-000000000000)")
    assert json.loads(parts[2].body)["error"]["message"] == "bad"


def sender(handler: httpx.MockTransport, size: int = 1000) -> BatchSender:
    api = ApiClient(ROOT, "token", RequestBudget(1000, 1.0), classify, max_attempts=3)
    api.http = httpx.AsyncClient(base_url=ROOT, transport=handler)
    return BatchSender(api, classify, size)


async def test_parts_without_content_id_are_matched_by_position() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        text = multipart(
            "batchresponse_1",
            [
                http_part(204, created(1)),
                http_part(400, {}, error(400, "0x80044331", "too long")),
                http_part(204, created(3)),
            ],
        )
        return httpx.Response(
            200,
            headers={"Content-Type": "multipart/mixed; boundary=batchresponse_1"},
            content=text.encode(),
        )

    ops = [Operation(ref, "POST", "contacts", {}) for ref in ("x", "y", "z")]
    outcomes = {o.ref: o for o in await sender(httpx.MockTransport(answer)).send(ops)}
    assert outcomes["x"].headers is not None
    assert (
        outcomes["x"].headers["odata-entityid"].endswith("(00000001-0000-0000-0000-000000000000)")
    )
    assert outcomes["y"].error is not None
    assert (outcomes["y"].error.category, outcomes["y"].error.message) == (
        Category.VALIDATION,
        "too long",
    )
    assert outcomes["z"].headers is not None
    assert (
        outcomes["z"].headers["odata-entityid"].endswith("(00000003-0000-0000-0000-000000000000)")
    )


async def test_operations_a_batch_never_ran_or_that_were_throttled_go_out_again() -> None:
    sent: list[list[str]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        ops = sandbox_batch.parse(request.content, request.headers["content-type"])
        ids = [op.content_id or "" for op in ops]  # type: ignore[union-attr]
        sent.append(ids)
        if len(sent) == 1:
            # Stopped at the second operation, which failed for good; the third never ran,
            # and the first was throttled on its own.
            parts = [
                http_part(429, {"Retry-After": "0"}, error(429, "0x80072322", "slow"), "1"),
                http_part(404, {}, error(404, "0x80040217", "gone"), "2"),
            ]
            status = 404
        else:
            parts = [http_part(204, created(int(i)), cid=i) for i in ids]
            status = 200
        text = multipart("batchresponse_2", parts)
        return httpx.Response(
            status,
            headers={"Content-Type": "multipart/mixed; boundary=batchresponse_2"},
            content=text.encode(),
        )

    ops = [Operation(ref, "PATCH", f"contacts({ref})", {}) for ref in ("p", "q", "r")]
    batches = sender(httpx.MockTransport(answer))
    # A 404 for the whole request is the batch's own failure status, not a refusal of it.
    batches.api.request = _accepting(batches.api)  # type: ignore[method-assign]
    outcomes = {o.ref: o for o in await batches.send(ops)}
    assert sent == [["1", "2", "3"], ["1", "2"]]
    assert outcomes["q"].error is not None
    assert outcomes["q"].error.action is Action.FAIL
    assert outcomes["q"].error.category is Category.NOT_FOUND
    assert outcomes["p"].error is None
    assert outcomes["r"].error is None


def _accepting(api: ApiClient):  # type: ignore[no-untyped-def]
    """`api.request` that hands back any response instead of raising for a 4xx."""

    async def request(method: str, url: str, **kwargs: object) -> httpx.Response:
        return await api.http.request(method, url, **kwargs)  # type: ignore[arg-type]

    return request


def _answer_each(request: httpx.Request, sent: list[int]) -> httpx.Response:
    ops = sandbox_batch.parse(request.content, request.headers["content-type"])
    sent.append(len(ops))
    if any(b'"bad"' in op.body for op in ops):  # type: ignore[union-attr]
        return httpx.Response(400, json={"error": {"code": "0x80048d19", "message": "bad"}})
    parts = [http_part(204, created(1), cid=op.content_id) for op in ops]  # type: ignore[union-attr]
    return httpx.Response(
        200,
        headers={"Content-Type": "multipart/mixed; boundary=batchresponse_3"},
        content=multipart("batchresponse_3", parts).encode(),
    )


async def test_a_batch_refused_as_invalid_is_halved_until_the_bad_operation_fails_alone() -> None:
    sent: list[int] = []
    ops = [Operation(f"o{i}", "POST", "contacts", {"n": i}) for i in range(7)]
    ops[5] = Operation("o5", "POST", "contacts", {"bad": True})
    batches = sender(httpx.MockTransport(lambda r: _answer_each(r, sent)))
    outcomes = {o.ref: o for o in await batches.send(ops)}
    assert sent == [7, 3, 4, 2, 2, 1, 1]  # halves until the bad one stands alone
    assert [ref for ref, o in outcomes.items() if o.error is not None] == ["o5"]
    assert outcomes["o5"].error is not None
    assert outcomes["o5"].error.category is Category.VALIDATION


async def test_a_refused_token_fails_every_operation_with_one_request() -> None:
    sent: list[int] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        sent.append(1)
        return httpx.Response(401)

    ops = [Operation(f"o{i}", "POST", "contacts", {}) for i in range(10)]
    outcomes = await sender(httpx.MockTransport(refuse)).send(ops)
    assert sent == [1]
    assert {o.error.category for o in outcomes if o.error} == {Category.AUTH}
    assert len(outcomes) == 10
