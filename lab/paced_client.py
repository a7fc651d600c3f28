"""An open-loop HTTP/1.1 load generator: request i leaves at start + i / rate, whatever the others do.

Latency counts from each request's *scheduled* time, so a server that falls behind shows its queue
(no coordinated omission). It is one asyncio loop over raw sockets with keep-alive connections (a
new one only when every open one is busy or the server closed it), cheap enough to share the
server's cores: a thread per request or http.client would cost the server the CPU it measures.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

TIMEOUT_S = 30.0


@dataclass
class PacedResult:
    latencies_s: list[float] = field(default_factory=list)  # in the order of the paths given
    errors: int = 0
    connections_opened: int = 0
    late_sends: int = 0  # sent over 1 ms after their scheduled time: the generator itself fell behind


def run_paced(port: int, paths: list[str], rate: float, headers: dict[str, str]) -> PacedResult:
    """GET each path at a fixed rate on 127.0.0.1:port; a non-200 or a failure counts as an error."""
    return asyncio.run(_Paced(port, headers).run(paths, rate))


class _Paced:
    def __init__(self, port: int, headers: dict[str, str]):
        self.port, self.result = port, PacedResult()
        self.header_lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def run(self, paths: list[str], rate: float) -> PacedResult:
        loop = asyncio.get_running_loop()
        start, pending = loop.time() + 0.1, []
        self.result.latencies_s = [float("nan")] * len(paths)
        for position, path in enumerate(paths):
            scheduled = start + position / rate
            await asyncio.sleep(max(0.0, scheduled - loop.time()))
            self.result.late_sends += loop.time() - scheduled > 0.001
            pending.append(asyncio.ensure_future(self.one(position, path, scheduled)))
        await asyncio.gather(*pending)
        for _, writer in self.idle:
            writer.close()
        return self.result

    async def one(self, position: int, path: str, scheduled: float) -> None:
        try:
            ok = await asyncio.wait_for(self.get(path), TIMEOUT_S)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError):
            ok = False
        self.result.latencies_s[position] = asyncio.get_running_loop().time() - scheduled
        self.result.errors += not ok

    async def get(self, path: str) -> bool:
        reader, writer = self.idle.pop() if self.idle else await self.connect()
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{self.header_lines}\r\n".encode())
        status, headers = await _read_head(reader)
        await reader.readexactly(int(headers.get("content-length", 0)))
        if headers.get("connection", "").lower() == "close":
            writer.close()
        else:
            self.idle.append((reader, writer))
        return status == 200

    async def connect(self):
        self.result.connections_opened += 1
        return await asyncio.open_connection("127.0.0.1", self.port)


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
    return status, {name.strip().lower(): value.strip() for name, value in headers.items()}


