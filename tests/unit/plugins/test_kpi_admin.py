"""The kpi plugin's admin endpoints, served by the admin API's gate (make_admin_app) over records
the real plugin folded from known events, on SQLite and on PostgreSQL (`database`):

- the journey search filters by caller, agent, queue, outcome, scenario, least wait and a text
  in the IVR path, pages with a total and the next offset, and exports CSV and XLSX whose cells
  are typed (numbers as numbers, times as Excel date-times in the plugin's time zone);
- every report answers JSON, CSV and XLSX with an attachment file name; the day's intervals for
  the wallboard's charts have every interval; the IVR paths come with their shares;
- bad input is a 400 naming the field, also the limits on work (too many intervals, a forecast
  too big to size); reports are refused without a token and to the agent role.

The day is 2025-06-03 in Europe/Paris (UTC+2): local 09:00 is 07:00 UTC.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import datetime
from xml.etree import ElementTree

import pytest

import plugins.kpi as kpi
from sdk.events import (
    AgentConnected,
    CallEnded,
    CallStarted,
    IvrExited,
    IvrNodeEntered,
    IvrStarted,
    QueueAbandoned,
    QueueJoined,
)
from tests.unit.plugins.admin_app import serving

ZONE = "Europe/Paris"
DAY = datetime.fromisoformat("2025-06-03T00:00+02:00").timestamp()
NINE = DAY + 9 * 3600
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


def ended(call_id: str, caller: str, at: float, started: float) -> CallEnded:
    return CallEnded(at=at, call_id=call_id, caller=caller, callee="800", cause="normal", status=200,
                     hangup_by="caller", answered=True, total_seconds=at - started, ring_seconds=0,
                     talk_seconds=at - started)


def through_ivr(call_id: str, caller: str, start: float, nodes: list[str], exit_how: str) -> list:
    events = [CallStarted(at=start, call_id=call_id, caller=caller, callee="800"),
              IvrStarted(at=start, call_id=call_id, scenario="support", version=1)]
    events += [IvrNodeEntered(at=start + 1 + i, call_id=call_id, scenario="support", node=node, kind="menu")
               for i, node in enumerate(nodes)]
    events.append(IvrExited(at=start + 10, call_id=call_id, scenario="support", how=exit_how, node=nodes[-1]))
    return events


def queued(call_id: str, caller: str, queue: str, joined: float) -> QueueJoined:
    return QueueJoined(at=joined, call_id=call_id, queue=queue, caller_number=caller, priority=0, position=1)


def day_of_calls() -> list:
    """c1 answered by alice after 10 s, c2 abandoned after 40 s (both via main > billing to
    sales), c3 hung up in the IVR at main, c4 straight to support, answered by bob after 25 s."""
    c1, c2, c3, c4 = "+33611111111", "+33622222222", "+33633333333", "+4915100000"
    return [
        *through_ivr("c1", c1, NINE, ["main", "billing"], "queue"), queued("c1", c1, "sales", NINE + 10),
        AgentConnected(at=NINE + 20, agent="alice", call_id="c1", queue="sales", wait_seconds=10, ring_seconds=2),
        ended("c1", c1, NINE + 90, NINE),
        *through_ivr("c2", c2, NINE + 1200, ["main", "billing"], "queue"), queued("c2", c2, "sales", NINE + 1210),
        QueueAbandoned(at=NINE + 1250, call_id="c2", queue="sales", position=1, wait_seconds=40),
        ended("c2", c2, NINE + 1250, NINE + 1200),
        *through_ivr("c3", c3, NINE + 3900, ["main"], "caller_hangup"), ended("c3", c3, NINE + 3910, NINE + 3900),
        CallStarted(at=NINE + 4200, call_id="c4", caller=c4, callee="700"), queued("c4", c4, "support", NINE + 4200),
        AgentConnected(at=NINE + 4225, agent="bob", call_id="c4", queue="support", wait_seconds=25, ring_seconds=3),
        ended("c4", c4, NINE + 4300, NINE + 4200),
    ]


@pytest.fixture
async def api(pbx_harness, database):
    # the writer in a thread: a writer process would start for every test (test_kpi_writer_process has it)
    config = {"timezone": ZONE, "writer": "thread"}
    async with pbx_harness(kpi, config=config, database=database, start=NINE + 7200) as pbx:
        await pbx.feed(*day_of_calls())
        await pbx.settle()
        assert pbx.failures == []
        await kpi.collector(pbx.api()).writer.flush()
        async with serving("kpi", (await pbx.admin_routes())["kpi"], clock=pbx.api().now) as served:
            yield served


async def json_of(response, status: int = 200):
    body = await response.json()
    assert response.status == status, body
    return body


def column_of(reference: str) -> int:
    """0 for A1, 1 for B7, 26 for AA3."""
    number = 0
    for letter in re.match(r"[A-Z]+", reference).group():
        number = number * 26 + ord(letter) - ord("A") + 1
    return number - 1


def xlsx_rows(data: bytes) -> tuple[list[list[tuple[str, str, str | None]]], dict[int, str]]:
    """The first sheet's rows, each cell as (type, value, style) at its column (an empty cell is
    ("", "", None)), and the number format of each style."""
    book = zipfile.ZipFile(io.BytesIO(data))
    shared = [item.findtext(f"{MAIN}t") or "" for item in
              ElementTree.fromstring(book.read("xl/sharedStrings.xml")).iter(f"{MAIN}si")] \
        if "xl/sharedStrings.xml" in book.namelist() else []
    rows = []
    for row in ElementTree.fromstring(book.read("xl/worksheets/sheet1.xml")).iter(f"{MAIN}row"):
        cells: list[tuple[str, str, str | None]] = []
        for cell in row.iter(f"{MAIN}c"):
            cells += [("", "", None)] * (column_of(cell.get("r")) - len(cells))
            kind = cell.get("t", "n")
            if kind == "inlineStr":
                value = "".join(text.text or "" for text in cell.iter(f"{MAIN}t"))
            else:
                value = cell.findtext(f"{MAIN}v") or ""
                if kind == "s":
                    value = shared[int(value)]
            cells.append((kind, value, cell.get("s")))
        rows.append(cells)
    styles = ElementTree.fromstring(book.read("xl/styles.xml"))
    codes = {int(f.get("numFmtId")): f.get("formatCode") for f in styles.iter(f"{MAIN}numFmt")}
    formats = {index: codes.get(int(xf.get("numFmtId", 0)), "General")
               for index, xf in enumerate(styles.find(f"{MAIN}cellXfs"))}
    return rows, formats


def excel_serial(at: float) -> float:
    """Excel's serial day number of the local time at `at` in ZONE."""
    local = datetime.fromtimestamp(at, __import__("zoneinfo").ZoneInfo(ZONE)).replace(tzinfo=None)
    return (local - datetime(1899, 12, 30)).total_seconds() / 86400


