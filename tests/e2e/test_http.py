"""End-to-end: HTTP/1.1 framing, limits, errors and timeouts of cdxgw.

Raw TLS sockets send exact bytes; each rejection test has a control request
that the same gateway serves, so a rejection cannot pass vacuously."""

import os
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdxtest  # noqa: E402
from cdxtest import Conn, Gateway, problem_check  # noqa: E402

MAX_BODY = 1024
HEADER_TIMEOUT_MS = 1500
KEEPALIVE_MS = 1500
BODY_TIMEOUT_MS = 5000

PKI = None
GW = None


def setUpModule():
    global PKI, GW
    PKI = cdxtest.shared_pki()
    GW = Gateway(PKI, name="http", settings={
        "max_body_bytes": MAX_BODY,
        "header_timeout_ms": HEADER_TIMEOUT_MS,
        "keepalive_timeout_ms": KEEPALIVE_MS,
        "body_timeout_ms": BODY_TIMEOUT_MS,
    }).start()


def tearDownModule():
    if GW is not None:
        GW.stop()


def get(path="/healthz", extra=""):
    return "GET %s HTTP/1.1\r\nHost: localhost\r\n%s\r\n" % (path, extra)


class HttpCase(unittest.TestCase):
    def setUp(self):
        if not GW.alive():
            self.fail("gateway is not running (exit %s); stderr:\n%s"
                      % (GW.proc.returncode, GW.log()[-4000:]))

    def conn(self, **kw):
        c = Conn.open(GW, **kw)
        self.addCleanup(c.close)
        return c

    def assert_closed(self, c, timeout=60.0):
        self.assertTrue(c.wait_closed(timeout), "connection still open after %.1fs" % timeout)
        self.assertNotIn(b"HTTP/1.", c.buf, "unexpected further response: %r" % c.buf[:500])

    def assert_ok_healthz(self, c):
        c.send(get())
        r = c.read_response()
        self.assertIsNotNone(r, "connection closed instead of answering GET /healthz")
        self.assertEqual(r.status, 200, r)
        return r


class TestRoutes(HttpCase):

    def test_healthz_json(self):
        r = self.assert_ok_healthz(self.conn())
        self.assertTrue((r.header("content-type") or "").startswith("application/json"), r)
        self.assertEqual(r.json().get("status"), "ok", r)

    def test_404_problem_json(self):
        c = self.conn()
        c.send(get("/no/such/path"))
        problem_check(self, c.read_response(), 404, "NOT_FOUND")

    def test_405_problem_json(self):
        c = self.conn()
        c.send("DELETE /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        problem_check(self, c.read_response(), 405, "METHOD_NOT_ALLOWED")

    def test_post_with_body_read_then_405(self):
        c = self.conn()
        body = b"x" * MAX_BODY  # exactly the limit: allowed, read, then routed
        c.send(b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body) + body)
        problem_check(self, c.read_response(), 405, "METHOD_NOT_ALLOWED")
        # The body was consumed: the connection is still in sync.
        self.assert_ok_healthz(c)

    def test_request_ids_differ(self):
        c = self.conn()
        ids = []
        for _ in range(2):
            c.send(get("/nope"))
            ids.append(problem_check(self, c.read_response(), 404, "NOT_FOUND")["request_id"])
        self.assertNotEqual(ids[0], ids[1])

    def test_metrics_prometheus(self):
        self.assert_ok_healthz(self.conn())
        r = GW.curl("/metrics", cert="admin")
        self.assertEqual(r.status, 200, r)
        ctype = ""
        for line in r.headers.splitlines():
            if line.lower().startswith("content-type:"):
                ctype = line.split(":", 1)[1].strip().lower()
        self.assertTrue(ctype.startswith("text/plain"), ctype)
        names = set()
        for line in r.body.splitlines():
            if line.strip() and not line.startswith("#"):
                names.add(line.split("{")[0].split()[0])
        self.assertTrue(names, r.body)
        for n in names:
            self.assertTrue(n.startswith("cdxgw_"), "metric %r does not start with cdxgw_" % n)
        reqs = cdxtest.metric_samples(r.body, "cdxgw_http_requests_total")
        self.assertTrue(any(lab.get("status") == "200" and "route" in lab and v >= 1
                            for lab, v in reqs), reqs)
        for needed in ("cdxgw_http_request_duration_seconds_bucket",
                       "cdxgw_http_request_duration_seconds_count",
                       "cdxgw_connections_active", "cdxgw_jobs_in_flight"):
            self.assertIn(needed, names)
        self.assertIn("# TYPE cdxgw_http_request_duration_seconds histogram", r.body)


    def test_metrics_admin_only_by_default(self):
        # A loopback client without the admin role is refused (the test runs
        # on loopback, so this is the case metrics_loopback opens).
        r = GW.curl("/metrics", cert="good")
        self.assertEqual(r.status, 403, r)
        self.assertEqual(cdxtest.curl_json(r).get("code"), "FORBIDDEN", r)
        self.assertNotIn("cdxgw_", r.body)
        c = self.conn()
        c.send(get("/metrics"))
        problem_check(self, c.read_response(), 403, "FORBIDDEN")
        # The admin institution is served.
        self.assertEqual(GW.curl("/metrics", cert="admin").status, 200)

    def test_metrics_loopback_opt_in(self):
        with Gateway(PKI, name="http-metrics-loopback",
                     settings={"metrics_loopback": "true"}) as gw:
            r = gw.curl("/metrics", cert="good")
            self.assertEqual(r.status, 200, r)
            self.assertIn("cdxgw_connections_active", r.body)
            # Only /metrics is opened, not the other routes needing a role.
            r = gw.curl("/v1/documents/%s/metadata" % ("0" * 32), cert="admin")
            self.assertEqual(r.status, 403, r)


