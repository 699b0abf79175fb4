"""End-to-end under valgrind memcheck: no memory error, no leak.

The gateway (the build under test; meaningful for the default build, the
sanitizer builds are skipped) runs under
`valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect
--error-exitcode=99`.  The samples are pushed by their institutions and
read back in every form; then the error paths that allocate and free the
most on the way out: a refused handshake, a wrong media type, malformed
XML, a DOCTYPE, an identity mismatch, a conflict, an unknown id, a body
announced too large, conflicting framing headers, a chunked body, a client
that leaves in the middle of a body.  SIGTERM must then end the gateway
with exit 0 (99 would be a memcheck error or a definite/indirect leak) and
the valgrind log must say so.  Suppressions: tests/valgrind.supp (each
one justified there).  Skipped, visibly, when valgrind is not installed."""

import os
import re
import shutil
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdxtest  # noqa: E402
from cdxtest import Conn, Gateway, Institution  # noqa: E402

VALGRIND = shutil.which("valgrind")
SUPPRESSIONS = os.path.join(cdxtest.SOURCE_DIR, "tests", "valgrind.supp")
# Under memcheck everything is 20 to 50 times slower: generous limits.
SLOW = {"handshake_timeout_ms": 60000, "header_timeout_ms": 60000, "body_timeout_ms": 60000,
        "body_rate_grace_ms": 600000, "keepalive_timeout_ms": 120000,
        "write_timeout_ms": 60000, "shutdown_timeout_ms": 60000, "worker_threads": 2,
        "log_level": "info", "max_body_bytes": 1 << 20}
TIMEOUT = 300.0


def sanitized_build():
    """True when cdxgw is built with ASan/TSan (valgrind cannot run those)."""
    try:
        with open(cdxtest.BIN, "rb") as f:
            data = f.read()
    except OSError:
        return False
    return b"__asan_init" in data or b"__tsan_init" in data


@unittest.skipUnless(VALGRIND, "valgrind is not installed (scripts/setup installs it)")
@unittest.skipIf(sanitized_build(), "cdxgw is built with a sanitizer; valgrind runs on the "
                 "default build")