async def test_the_journey_search_filters_and_pages(api):
    day = f"from={DAY}&to={DAY + 86400}"
    page = await json_of(await api.get(f"/journeys?{day}&limit=3"))
    assert page["total"] == 4 and page["offset"] == 0 and page["limit"] == 3 and page["next_offset"] == 3
    assert [row["journey_id"] for row in page["journeys"]] == ["c1", "c2", "c3"]
    last = await json_of(await api.get(f"/journeys?{day}&limit=3&offset=3"))
    assert [row["journey_id"] for row in last["journeys"]] == ["c4"] and last["next_offset"] is None

    async def ids(filters: str) -> list[str]:
        found = await json_of(await api.get(f"/journeys?{day}&{filters}"))
        assert found["total"] == len(found["journeys"])
        return [row["journey_id"] for row in found["journeys"]]

    assert await ids("caller=%2B336") == ["c1", "c2", "c3"]  # a part of the number
    assert await ids("caller=2222") == ["c2"]
    assert await ids("agent=alice") == ["c1"] and await ids("agent=ali") == []  # an agent is a whole name
    assert await ids("queue=sales") == ["c1", "c2"]
    assert await ids("outcome=abandoned") == ["c2"]
    assert await ids("outcome=ivr") == ["c3"]
    assert await ids("scenario=support&ivr=BILL") == ["c1", "c2"]  # a text in the path, any case
    assert await ids("min_wait=20") == ["c2", "c4"]
    assert await ids("ivr=100%25") == []  # LIKE's wildcards are taken as text
    assert await ids("direction=outbound") == []
    # by default, today (the harness's clock is 11:00 on the day)
    assert (await json_of(await api.get("/journeys")))["total"] == 4

    one = await json_of(await api.get("/journeys/c1"))
    assert (one["agent"], one["wait_seconds"], one["ivr_path"]) == ("alice", 10.0, ["main", "billing"])
    missing = await json_of(await api.get("/journeys/nope"), 404)
    assert missing == {"code": "not_found", "message": "no journey 'nope'", "field": "journey_id"}


BAD_SEARCHES = [
    ("limit=0", "limit"), ("limit=100001", "limit"), ("limit=many", "limit"), ("offset=-1", "offset"),
    ("outcome=lost", "outcome"), ("from=yesterday", "from"), ("to=nan", "to"), ("from=1e300", "from"),
    (f"from={DAY + 10}&to={DAY}", "to"), ("colour=red", "colour"), ("caller=", "caller"),
    ("caller=%00", "caller"), ("format=pdf", "format"), ("min_wait=-5", "min_wait"),
]  # fmt: skip