class TestBodyLimits(HttpCase):

    def test_413_before_body_is_read(self):
        c = self.conn()
        c.send("POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\n"
               "Content-Length: %d\r\n\r\n" % (MAX_BODY + 1))
        # No body is sent. A server waiting for it would answer 408
        # HTTP_BODY_TIMEOUT after body_timeout_ms; a 413 shows it decided
        # from the header alone.
        r = c.read_response(timeout=120.0)
        problem_check(self, r, 413, "BODY_TOO_LARGE")
        self.assert_closed(c)

    def expect_continue(self, method, final_status, final_code=None):
        c = self.conn()
        c.send("%s /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\n"
               "Content-Length: 10\r\nExpect: 100-continue\r\n\r\n" % method)
        interim = c.read_response(timeout=120.0)
        self.assertIsNotNone(interim, "closed instead of 100 Continue")
        self.assertEqual(interim.status, 100, "expected HTTP/1.1 100 Continue before the body, "
                         "got %r" % (interim,))
        self.assertTrue(interim.raw.startswith(b"HTTP/1.1 100 Continue\r\n"), interim.raw)
        c.send("0123456789")
        r = c.read_response()
        if final_code:
            problem_check(self, r, final_status, final_code)
        else:
            self.assertEqual(r.status, final_status, r)
        return c

    def test_expect_continue_ok_size_routed(self):
        # GET /healthz with a body: the route exists, so 100 then 200.
        c = self.expect_continue("GET", 200)
        self.assert_ok_healthz(c)

    def test_expect_continue_refused_route_answers_at_once(self):
        # A request the gateway will refuse anyway (POST /healthz -> 405) is
        # answered with its final status at once (RFC 9110 15.2.1): no
        # 100 Continue, the body is never sent, and the connection closes.
        c = self.conn()
        c.send("POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\n"
               "Content-Length: 10\r\nExpect: 100-continue\r\n\r\n")
        # The body is never sent: the first response must be the final one.
        r = c.read_response(timeout=120.0)
        self.assertIsNotNone(r, "closed without a response")
        problem_check(self, r, 405, "METHOD_NOT_ALLOWED")
        self.assertTrue(c.wait_closed(60.0))

    def test_post_healthz_body_read_then_405(self):
        # Without Expect the body is read to its end, then answered, and the
        # connection stays usable.
        c = self.conn()
        c.send("POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\n"
               "0123456789")
        r = c.read_response(timeout=120.0)
        problem_check(self, r, 405, "METHOD_NOT_ALLOWED")
        self.assert_ok_healthz(c)

    def test_expect_continue_oversize(self):
        c = self.conn()
        c.send("POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\n"
               "Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % (MAX_BODY + 1))
        r = c.read_response(timeout=120.0)
        self.assertIsNotNone(r, "closed without a response")
        problem_check(self, r, 413, "BODY_TOO_LARGE")
        self.assertTrue(c.wait_closed(60.0))
        self.assertNotIn(b"100 Continue", c.buf)


class TestFraming(HttpCase):
    """Controls of the framing rules; the refusals themselves are rows
    22-28 of test_catalogue.py (TestHttpFraming)."""

    def test_control_pipelined_requests_both_answered(self):
        c = self.conn()
        c.send(get() + get("/nope"))
        r1, r2 = c.read_response(), c.read_response()
        self.assertEqual(r1.status, 200, r1)
        self.assertIsNotNone(r2, "second pipelined request not answered")
        self.assertEqual(r2.status, 404, r2)

    def test_chunked_body_accepted(self):
        # Control for the chunk tests: a well-formed chunked body is read.
        c = self.conn()
        c.send("POST /healthz HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
               "5\r\nhello\r\n0\r\n\r\n")
        problem_check(self, c.read_response(), 405, "METHOD_NOT_ALLOWED")
        self.assert_ok_healthz(c)


class TestRequestLine(HttpCase):

    def test_single_spaces_served(self):
        self.assert_ok_healthz(self.conn())

    def test_extra_spaces_400(self):
        cases = {
            "two spaces after method": "GET  /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
            "two spaces before version": "GET /healthz  HTTP/1.1\r\nHost: localhost\r\n\r\n",
            "trailing space": "GET /healthz HTTP/1.1 \r\nHost: localhost\r\n\r\n",
            "tab separator": "GET\t/healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
        }
        for name, raw in cases.items():
            with self.subTest(case=name):
                c = Conn.open(GW)
                try:
                    c.send(raw)
                    doc = problem_check(self, c.read_response(), 400, "HTTP_MALFORMED")
                    self.assertIn("request line", doc["detail"], doc)
                    self.assert_closed(c)
                finally:
                    c.close()


CHUNKED_POST = ("POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\n"
                "Transfer-Encoding: chunked\r\n\r\n")


class TestChunkedFraming(HttpCase):
    """The gateway's own scan of chunked bodies (the system libhttp-parser is
    not a strict build): each refusal has a well-formed control."""

    def refused(self, body, status, code, timeout=30.0):
        c = self.conn()
        c.send(CHUNKED_POST + body)
        doc = problem_check(self, c.read_response(timeout=timeout), status, code)
        self.assert_closed(c)
        return doc

    def accepted(self, body):
        c = self.conn()
        c.send(CHUNKED_POST + body)
        problem_check(self, c.read_response(), 405, "METHOD_NOT_ALLOWED")
        self.assert_ok_healthz(c)  # the body was read to its end, in sync

    def test_controls_accepted(self):
        self.accepted("5\r\nhello\r\n0\r\n\r\n")
        self.accepted("5;name=value\r\nhello\r\n0\r\n\r\n")
        self.accepted("5;q=\"a b\"\r\nhello\r\n0\r\n\r\n")
        self.accepted("005\r\nhello\r\n0\r\nX-Trailer: yes\r\n\r\n")
        self.accepted("200\r\n" + "x" * 512 + "\r\n200\r\n" + "y" * 512 + "\r\n0\r\n\r\n")

    def test_data_not_followed_by_crlf(self):
        for tail in ("XY", "\n\n", "\rX", "X\n"):
            with self.subTest(tail=tail):
                self.refused("5\r\nhello" + tail + "0\r\n\r\n", 400, "HTTP_BAD_CHUNK")

    def test_bare_lf_in_size_line_or_extension(self):
        for body in ("5\nhello\r\n0\r\n\r\n", "5;a=b\nhello\r\n0\r\n\r\n",
                     "5;a\n\r\nhello\r\n0\r\n\r\n", "5\r\nhello\r\n0\n\r\n",
                     "5\r\nhello\r\n0\r\n\n"):
            with self.subTest(body=body):
                self.refused(body, 400, "HTTP_BAD_CHUNK")

    def test_overlong_extension(self):
        doc = self.refused("5;x=" + "a" * 5000 + "\r\nhello\r\n0\r\n\r\n", 400,
                           "HTTP_BAD_CHUNK")
        self.assertIn("extension", doc["detail"], doc)

    def test_size_overflow_says_so(self):
        doc = self.refused("1" + "0" * 16 + "\r\nhello\r\n0\r\n\r\n", 400, "HTTP_BAD_CHUNK")
        self.assertIn("overflow", doc["detail"], doc)
        self.assertNotIn("content", doc["detail"].lower(), doc)

    def test_over_limit_refused_before_data(self):
        # The chunk announcing more than max_body_bytes is refused at once:
        # no data follows, so a gateway waiting for it would answer 408
        # (body_timeout_ms) instead.
        self.refused("%x\r\n" % (MAX_BODY + 1), 413, "BODY_TOO_LARGE")
        # The running total passes the limit on the third chunk's size line.
        self.refused("200\r\n" + "x" * 512 + "\r\n200\r\n" + "y" * 512 + "\r\n1\r\n",
                     413, "BODY_TOO_LARGE")


class TestHeaderLimits(HttpCase):

    def test_header_count_431(self):
        ok = self.conn()
        ok.send(get(extra="".join("X-H-%d: v\r\n" % i for i in range(50))))
        r = ok.read_response()
        self.assertEqual(r.status, 200, "control: 50 headers should be fine: %r" % (r,))
        c = self.conn()
        c.send(get(extra="".join("X-H-%d: v\r\n" % i for i in range(200))))
        problem_check(self, c.read_response(), 431, "HTTP_HEADERS_TOO_LARGE")
        self.assert_closed(c)

    def test_header_bytes_431(self):
        ok = self.conn()
        ok.send(get(extra="X-Big: %s\r\n" % ("a" * 16000)))
        r = ok.read_response()
        self.assertEqual(r.status, 200, "control: 16 KB of headers should be fine: %r" % (r,))
        c = self.conn()
        c.send(get(extra="X-Big: %s\r\n" % ("a" * 40000)))
        problem_check(self, c.read_response(), 431, "HTTP_HEADERS_TOO_LARGE")
        self.assert_closed(c)

    def test_request_line_414(self):
        ok = self.conn()
        ok.send(get("/" + "a" * 4000))
        problem_check(self, ok.read_response(), 404, "NOT_FOUND")
        c = self.conn()
        c.send(get("/" + "a" * 9000))
        problem_check(self, c.read_response(), 414, "HTTP_REQUEST_LINE_TOO_LONG")
        self.assert_closed(c)


class TestKeepAliveAndTimeouts(HttpCase):

    def test_keepalive_two_requests_one_connection(self):
        c = self.conn()
        r1 = self.assert_ok_healthz(c)
        self.assertNotEqual((r1.header("connection") or "").lower(), "close", r1)
        self.assert_ok_healthz(c)

    def test_keepalive_idle_close(self):
        c = self.conn()
        self.assert_ok_healthz(c)
        t0 = time.monotonic()
        closed = c.wait_closed(120.0)
        elapsed = time.monotonic() - t0
        self.assertTrue(closed, "idle keep-alive connection not closed after %.1fs" % elapsed)
        # A lower bound only (a loaded machine makes it later, never earlier).
        self.assertGreater(elapsed, KEEPALIVE_MS / 1000.0 * 0.6, "closed too early")

    def test_slowloris_cut_while_normal_client_served(self):
        c = self.conn()
        t0 = time.monotonic()
        head = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: "
        state = {"cut": None, "sent": 0, "error": None}

        def drip():
            try:
                i = 0
                while time.monotonic() - t0 < 120.0:
                    try:
                        c.sock.sendall(head[i:i + 1] if i < len(head) else b"a")
                    except (OSError, ValueError):
                        state["cut"] = time.monotonic() - t0
                        return
                    i += 1
                    state["sent"] = i
                    c.sock.settimeout(0.3)
                    try:
                        data = c.sock.recv(65536)
                    except socket.timeout:
                        continue
                    except OSError:
                        data = b""
                    if data:
                        c.buf += data
                    # EOF, a reset or a (408) response: the server acted.
                    if not data or b"\r\n\r\n" in c.buf:
                        if not data:
                            state["cut"] = time.monotonic() - t0
                            return
                        c.eof = False
                        if not c.wait_closed(60.0):
                            state["error"] = "response but no close: %r" % c.buf[:300]
                        state["cut"] = time.monotonic() - t0
                        return
            except Exception as e:  # noqa: BLE001 - report in the main thread
                state["error"] = repr(e)

        th = threading.Thread(target=drip)
        th.start()
        cdxtest.wait_for(lambda: state["sent"] > 0 or state["cut"] is not None,
                         what="the slow client started")
        r = GW.curl("/healthz", timeout=60)  # a normal client meanwhile
        th.join(150)
        self.assertEqual(r.status, 200, "normal client not served during slowloris: %r" % (r,))
        self.assertIsNone(state["error"], state["error"])
        self.assertIsNotNone(state["cut"], "slowloris connection never cut (sent %d bytes)"
                             % state["sent"])
        limit = HEADER_TIMEOUT_MS / 1000.0
        # A lower bound only: on a loaded machine the cut comes later.
        self.assertGreater(state["cut"], limit * 0.6, "cut before header_timeout_ms: %r" % state)
        if os.environ.get("CDX_E2E_DEBUG"):
            print("slowloris:", state, c.buf[:300], file=sys.stderr)
        if b"HTTP/1." in c.buf:
            rr = Conn(None)
            rr.buf, rr.eof = c.buf, True
            problem_check(self, rr.read_response(), 408, "HTTP_HEADER_TIMEOUT")


class TestSlowBody(unittest.TestCase):
    """body_min_rate_bps is checked at the end of body_rate_grace_ms and then
    regularly, however often the slow client sends a byte."""

    GRACE_MS = 1000

    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway(PKI, name="http-slow-body", settings={
            "body_rate_grace_ms": cls.GRACE_MS,
            "body_min_rate_bps": 200,
            "body_timeout_ms": 5000,
        }).start()

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()

    def test_drip_below_min_rate_gets_408(self):
        length = 400  # 40 s at the drip rate below: far beyond the grace
        c = Conn.open(self.gw)
        self.addCleanup(c.close)
        c.send("POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\n"
               "Content-Length: %d\r\n\r\n" % length)
        t0 = time.monotonic()
        sent = 0
        answered = None
        while sent < length:
            try:
                c.send(b"x")
            except OSError:
                break  # closed by the gateway: its answer is in the socket
            sent += 1
            try:
                c.sock.settimeout(0.1)
                data = c.sock.recv(65536)
            except (socket.timeout, TimeoutError):
                continue
            except OSError:
                data = b""
            c.buf += data
            if b"\r\n\r\n" in c.buf or not data:
                break
        answered = time.monotonic() - t0
        r = c.read_response(timeout=10.0)
        problem_check(self, r, 408, "HTTP_BODY_TOO_SLOW")
        self.assertLess(sent, length, "the whole body was accepted at 10 bytes/s")
        print("slow body: 408 after %.2f s of body (grace %d ms), %d bytes sent"
              % (answered, self.GRACE_MS, sent), file=sys.stderr)


if __name__ == "__main__":
    cdxtest.main()
