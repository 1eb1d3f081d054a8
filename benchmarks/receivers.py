"""Loopback back-channel logout receivers for the benchmarks, in a process of their own.

``python -m benchmarks.receivers N DELAY`` listens on N ports of 127.0.0.1, answers every request
``200`` after DELAY seconds (keeping connections alive), prints the ports as one JSON line, and
runs until its standard input closes; then prints how many requests it answered (one JSON line:
``{"requests": N}``), so that a benchmark can count POSTs sent twice. One asyncio loop serves
them all, so the receivers cost the measured sender no CPU of its own process.
"""

from __future__ import annotations

import asyncio
import json
import sys

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nCache-Control: no-store\r\n\r\n"


ANSWERED = [0]


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            await reader.readexactly(length)
            if delay:
                await asyncio.sleep(delay)
            writer.write(RESPONSE)
            await writer.drain()
            ANSWERED[0] += 1
    except (asyncio.IncompleteReadError, asyncio.CancelledError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(count: int, delay: float) -> None:
    servers = [
        await asyncio.start_server(lambda r, w: serve(r, w, delay), "127.0.0.1", 0, backlog=512)
        for _ in range(count)
    ]
    ports = [server.sockets[0].getsockname()[1] for server in servers]
    print(json.dumps(ports), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    print(json.dumps({"requests": ANSWERED[0]}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2])))