async def test_a_bad_journey_search_is_a_400_naming_the_field(api):
    for query, field in BAD_SEARCHES:
        body = await json_of(await api.get(f"/journeys?{query}"), 400)
        assert body["code"] == "bad_request" and body["field"] == field and body["message"], (query, body)


async def test_journeys_export_as_csv_and_as_xlsx_with_typed_cells(api):
    day = f"from={DAY}&to={DAY + 86400}"
    response = await api.get(f"/journeys?{day}&queue=sales&format=csv")
    assert response.status == 200 and response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="kpi-journeys-2025-06-03.csv"'
    lines = list(csv.DictReader(io.StringIO(await response.text())))
    assert [line["journey_id"] for line in lines] == ["c1", "c2"]
    assert lines[0]["started_at"] == "2025-06-03T09:00:00+02:00"  # local ISO 8601, its offset
    assert lines[0]["ivr_path"] == '["main","billing"]' and lines[0]["answered_at"] == ""
    assert lines[0]["wait_seconds"] == "10.0" and lines[1]["agent"] == ""

    response = await api.get(f"/journeys?{day}&format=xlsx")
    assert response.status == 200 and response.headers["Content-Type"] == XLSX
    assert response.headers["Content-Disposition"] == 'attachment; filename="kpi-journeys-2025-06-03.xlsx"'
    rows, formats = xlsx_rows(await response.read())
    header = [value for _, value, _ in rows[0]]
    assert header[:3] == ["journey_id", "node", "call_ids"] and "started_at (Europe/Paris)" in header
    assert len(rows) == 5  # the header and the four journeys
    first = dict(zip(header, rows[1]))
    kind, value, style = first["started_at (Europe/Paris)"]
    assert kind == "n" and float(value) == pytest.approx(excel_serial(NINE), abs=1e-9)
    assert "yy" in formats[int(style)]  # a date format: Excel shows 2025-06-03 09:00:00
    assert first["wait_seconds"][:2] == ("n", "10")
    assert first["transfers"][:2] == ("n", "0")
    assert first["caller"][1] == "+33611111111" and first["caller"][0] in ("s", "inlineStr", "str")
    assert first["ivr_path"][1] == '["main","billing"]'
    assert first["answered_at (Europe/Paris)"] == ("", "", None)  # None: an empty cell


async def test_every_report_answers_json_csv_and_xlsx(api):
    day = f"from=2025-06-03&to=2025-06-04"
    [sales, support] = await json_of(await api.get(f"/report/queues?{day}"))
    assert (sales["queue"], sales["offered"], sales["answered"], sales["abandoned"]) == ("sales", 2, 1, 1)
    assert (support["queue"], support["asa"]) == ("support", 25.0)
    assert [row["queue"] for row in await json_of(await api.get(f"/report/queues?{day}&queue=support"))] == ["support"]
    hourly = await json_of(await api.get(f"/report/queues?{day}&interval=hour&queue=sales"))
    assert [(row["interval_start"], row["offered"]) for row in hourly] == [(NINE, 2)]
    [alice, bob] = await json_of(await api.get(f"/report/agents?{day}"))
    assert (alice["agent"], alice["answered"], bob["agent"]) == ("alice", 1, "bob")
    [everyone] = await json_of(await api.get(f"/report/contacts?{day}"))
    assert (everyone["scope"], everyone["journeys"], everyone["ivr_journeys"]) == ("", 4, 3)
    [sales_contacts] = await json_of(await api.get(f"/report/contacts?{day}&queue=sales"))
    assert sales_contacts["scope"] == "sales" and sales_contacts["journeys"] == 2
    [dropped] = await json_of(await api.get(f"/report/ivr?{day}"))
    assert (dropped["scenario"], dropped["node"], dropped["dropped"]) == ("support", "main", 1)
    assert await json_of(await api.get(f"/report/ivr?{day}&scenario=sales-line")) == []
    assert len(await json_of(await api.get(f"/report/availability?{day}&interval=hour"))) == 24
    assert await json_of(await api.get(f"/report/adherence?{day}")) == []  # nobody has a schedule
    [forecast] = await json_of(await api.get(f"/report/staffing?from={NINE}&to={NINE + 1800}&calls=100&aht=180"))
    assert (forecast["traffic_erlangs"], forecast["agents"]) == (10.0, 14)

    for kind in ("queues", "agents", "contacts", "ivr", "availability", "staffing", "adherence", "intervals",
                 "ivr-paths"):
        text = await api.get(f"/report/{kind}?{day}&format=csv")
        assert text.status == 200, (kind, await text.text())
        assert text.headers["Content-Disposition"] == f'attachment; filename="kpi-{kind}-2025-06-03.csv"'
        header = (await text.text()).splitlines()[0]
        assert header and "," in header, kind
        sheet = await api.get(f"/report/{kind}?{day}&format=xlsx")
        assert sheet.status == 200 and sheet.headers["Content-Type"] == XLSX, kind
        rows, _ = xlsx_rows(await sheet.read())
        assert [value for _, value, _ in rows[0]][0] == header.split(",")[0].replace("interval_start",
                                                                                     "interval_start (Europe/Paris)")
    rows, _ = xlsx_rows(await (await api.get(f"/report/queues?{day}&format=xlsx")).read())
    sales_row = dict(zip([value for _, value, _ in rows[0]], rows[1]))
    assert sales_row["offered"][:2] == ("n", "2") and sales_row["sl"][:2] == ("n", "0.5")
    assert sales_row["queue"][1] == "sales"


