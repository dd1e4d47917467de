"""The record writer in a process of its own: the PBX's core stays on calls.

Writing a batch of records (encoding the rows, reading their stored versions, the rollup
deltas, the transaction) costs about 0.1 ms of CPU per journey. In the PBX's process that is
the event loop's core, and at hundreds of calls a second it slows call setup. So the plugin
folds events in the PBX (microseconds) and hands the rows to this process through a pipe every
2 ms (HAND_OVER_SECONDS), one msgpack frame each time; the process gathers frames for
`batch_seconds`, writes them in one transaction on its own core, and answers with the last
frame's sequence number once committed.

- `ProcessRecordWriter` is the PBX's side, with RecordWriter's interface (`submit`, `flush`,
  `close`, `pending`, `failures`): a frame is kept until its commit is answered, and a writer
  process that dies is started again and given the frames not answered.
- `python -m plugins.kpi` (__main__.py) is the other side: the first line on stdin says which
  database (sdk.open_database's target) and the plugin's config; then frames. A failed write is
  retried (0.5 s, doubling to 30 s) and the frames queue meanwhile. At the end of its input (the
  PBX closed it, or died) it writes all it has read, then exits: a call's rows are in the pipe
  2 ms after its CallEnded, so a kill -9 of the PBX loses only the rows of its last 2 ms. It ignores SIGINT and SIGTERM for that reason: the end of its input is its signal.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import struct
import sys
from collections import deque
from collections.abc import Sequence

import msgspec

from sdk.database import open_database

from .config import Config
from .records import AgentCall, AgentLogEntry, Journey, QueueCall, QueueLogEntry
from .store import RecordStore, Row

__all__ = ["Batch", "ProcessRecordWriter"]

log = logging.getLogger("pbx.plugins.kpi")
HEADER = struct.Struct(">I")  # each frame: its length, then the msgpack of a Batch
RETRY_SECONDS, MAX_RETRY_SECONDS = 0.5, 30.0
# Rows wait this long in the PBX before they leave in one frame: at hundreds of calls a second a
# frame per event would cost the PBX's core more than the fold; 2 ms is what a kill -9 can lose.
HAND_OVER_SECONDS = 0.002


class Batch(msgspec.Struct, array_like=True):
    seq: int
    journeys: list[Journey] = []
    queue_calls: list[QueueCall] = []
    agent_calls: list[AgentCall] = []
    queue_log: list[QueueLogEntry] = []
    agent_log: list[AgentLogEntry] = []

    @classmethod
    def of(cls, seq: int, rows: Sequence[Row]) -> Batch:
        batch = cls(seq, [], [], [], [], [])
        lists = {Journey: batch.journeys, QueueCall: batch.queue_calls, AgentCall: batch.agent_calls,
                 QueueLogEntry: batch.queue_log, AgentLogEntry: batch.agent_log}
        for row in rows:
            lists[type(row)].append(row)
        return batch

    def rows(self) -> list[Row]:
        # RecordStore.write groups rows by table anyway: their order across tables does not matter
        return [*self.journeys, *self.queue_calls, *self.agent_calls, *self.queue_log, *self.agent_log]


class Setup(msgspec.Struct):
    target: str
    config: Config


_encoder = msgspec.msgpack.Encoder()


# The PBX's side -----------------------------------------------------------------------------------


class ProcessRecordWriter:
    def __init__(self, target: str, config: Config, *, log: logging.Logger | None = None) -> None:
        self.target = target
        self.config = config
        self.log = log or logging.getLogger("pbx.plugins.kpi")
        self.failures = 0  # writer processes that ended before they were asked to
        self._buffer: list[Row] = []  # this loop turn's rows
        self._unacked: deque[tuple[int, bytes, int]] = deque()  # (seq, frame, rows) sent, not yet committed
        self._seq = 0
        self._acked = 0
        self._process: asyncio.subprocess.Process | None = None
        self._starting: asyncio.Task | None = None
        self._acks: asyncio.Task | None = None
        self._committed = asyncio.Condition()
        self._closing = False

    @property
    def pending(self) -> int:
        """Rows submitted and not yet committed."""
        return len(self._buffer) + sum(rows for _, _, rows in self._unacked)

    def submit(self, rows: Sequence[Row]) -> None:
        """Hand the rows to the writer process within HAND_OVER_SECONDS (one frame for all the rows
        of that time): once in the pipe they are written even if the PBX dies the next moment.
        Never waits (the pipe's buffer takes what the process has not read yet)."""
        if self._closing:
            raise RuntimeError("the record writer is closed")
        if not self._buffer:
            asyncio.get_running_loop().call_later(HAND_OVER_SECONDS, self._send)
        self._buffer.extend(rows)

    def _send(self) -> None:
        rows, self._buffer = self._buffer, []
        if not rows:
            return
        self._seq += 1
        body = _encoder.encode(Batch.of(self._seq, rows))
        frame = HEADER.pack(len(body)) + body
        self._unacked.append((self._seq, frame, len(rows)))
        process = self._process
        if process is not None and not process.stdin.is_closing():
            process.stdin.write(frame)
        elif self._starting is None:  # the first rows, or the process is being replaced
            self._starting = asyncio.get_running_loop().create_task(self._start(), name="kpi-writer-start")

    async def flush(self) -> None:
        """Wait until the writer process has committed every row submitted so far."""
        self._send()
        wanted = self._seq
        async with self._committed:
            await self._committed.wait_for(lambda: self._acked >= wanted)

    async def close(self) -> None:
        """Wait for the commit of what was submitted, and let the writer process end."""
        await self.flush()
        self._closing = True
        process, self._process = self._process, None
        if process is not None:
            process.stdin.close()
            await process.wait()
        if self._acks is not None:
            await asyncio.gather(self._acks, return_exceptions=True)

    async def _start(self) -> None:
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "plugins.kpi",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
            process.stdin.write(msgspec.json.encode(Setup(self.target, self.config)) + b"\n")
            for _, frame, _ in self._unacked:  # submitted meanwhile, or not committed by the one that died
                process.stdin.write(frame)
            self._process = process
            self._acks = asyncio.get_running_loop().create_task(self._read_acks(process), name="kpi-writer-acks")
            self.log.info("event=kpi_writer_started pid=%d", process.pid)
        finally:
            self._starting = None

    async def _read_acks(self, process: asyncio.subprocess.Process) -> None:
        while line := await process.stdout.readline():
            seq = int(line)
            async with self._committed:
                while self._unacked and self._unacked[0][0] <= seq:
                    self._unacked.popleft()
                self._acked = max(self._acked, seq)
                self._committed.notify_all()
        if self._process is process and not self._closing:  # it died: another one takes over
            self._process = None
            self.failures += 1
            code = await process.wait()
            self.log.error("event=kpi_writer_lost pid=%d code=%s unacked=%d", process.pid, code, len(self._unacked))
            await asyncio.sleep(RETRY_SECONDS)
            # a submit meanwhile may have started the next one already: two would write the same frames
            if self._process is None and self._starting is None and not self._closing:
                self._starting = asyncio.get_running_loop().create_task(self._start(), name="kpi-writer-start")


# The writer process's side ----------------------------------------------------------------------------


async def _read_frame(reader: asyncio.StreamReader) -> bytes | None:
    try:
        header = await reader.readexactly(HEADER.size)
        return await reader.readexactly(HEADER.unpack(header)[0])
    except asyncio.IncompleteReadError:
        return None


async def _write_until_committed(store: RecordStore, rows: list[Row]) -> None:
    delay = RETRY_SECONDS
    while True:
        try:
            await store.write(rows)
            return
        except Exception as error:  # the database is away: keep the rows, try again
            log.error("event=kpi_write_failed rows=%d retry_in=%.1f reason=%r", len(rows), delay, str(error))
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RETRY_SECONDS)


