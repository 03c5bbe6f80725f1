#!/usr/bin/python3
"""A fault-injecting HTTP/1.1 proxy for ferry's S3 tests (standard library only).

Listens on 127.0.0.1, forwards each request unchanged (Host included: the SigV4
signature covers the Host the client sent) to --upstream over a kept-alive connection,
and faults a share --rate of the requests, in an order fixed by --seed (see decide()).

Fault kinds (--faults, comma-separated):
  500          answered WITHOUT forwarding: 500 InternalError, S3 XML body
  503slowdown  forwarded FIRST (the request takes effect upstream), the answer is
               replaced by 503 SlowDown: a retry must be harmless (idempotence)
  reset        a request with a body: half the body is read, not forwarded, then the
               connection is reset (RST); without a body: forwarded, then the answer is
               cut by a reset halfway through its body (or its headers)
  stall        a request with a body: half of it is read, then nothing more (an upload
               the server stops reading); without a body: forwarded, then nothing is
               sent back; for --stall-seconds, then the connection is closed: the
               client's own timeout must notice
  truncate     forwarded, then the headers (with the real Content-Length) and half the
               body are sent and the connection is closed (no body: half the headers)
  delay        forwarded, the answer is held --delay-seconds, then sent whole (not a
               failure: a slow server the client must wait for)

Stats (requests, faults per kind, stalls the client gave up on) go to --stats as
JSON on SIGTERM/SIGINT or after --max-seconds; --log FILE gets one line per fault.
"""
import argparse
import asyncio
import json
import random
import signal
import socket
import struct
import sys

KINDS = ("500", "503slowdown", "reset", "stall", "truncate", "delay")
MAX_HEAD = 64 << 10
MAX_BODY = 256 << 20  # ferry's largest part is far below this in the tests

ERRORS = {
    "500": (500, "Internal Server Error", "InternalError",
            "We encountered an internal error. Please try again."),
    "503slowdown": (503, "Slow Down", "SlowDown", "Please reduce your request rate."),
}


class Proxy:
    def __init__(self, args):
        self.a = args
        self.kinds = [k for k in args.faults.split(",") if k]
        for k in self.kinds:
            if k not in KINDS:
                sys.exit("faultproxy: unknown fault kind %r (want %s)" % (k, ",".join(KINDS)))
        self.rng = random.Random(args.seed)
        self.round = []
        self.stats = {"requests": 0, "faulted": 0, "faults": {k: 0 for k in self.kinds},
                      "stall_client_gave_up": 0, "upstream_errors": 0}
        self.log = open(args.log, "a", buffering=1) if args.log else None

    def decide(self):
        """The n-th request's fault: from the seeded stream alone, so a seed gives the
        same faults at the same request numbers on every run (which request is n-th
        depends on how concurrent requests interleave). Kinds come in shuffled rounds of
        one each: after len(kinds) faults every kind has happened."""
        if not self.kinds or self.rng.random() >= self.a.rate or self.stats["requests"] <= self.a.after:
            return None
        if not self.round:
            self.round = list(self.kinds)
            self.rng.shuffle(self.round)
        return self.round.pop()

    def count(self, n, kind, method, target, how):
        self.stats["faulted"] += 1
        self.stats["faults"][kind] += 1
        if self.log:
            self.log.write("#%d %s %s %s: %s\n" % (n, kind, method, target, how))

    def write_stats(self):
        if self.a.stats:
            with open(self.a.stats, "w") as f:
                json.dump(self.stats, f, indent=1, sort_keys=True)
                f.write("\n")


