"""Many back-channel logout receivers on loopback, in a process of their own, that keep every
logout token they receive: for the fault drills at 10,000 deliveries and for the benchmarks.

``python -m tests.receiver_farm COUNT DELAY [--count-only]`` listens on COUNT ports of
127.0.0.1 (one asyncio loop serves them all, so they cost the process under test no CPU),
answers every request ``200`` after DELAY seconds on kept-alive connections, and prints the
ports as one JSON line.
Then it reads commands on its standard input, one per line, and answers each with one JSON line:

- ``count``: ``{"requests": N, "unanswered": U, "connections": M}``, the requests answered so
  far, those received and not answered yet, and the connections open now;
- ``down PORT``: stops listening on PORT and drops its connections (an application that is
  down: connections are refused), ``{"down": PORT}``;
- ``up PORT``: listens on PORT again, ``{"up": PORT}``;
- ``tokens PATH``: writes ``{"PORT": [logout_token, ...]}`` of every request received so far
  (kept as soon as it is read, before it is answered: a sender that dies waiting for the answer
  was still heard) to PATH (none with ``--count-only``), and answers as ``count`` does.

When its standard input closes it prints ``{"requests": N}`` and exits.

:class:`ReceiverFarm` runs one from a test or a benchmark.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qs

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nCache-Control: no-store\r\n\r\n"


class _Farm:
    """The receivers, inside the farm's process."""

    def __init__(self, delay: float, keep_tokens: bool) -> None:
        self.delay = delay
        self.keep_tokens = keep_tokens
        self.answered = 0
        self.received = 0
        self.tokens: dict[int, list[str]] = defaultdict(list)
        self.servers: dict[int, asyncio.Server] = {}
        self.connections: dict[int, set[asyncio.StreamWriter]] = defaultdict(set)

    async def listen(self, port: int = 0) -> int:
        bound: list[int] = []  # The port, known once bound (port 0: any free one).
        server = await asyncio.start_server(
            lambda r, w: self.serve(r, w, bound[0]), "127.0.0.1", port, backlog=1024
        )
        bound.append(server.sockets[0].getsockname()[1])
        self.servers[bound[0]] = server
        return bound[0]

    def down(self, port: int) -> None:
        self.servers.pop(port).close()
        for writer in self.connections.pop(port, set()):
            writer.transport.abort()

    async def serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int
    ) -> None:
        self.connections[port].add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                body = await reader.readexactly(length)
                if self.keep_tokens:
                    self.tokens[port].extend(parse_qs(body.decode()).get("logout_token", []))
                self.received += 1
                if self.delay:
                    await asyncio.sleep(self.delay)
                writer.write(RESPONSE)
                await writer.drain()
                self.answered += 1
        except (asyncio.IncompleteReadError, asyncio.CancelledError, ConnectionError):
            pass
        finally:
            self.connections[port].discard(writer)
            writer.close()

    def command(self, line: str) -> dict[str, object]:
        verb, _, argument = line.strip().partition(" ")
        if verb == "tokens":
            Path(argument).write_text(json.dumps(self.tokens))
        elif verb == "down":
            self.down(int(argument))
            return {"down": int(argument)}
        open_now = sum(len(writers) for writers in self.connections.values())
        return {
            "requests": self.answered,
            "unanswered": self.received - self.answered,
            "connections": open_now,
        }


async def _main(count: int, delay: float, keep_tokens: bool) -> None:
    farm = _Farm(delay, keep_tokens)
    ports = [await farm.listen() for _ in range(count)]
    print(json.dumps(ports), flush=True)
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        verb, _, argument = line.strip().partition(" ")
        if verb == "up":
            answer: dict[str, object] = {"up": await farm.listen(int(argument))}
        else:
            answer = farm.command(line)
        print(json.dumps(answer), flush=True)
    print(json.dumps({"requests": farm.answered}), flush=True)


class ReceiverFarm:
    """``count`` receivers answering after ``delay`` seconds, in a process of their own
    (a context manager); ``keep_tokens=False``: they only count what they answer (the
    benchmarks, where parsing every body would cost the machine's cores)."""

    def __init__(self, count: int, delay: float = 0.0, *, keep_tokens: bool = True) -> None:
        options = [] if keep_tokens else ["--count-only"]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.receiver_farm", str(count), str(delay), *options],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        ports = self._read()
        assert isinstance(ports, list)
        self.ports: list[int] = ports

    def __enter__(self) -> ReceiverFarm:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def url(self, port: int) -> str:
        return f"http://127.0.0.1:{port}/bcl"

    def _read(self) -> object:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the receiver farm exited")
        return json.loads(line)

    def _ask(self, command: str) -> dict[str, int]:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        answer = self._read()
        assert isinstance(answer, dict)
        return answer

    def requests(self) -> int:
        """How many requests the receivers have answered."""
        return self._ask("count")["requests"]

    def unanswered(self) -> int:
        """How many requests the receivers have received and not answered yet."""
        return self._ask("count")["unanswered"]

    def connections(self) -> int:
        """How many connections to the receivers are open (0 once every sender that was
        connected has gone: everything it sent has been read)."""
        return self._ask("count")["connections"]

    def take_down(self, port: int) -> None:
        """The receiver on ``port`` stops listening: connections to it are refused."""
        self._ask(f"down {port}")

    def bring_up(self, port: int) -> None:
        """The receiver on ``port`` listens again."""
        self._ask(f"up {port}")

    def tokens(self) -> dict[int, list[str]]:
        """Every logout token received so far, by port."""
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "tokens.json"
            self._ask(f"tokens {path}")
            return {int(port): tokens for port, tokens in json.loads(path.read_text()).items()}

    def close(self) -> int:
        """Stop the receivers; return how many requests they answered."""
        if self.process.stdin is None or self.process.stdin.closed:
            return 0
        self.process.stdin.close()
        answered = self._read()
        self.process.wait(timeout=10)
        assert isinstance(answered, dict)
        return int(answered["requests"])


if __name__ == "__main__":
    asyncio.run(_main(int(sys.argv[1]), float(sys.argv[2]), "--count-only" not in sys.argv[3:]))
