"""The record writer in a process of its own: the PBX's core stays on calls.

Writing a batch of records (encoding the rows, reading their stored versions, the rollup
deltas, the transaction) costs about 0.1 ms of CPU per journey. In the PBX's process that is
the event loop's core, and at hundreds of calls a second it slows call setup. So the plugin
folds events in the PBX (microseconds) and hands the rows to this process through a pipe, one
msgpack frame per batch; the process writes each batch in one transaction on its own core and
answers with the batch's sequence number once it is committed.

- `ProcessRecordWriter` is the PBX's side, with RecordWriter's interface (`submit`, `flush`,
  `close`, `pending`, `failures`): batches leave every `batch_seconds`; a batch is kept until its
  commit is answered, and a writer process that dies is started again and given them again.
- `python -m plugins.kpi.writer_process` is the other side: the first line on stdin says which
  database (sdk.open_database's target) and the plugin's config; then frames. A failed write is
  retried (0.5 s, doubling to 30 s) and the frames queue in the pipe meanwhile. At the end of
  its input (the PBX closed it, or died) it writes what it has read, then exits, so a kill -9
  of the PBX loses at most the rows of its last `batch_seconds`. It ignores SIGINT and SIGTERM
  for that reason: the end of its input is its signal.
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
    def __init__(self, target: str, config: Config, *, batch_seconds: float = 0.02,
                 log: logging.Logger | None = None) -> None:
        self.target = target
        self.config = config
        self.batch_seconds = batch_seconds
        self.log = log or logging.getLogger("pbx.plugins.kpi")
        self.failures = 0  # writer processes that ended before they were asked to
        self._buffer: list[Row] = []
        self._unacked: deque[tuple[int, bytes, int]] = deque()  # (seq, frame, rows) sent, not yet committed
        self._seq = 0
        self._acked = 0
        self._process: asyncio.subprocess.Process | None = None
        self._acks: asyncio.Task | None = None
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self._committed = asyncio.Condition()
        self._sending = asyncio.Lock()
        self._closing = False

    @property
    def pending(self) -> int:
        """Rows submitted and not yet committed."""
        return len(self._buffer) + sum(rows for _, _, rows in self._unacked)

    def submit(self, rows: Sequence[Row]) -> None:
        if self._closing:
            raise RuntimeError("the record writer is closed")
        self._buffer.extend(rows)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="kpi-record-sender")
        self._wake.set()

    async def flush(self) -> None:
        """Send what is buffered and wait until the writer process has committed it."""
        await self._send_buffer()
        async with self._committed:
            await self._committed.wait_for(lambda: self._acked >= self._seq)

    async def close(self) -> None:
        """Send the rest, wait for its commit, and let the writer process end."""
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._buffer or self._unacked:
            await self.flush()
        process, self._process = self._process, None
        if process is not None:
            process.stdin.close()
            await process.wait()
        if self._acks is not None:
            await asyncio.gather(self._acks, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self.batch_seconds)  # the batch gathers
            self._wake.clear()
            await self._send_buffer()

    async def _send_buffer(self) -> None:
        async with self._sending:  # frames leave in order
            if not self._buffer:
                return
            rows, self._buffer = self._buffer, []
            self._seq += 1
            frame = _encoder.encode(Batch.of(self._seq, rows))
            self._unacked.append((self._seq, frame, len(rows)))
            await self._write(frame)

    async def _write(self, frame: bytes) -> None:
        while True:
            process = self._process or await self._start()
            try:
                process.stdin.write(HEADER.pack(len(frame)) + frame)
                await process.stdin.drain()
                return
            except (BrokenPipeError, ConnectionResetError):
                await self._lost(process)  # started again with the frames not committed: this one among them
                return

    async def _start(self) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "plugins.kpi.writer_process",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        process.stdin.write(msgspec.json.encode(Setup(self.target, self.config)) + b"\n")
        self._process = process
        self._acks = asyncio.get_running_loop().create_task(self._read_acks(process), name="kpi-record-acks")
        self.log.info("event=kpi_writer_started pid=%d", process.pid)
        return process

    async def _read_acks(self, process: asyncio.subprocess.Process) -> None:
        while line := await process.stdout.readline():
            seq = int(line)
            async with self._committed:
                while self._unacked and self._unacked[0][0] <= seq:
                    self._unacked.popleft()
                self._acked = max(self._acked, seq)
                self._committed.notify_all()
        if self._process is process and not self._closing:
            await self._lost(process)

    async def _lost(self, process: asyncio.subprocess.Process) -> None:
        if self._process is not process:
            return
        self._process = None
        self.failures += 1
        code = await process.wait()
        self.log.error("event=kpi_writer_lost pid=%d code=%s unacked=%d", process.pid, code, len(self._unacked))
        await asyncio.sleep(RETRY_SECONDS)
        process = await self._start()
        for _, frame, _ in self._unacked:  # what the writer process that died had not committed
            process.stdin.write(HEADER.pack(len(frame)) + frame)


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
    out, answering = sys.stdout.buffer, True
    try:
        while (frame := await _read_frame(reader)) is not None:
            batch = decoder.decode(frame)
            await _write_until_committed(store, batch.rows())
            if answering:
                try:
                    out.write(b"%d\n" % batch.seq)
                    out.flush()
                except OSError:  # the PBX is gone: write what it sent all the same
                    answering = False
    finally:
        database.close()


def main() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)  # the end of stdin is this process's signal to finish
    logging.basicConfig(level=os.environ.get("PBX_KPI_WRITER_LOG", "INFO"), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(serve())


if __name__ == "__main__":
    main()