async def read_head(reader):
    """One request or status line plus headers: (first line, [(name, value)], raw) or None at EOF."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as e:
        if not e.partial:
            return None
        raise
    if len(raw) > MAX_HEAD:
        raise ValueError("header too long")
    lines = raw[:-4].decode("latin-1").split("\r\n")
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    return lines[0], headers, raw


def header(headers, name):
    for n, v in headers:
        if n.lower() == name:
            return v
    return None


async def read_body(reader, headers, no_body):
    """A message body by Content-Length, chunked framing, or up to EOF; chunked is undone."""
    if no_body:
        return b"", False
    te = (header(headers, "transfer-encoding") or "").lower()
    if "chunked" in te:
        out = bytearray()
        while len(out) <= MAX_BODY:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass  # trailers
                return bytes(out), True
            out += await reader.readexactly(size)
            await reader.readexactly(2)
        raise ValueError("body too large")
    cl = header(headers, "content-length")
    if cl is not None:
        if int(cl) > MAX_BODY:
            raise ValueError("body too large")
        return await reader.readexactly(int(cl)), False
    return await reader.read(MAX_BODY), True  # until the upstream closes


def reset(writer):
    """Closes with an RST: SO_LINGER on, zero seconds."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def error_reply(kind, method, target):
    status, reason, code, message = ERRORS[kind]
    body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code><Message>%s</Message>"
            "<Resource>%s</Resource><RequestId>faultproxy</RequestId></Error>" %
            (code, message, target.split("?")[0])).encode()
    head = ("HTTP/1.1 %d %s\r\nContent-Type: application/xml\r\nContent-Length: %d\r\n\r\n" %
            (status, reason, 0 if method == "HEAD" else len(body))).encode()
    return head if method == "HEAD" else head + body


def rebuild_head(status_line, headers, body, rechunk):
    """Response headers again; a de-chunked or read-to-EOF body gets a Content-Length."""
    if not rechunk:
        return ("\r\n".join([status_line] + ["%s: %s" % h for h in headers]) + "\r\n\r\n").encode("latin-1")
    keep = [h for h in headers if h[0].lower() not in ("transfer-encoding", "content-length")]
    keep.append(("Content-Length", str(len(body))))
    return ("\r\n".join([status_line] + ["%s: %s" % h for h in keep]) + "\r\n\r\n").encode("latin-1")


class Upstream:
    """One kept-alive connection to the upstream per client connection."""

    def __init__(self, host, port):
        self.host, self.port, self.r, self.w = host, port, None, None

    async def exchange(self, head, body, method):
        for _ in range(2):
            reused = self.w is not None
            if not reused:
                self.r, self.w = await asyncio.open_connection(self.host, self.port)
            try:
                self.w.write(head + body)
                await self.w.drain()
                resp = await read_head(self.r)
            except (ConnectionError, asyncio.IncompleteReadError):
                resp = None
            if resp is not None:
                break
            self.close()
            if not reused:
                raise ConnectionError("upstream closed without answering")
            # a kept-alive connection the upstream had closed meanwhile: again on a new one
        status_line, headers, _ = resp
        code = int(status_line.split()[1])
        no_body = method == "HEAD" or code in (204, 304) or code < 200
        rbody, rechunk = await read_body(self.r, headers, no_body)
        if (header(headers, "connection") or "").lower() == "close" or (rechunk and
                header(headers, "transfer-encoding") is None):
            self.close()
        return status_line, headers, rbody, rechunk

    def close(self):
        if self.w is not None:
            self.w.transport.abort()
        self.r = self.w = None


async def stall(px, creader, loop):
    """Sends nothing for --stall-seconds or until the client gives up, which is what we
    hope to see (EOF, or a reset); the caller then drops the connection."""
    t0, how = loop.time(), "client still waiting"
    try:
        if not await asyncio.wait_for(creader.read(1), px.a.stall_seconds):
            how = "client gave up"
    except asyncio.TimeoutError:
        pass
    except ConnectionError:
        how = "client gave up"
    px.stats["stall_client_gave_up"] += how == "client gave up"
    return "%s after %.1f s" % (how, loop.time() - t0)