async def test_the_days_intervals_for_the_charts_have_every_interval(api):
    points = await json_of(await api.get("/report/intervals?interval=hour"))  # today, by the clock
    assert len(points) == 24 and points[0]["label"] == "2025-06-03T00:00:00+02:00"
    nine, ten = points[9], points[10]
    assert (nine["interval_start"], nine["label"]) == (NINE, "2025-06-03T09:00:00+02:00")
    assert (nine["offered"], nine["answered"], nine["abandoned"], nine["asa"], nine["sl"]) == (2, 1, 1, 10.0, 0.5)
    assert (ten["offered"], ten["answered"], ten["asa"]) == (1, 1, 25.0)
    assert (points[8]["offered"], points[8]["sl"], points[8]["asa"]) == (0, None, None)
    quarters = await json_of(await api.get("/report/intervals?queue=sales"))
    assert len(quarters) == 96 and [p["offered"] for p in quarters[36:38]] == [1, 1]  # 09:00 and 09:15 (c2 at 09:20)
    assert sum(point["offered"] for point in quarters) == 2


async def test_the_most_frequent_ivr_paths(api):
    day = "from=2025-06-03&to=2025-06-04"
    billing, main = await json_of(await api.get(f"/report/ivr-paths?{day}"))
    assert (billing["path"], billing["journeys"], billing["abandoned"]) == (["main", "billing"], 2, 1)
    assert billing["share"] == pytest.approx(2 / 3) and billing["abandoned_share"] == 0.5
    assert (main["path"], main["journeys"], main["abandoned"], main["abandoned_share"]) == (["main"], 1, 1, 1.0)
    assert len(await json_of(await api.get(f"/report/ivr-paths?{day}&limit=1"))) == 1
    assert await json_of(await api.get(f"/report/ivr-paths?{day}&scenario=other")) == []


BAD_REPORTS = [
    ("/report/queues?interval=week", "interval"),
    ("/report/queues?interval=15min&from=0&to=9999999999", "interval"),  # 11 million quarters
    ("/report/staffing?model=a", "patience"),
    ("/report/staffing?interval=15min&calls=100000&aht=3600", "calls"),  # 400,000 Erlangs to size
    ("/report/staffing?model=a&patience=60&calls=3000&aht=300&interval=hour", "calls"),  # 250 Erlangs: too slow for A
    ("/report/staffing?interval=hour&from=2025-06-01&to=2025-06-30", "interval"),  # 696 intervals of Erlang
    ("/report/staffing?aht=0", "aht"),
    ("/report/contacts?queue=%1b", "queue"),
    ("/report/intervals?interval=day", "interval"),
    ("/report/ivr-paths?limit=0", "limit"),
    ("/report/agents?to=9000-01-02", "to"),
]  # fmt: skip


async def test_a_bad_report_request_is_a_400_naming_the_field(api):
    for path, field in BAD_REPORTS:
        body = await json_of(await api.get(path), 400)
        assert body["field"] == field, (path, body)


async def test_reports_need_a_reader_token(api):
    assert (await api.get("/report/queues", role=None)).status == 401
    refused = await json_of(await api.get("/journeys", role="agent"), 403)
    assert refused["code"] == "forbidden"
    for role in ("admin", "supervisor", "read-only"):
        assert (await api.get("/live", role=role)).status == 200
    assert (await api.get("/report/nothing")).status == 404
    assert not re.search(r"\b5\d\d\b", str([record.status for record in api.audit.records]))