class TestValgrind(unittest.TestCase):

    def test_memcheck_end_to_end(self):
        pki = cdxtest.shared_pki()
        certs = cdxtest.institution_certs(pki, sorted(cdxtest.DEMO_OIDS))
        insts = [Institution(cdxtest.E2E_OID, "e2e clinic", pki.good, "submit, query")]
        for name, oid in sorted(cdxtest.DEMO_OIDS.items()):
            insts.append(Institution(oid, name, certs[name], "submit, query"))
        gw = Gateway(pki, name="valgrind", institutions=insts, settings=SLOW)
        vlog = os.path.join(gw.dir, "valgrind.log")
        gw.wrapper = [VALGRIND, "--tool=memcheck", "--leak-check=full",
                      "--show-leak-kinds=definite,indirect",
                      "--errors-for-leak-kinds=definite,indirect", "--error-exitcode=99",
                      "--num-callers=40", "--suppressions=" + SUPPRESSIONS,
                      "--log-file=" + vlog]
        gw.start(timeout=TIMEOUT)
        self.addCleanup(gw.stop, TIMEOUT)

        # The samples, each by its institution, and every form read back.
        stored = []
        samples = [(i, p) for i, p in cdxtest.sample_files() if i in cdxtest.DEMO_OIDS]
        self.assertGreater(len(samples), 0, "no samples found")
        conns = {}
        try:
            for inst, path in samples:
                with open(path, "rb") as f:
                    body = f.read()
                c = conns.get(inst) or conns.setdefault(
                    inst, Conn.open(gw, cert=certs[inst], timeout=TIMEOUT))
                r = cdxtest.raw_post(c, body, timeout=TIMEOUT)
                self.assertIsNotNone(r, path)
                self.assertIn(r.status, (200, 201), "%s: %r" % (path, r))
                stored.append((inst, r.json()["id"], body))
            for inst, uid, body in stored:
                c = conns[inst]
                g = cdxtest.raw_get(c, "/v1/documents/" + uid, timeout=TIMEOUT)
                self.assertEqual((g.status, g.body), (200, body), uid)
                for suffix in ("?form=normalized", "/metadata"):
                    g = cdxtest.raw_get(c, "/v1/documents/" + uid + suffix, timeout=TIMEOUT)
                    self.assertEqual(g.status, 200, "%s%s: %r" % (uid, suffix, g))
        finally:
            for c in conns.values():
                c.close()

        # Error paths.
        refused, detail = cdxtest.handshake_refused(gw, None, timeout=TIMEOUT)
        self.assertTrue(refused, detail)
        first_inst, first_uid, first_body = stored[0]
        doc = cdxtest.minimal_cda(doc_ext="VG-%d" % os.getpid())
        with Conn.open(gw, timeout=TIMEOUT) as c:
            for body, ctype, status, code in (
                    (doc, "application/json", 415, "UNSUPPORTED_MEDIA_TYPE"),
                    (b"<ClinicalDocument xmlns='urn:hl7-org:v3'><unclosed>", "application/xml",
                     400, "XML_MALFORMED"),
                    (b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>",
                     "application/xml", 400, "XML_DTD_FORBIDDEN"),
                    (first_body, "application/xml", 403, "IDENTITY_MISMATCH"),
                    (doc, "application/xml", 201, None),
                    (doc.replace(b"e2e test document", b"e2e test document, changed"),
                     "application/xml", 409, "DOC_ID_CONFLICT")):
                r = cdxtest.raw_post(c, body, content_type=ctype, timeout=TIMEOUT)
                self.assertIsNotNone(r, code)
                self.assertEqual(r.status, status, r)
                if code:
                    self.assertEqual(r.json()["code"], code, r)
            r = cdxtest.raw_get(c, "/v1/documents/" + "0" * 32, timeout=TIMEOUT)
            self.assertEqual(r.status, 403, r)  # an unknown id: CONSENT_REQUIRED
            # A chunked body, the way many EMR clients send.
            doc2 = cdxtest.minimal_cda(doc_ext="VG-CHUNKED-%d" % os.getpid())
            half = len(doc2) // 2
            c.send(b"POST /v1/documents HTTP/1.1\r\nHost: localhost\r\nContent-Type: "
                   b"application/xml\r\nTransfer-Encoding: chunked\r\n\r\n"
                   + b"%x\r\n" % half + doc2[:half] + b"\r\n"
                   + b"%x\r\n" % (len(doc2) - half) + doc2[half:] + b"\r\n0\r\n\r\n")
            r = c.read_response(timeout=TIMEOUT)
            self.assertEqual(r.status, 201, r)
        with Conn.open(gw, timeout=TIMEOUT) as c:
            c.send(b"POST /v1/documents HTTP/1.1\r\nHost: localhost\r\nContent-Type: "
                   b"application/xml\r\nContent-Length: 99999999\r\n\r\n")
            r = c.read_response(timeout=TIMEOUT)
            self.assertEqual(r.status, 413, r)
        with Conn.open(gw, timeout=TIMEOUT) as c:
            c.send(b"POST /v1/documents HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
            r = c.read_response(timeout=TIMEOUT)
            self.assertEqual(r.status, 400, r)
        # A client that leaves in the middle of a body, then one more request
        # to be sure the gateway went on.
        c = Conn.open(gw, timeout=TIMEOUT)
        c.send(b"POST /v1/documents HTTP/1.1\r\nHost: localhost\r\nContent-Type: "
               b"application/xml\r\nContent-Length: 5000\r\n\r\n" + doc[:100])
        c.close()
        with Conn.open(gw, timeout=TIMEOUT) as c:
            r = cdxtest.raw_get(c, "/healthz", timeout=TIMEOUT)
            self.assertEqual(r.status, 200, r)

        rc = gw.stop(TIMEOUT)
        with open(vlog, encoding="utf-8", errors="replace") as f:
            report = f.read()
        summary = [ln.split("== ", 1)[-1] for ln in report.splitlines()
                   if re.search(r"(definitely|indirectly|possibly) lost:|still reachable:|"
                                r"ERROR SUMMARY:|All heap blocks were freed", ln)]
        sys.stderr.write("\n  valgrind: " + "\n  valgrind: ".join(summary) + "\n")
        self.assertEqual(rc, 0, "exit %s under valgrind (99: a memcheck error or a definite/"
                         "indirect leak); valgrind log:\n%s\ngateway log tail:\n%s"
                         % (rc, report[-20000:], gw.log()[-2000:]))
        self.assertRegex(report, r"ERROR SUMMARY: 0 errors", report[-20000:])
        self.assertNotRegex(report, r"(definitely|indirectly) lost: [1-9]", report[-20000:])


if __name__ == "__main__":
    cdxtest.main()