async def serve_client(px, creader, cwriter):
    host, port = px.a.upstream.rsplit(":", 1)
    up = Upstream(host, int(port))
    loop = asyncio.get_running_loop()
    try:
        while True:
            req = await read_head(creader)
            if req is None:
                return
            line, headers, raw = req
            method, target = line.split()[0], line.split()[1]
            if "chunked" in (header(headers, "transfer-encoding") or "").lower():
                cwriter.write(b"HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                await cwriter.drain()
                return
            clen = int(header(headers, "content-length") or 0)
            px.stats["requests"] += 1
            n = px.stats["requests"]
            kind = px.decide()

            if kind == "500":
                await creader.readexactly(clen)
                px.count(n, kind, method, target, "answered without forwarding")
                cwriter.write(error_reply(kind, method, target))
                await cwriter.drain()
                continue
            if kind == "reset" and clen > 0:
                await creader.readexactly(clen // 2)
                px.count(n, kind, method, target, "reset after %d of %d request bytes, not forwarded" % (clen // 2, clen))
                reset(cwriter)
                return

            if kind == "stall" and clen > 0:  # an upload the server stops reading halfway
                await creader.readexactly(clen // 2)
                # not reading on, we cannot see the client leave: hold the full time
                px.count(n, kind, method, target, "request body read to %d of %d, then held %.1f s" %
                         (clen // 2, clen, px.a.stall_seconds))
                await asyncio.sleep(px.a.stall_seconds)
                return

            body = await creader.readexactly(clen)
            try:
                status_line, rheaders, rbody, rechunk = await up.exchange(raw, body, method)
            except (OSError, ValueError, asyncio.IncompleteReadError) as e:
                px.stats["upstream_errors"] += 1
                sys.stderr.write("faultproxy: upstream: %s %s: %s\n" % (method, target, e))
                up.close()
                cwriter.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                await cwriter.drain()
                return
            rhead = rebuild_head(status_line, rheaders, rbody, rechunk)

            if kind == "503slowdown":
                px.count(n, kind, method, target, "forwarded (upstream answered %s), replaced by 503" %
                         status_line.split()[1])
                cwriter.write(error_reply(kind, method, target))
            elif kind in ("reset", "truncate"):
                cut = rhead + rbody[:len(rbody) // 2] if rbody else rhead[:len(rhead) // 2]
                px.count(n, kind, method, target, "forwarded, %d of %d reply bytes sent" %
                         (len(cut), len(rhead) + len(rbody)))
                cwriter.write(cut)
                await cwriter.drain()
                if kind == "reset":
                    reset(cwriter)
                else:  # a clean FIN after what was written (the abort below would drop it)
                    cwriter.close()
                    await asyncio.wait_for(cwriter.wait_closed(), 10)
                return
            elif kind == "stall":
                how = await stall(px, creader, loop)
                px.count(n, kind, method, target, "forwarded, answer held: %s" % how)
                return
            else:
                if kind == "delay":
                    px.count(n, kind, method, target, "forwarded, answer held %.1f s" % px.a.delay_seconds)
                    await asyncio.sleep(px.a.delay_seconds)
                cwriter.write(rhead + rbody)
            await cwriter.drain()
            if (header(headers, "connection") or "").lower() == "close":
                return
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError,
            ValueError):
        return  # the client went away or sent garbage: drop the connection
    finally:
        up.close()
        cwriter.transport.abort()


async def main(args):
    px = Proxy(args)
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    loop.call_later(args.max_seconds, done.set)
    server = await asyncio.start_server(lambda r, w: serve_client(px, r, w), "127.0.0.1", args.port,
                                        limit=MAX_HEAD)
    print("PORT=%d" % server.sockets[0].getsockname()[1], flush=True)
    await done.wait()
    server.close()
    px.write_stats()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="fault-injecting HTTP/1.1 proxy (127.0.0.1 only)")
    ap.add_argument("--upstream", required=True, help="HOST:PORT of the real server")
    ap.add_argument("--port", type=int, default=0, help="port to listen on (0: any; printed as PORT=N)")
    ap.add_argument("--seed", default="0")
    ap.add_argument("--rate", type=float, default=0.05, help="share of requests faulted, 0..1")
    ap.add_argument("--faults", default=",".join(KINDS), help="comma-separated subset of " + ",".join(KINDS))
    ap.add_argument("--after", type=int, default=0, help="leave the first N requests alone")
    ap.add_argument("--stall-seconds", type=float, default=5.0)
    ap.add_argument("--delay-seconds", type=float, default=1.0)
    ap.add_argument("--max-seconds", type=float, default=600.0, help="exit by itself after this long")
    ap.add_argument("--stats", help="write the counts here as JSON on exit")
    ap.add_argument("--log", help="append one line per fault here")
    a = ap.parse_args()
    if not 0.0 <= a.rate <= 1.0:
        ap.error("--rate wants 0..1")
    if a.upstream.rsplit(":", 1)[0] not in ("127.0.0.1", "localhost"):
        ap.error("--upstream must be on 127.0.0.1")
    asyncio.run(main(a))