async def serve() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
    setup = msgspec.json.decode(await reader.readline(), type=Setup)
    database = open_database(setup.target)
    store = RecordStore(database, setup.config)
    decoder = msgspec.msgpack.Decoder(Batch)
    arrived: list[Batch] = []
    more = asyncio.Event()
    ended = False

    async def read() -> None:
        nonlocal ended
        while (frame := await _read_frame(reader)) is not None:
            arrived.append(decoder.decode(frame))
            more.set()
        ended = True
        more.set()

    reading = loop.create_task(read())
    out, answering = sys.stdout.buffer, True
    try:
        while True:
            await more.wait()
            if not ended:
                await asyncio.sleep(setup.config.batch_seconds)  # the rows are safe here: let a batch gather
            more.clear()
            if arrived:  # everything that came while the last commit ran: one transaction
                batches, arrived[:] = list(arrived), []
                await _write_until_committed(store, [row for batch in batches for row in batch.rows()])
                if answering:
                    try:
                        out.write(b"%d\n" % batches[-1].seq)
                        out.flush()
                    except OSError:  # the PBX is gone: write what it sent all the same
                        answering = False
            if ended and not arrived:
                break
    finally:
        reading.cancel()
        database.close()


def main() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)  # the end of stdin is this process's signal to finish
    logging.basicConfig(level=os.environ.get("PBX_KPI_WRITER_LOG", "INFO"), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(serve())
