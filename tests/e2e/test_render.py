"""End-to-end: GET /v1/documents/{id}/html and the media downloads it links.

Hostile narratives (script elements in the XHTML namespace, on* and style
attributes, javascript: and data: URLs in linkHtml and renderMultiMedia,
CSS expressions, SVG and MathML foreign content, entity and CDATA tricks,
deep nesting, a large table) are pushed through a running gateway over
mTLS, their pages fetched and parsed with html.parser: no element outside
the page's allow-list, no on* or style attribute, no href other than an
in-document "#..." link or the media download route.  The response headers
are checked (CSP whose style hash matches the page's <style>, nosniff,
no-store, DENY, no-referrer), the samples' Korean text is rendered (Hanbit
in UTF-8, Dasom in EUC-KR), an allow-listed embedded PNG downloads as an
attachment while an HTML one does not, and every read, refusal (role) and
unknown id is audited as document.read."""

import base64
import hashlib
import html.parser
import os
import re
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdxtest  # noqa: E402
from cdxtest import Gateway, Institution, problem_check  # noqa: E402

HANBIT = cdxtest.DEMO_OIDS["hanbit"]
DASOM = cdxtest.DEMO_OIDS["dasom"]
E2E = cdxtest.E2E_OID
SUBMIT_ONLY = "2.25.1011"

PKI = None
GW = None
CERTS = {}

# The page's allow-list (parsers/render.c): elements and attributes.
ALLOWED_TAGS = {
    "html", "head", "title", "style", "body", "header", "main", "section", "footer", "div",
    "h1", "h2", "h3", "h4", "h5", "h6", "dl", "dt", "dd", "p", "span", "ul", "ol", "li",
    "table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td", "br", "sub", "sup",
    "small", "strong", "em", "a",
}
ALLOWED_ATTRS = {"class", "id", "lang", "href", "colspan", "rowspan"}
FRAGMENT = re.compile(r"^#[A-Za-z0-9_.:-]{1,80}$")

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


def setUpModule():
    global PKI, GW, CERTS
    PKI = cdxtest.shared_pki()
    CERTS = cdxtest.institution_certs(PKI, ["hanbit", "dasom", "submitonly"])
    insts = [Institution(E2E, "e2e clinic", PKI.good, "submit, query"),
             Institution(HANBIT, "hanbit", CERTS["hanbit"], "submit, query"),
             Institution(DASOM, "dasom", CERTS["dasom"], "submit, query"),
             Institution(SUBMIT_ONLY, "submit only", CERTS["submitonly"], "submit")]
    GW = Gateway(PKI, name="render", institutions=insts,
                 settings={"worker_threads": 2, "max_body_bytes": 8 << 20}).start()


def tearDownModule():
    if GW is not None:
        GW.stop()


_counter = [0]


def fresh_ext(prefix="R"):
    _counter[0] += 1
    return "%s-%d-%d" % (prefix, os.getpid(), _counter[0])


class Page(html.parser.HTMLParser):
    """Every start tag with its attributes, the text, and the <style> text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags = []
        self.text = []
        self.style = []
        self.stack = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs, list(self.stack)))
        if tag not in ("br",):
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, attrs, list(self.stack)))

    def handle_endtag(self, tag):
        if tag in self.stack:
            while self.stack and self.stack.pop() != tag:
                pass

    def handle_data(self, data):
        if self.stack and self.stack[-1] == "style":
            self.style.append(data)
        else:
            self.text.append(data)

    def all_text(self):
        return "".join(self.text)


def narrative_doc(narrative, entries=b"", ext=None, lang=b"en-US"):
    """A small document of the e2e clinic with one section around narrative
    (bytes, the content of <text>) and entries (bytes) after it."""
    body = (b'<component><structuredBody><component><section>'
            b'<code code="11450-4" codeSystem="2.16.840.1.113883.6.1"/><title>Problems</title>'
            b'<text>' + narrative + b'</text>' + entries +
            b'</section></component></structuredBody></component>')
    xml = cdxtest.minimal_cda(E2E, doc_ext=ext or fresh_ext(), body=body,
                              root_attrs=b' xmlns:x="http://www.w3.org/1999/xhtml"'
                                         b' xmlns:s="http://www.w3.org/2000/svg"'
                                         b' xmlns:m="http://www.w3.org/1998/Math/MathML"')
    return xml.replace(b'<languageCode code="en-US"/>', b'<languageCode code="' + lang + b'"/>')


MEDIA_ENTRIES = b"".join([
    b'<entry><observationMedia classCode="OBS" moodCode="EVN" ID="M1">'
    b'<value xsi:type="ED" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    b'mediaType="image/png" representation="B64">' + base64.b64encode(PNG) + b'</value>'
    b'</observationMedia></entry>',
    b'<entry><observationMedia classCode="OBS" moodCode="EVN" ID="M2">'
    b'<value mediaType="text/html" representation="B64">'
    + base64.b64encode(b"<script>alert(1)</script>") + b'</value></observationMedia></entry>',
    b'<entry><observationMedia classCode="OBS" moodCode="EVN" ID="M3">'
    b'<value mediaType="image/svg+xml" representation="B64">'
    + base64.b64encode(b'<svg onload="alert(1)"/>') + b'</value></observationMedia></entry>',
])

# Hostile narratives: name -> bytes of <text> content.
HOSTILE = {
    "script": b'<paragraph>a<x:script>alert(1)</x:script><script>alert(2)</script>b</paragraph>',
    "on-attributes": b'<paragraph onclick="alert(1)" onmouseover="alert(2)">p</paragraph>'
                     b'<content onload="x" ID="c1">c</content>',
    "style-attribute": b'<paragraph style="background:url(javascript:alert(1))">s</paragraph>',
    "css-expression": b'<content styleCode="Bold expression(alert(1))">e</content>'
                      b'<content styleCode="x&quot; style=&quot;color:red">q</content>',
    "javascript-link": b'<linkHtml href="javascript:alert(1)">j</linkHtml>'
                       b'<linkHtml href=" JaVaScRiPt:alert(1)">j2</linkHtml>'
                       b'<linkHtml href="java&#x09;script:alert(1)">j3</linkHtml>',
    "data-link": b'<linkHtml href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">'
                 b'd</linkHtml>',
    "remote-link": b'<linkHtml href="https://evil.example/">remote</linkHtml>'
                   b'<linkHtml href="//evil.example/">proto-relative</linkHtml>',
    "fragment-link": b'<linkHtml href="#t1">to target</linkHtml>'
                     b'<paragraph ID="t1">target</paragraph>'
                     b'<linkHtml href="#missing">dangling</linkHtml>',
    "id-injection": b'<paragraph ID="a&quot; onclick=&quot;alert(1)">i</paragraph>'
                    b'<footnote ID="f&lt;1">fn</footnote><footnoteRef IDREF="f&lt;1"/>',
    "multimedia": b'<renderMultiMedia referencedObject="M1"><caption>png</caption>'
                  b'</renderMultiMedia><renderMultiMedia referencedObject="M2"/>'
                  b'<renderMultiMedia referencedObject="M3"/>'
                  b'<renderMultiMedia referencedObject="javascript:alert(1)"/>',
    "svg": b'<s:svg onload="alert(1)"><s:script>alert(1)</s:script><s:foreignObject>'
           b'<x:iframe src="https://evil.example/"/></s:foreignObject>'
           b'<s:a href="javascript:alert(1)">svg link</s:a></s:svg>',
    "mathml": b'<m:math><m:maction actiontype="statusline" href="javascript:alert(1)">m'
              b'</m:maction></m:math>',
    "xhtml": b'<x:img src="https://evil.example/p.png" onerror="alert(1)"/>'
             b'<x:iframe srcdoc="&lt;script&gt;alert(1)&lt;/script&gt;"/>'
             b'<x:object data="x.swf"/><x:embed src="x"/><x:link rel="stylesheet" href="x"/>'
             b'<x:meta http-equiv="refresh" content="0;url=javascript:alert(1)"/>'
             b'<x:base href="https://evil.example/"/><x:form action="x"><x:input/></x:form>'
             b'<x:style>*{background:url(x)}</x:style><x:a href="javascript:alert(1)">a</x:a>',
    "html-lookalike-ns": b'<paragraph xmlns:h="urn:hl7-org:v3-not"><h:script>x</h:script>'
                         b'</paragraph><script xmlns="">alert(3)</script>',
    "entities": b'&lt;script&gt;alert(1)&lt;/script&gt; &amp;lt;b&amp;gt; '
                b'&#x3C;img src=x onerror=alert(1)&#x3E; &#60;iframe&#62;',
    "cdata": b'<paragraph><![CDATA[<script>alert(1)</script><img src=x onerror=alert(1)>]]>'
             b'</paragraph>',
    "comments-pis": b'<paragraph><!-- <script>alert(1)</script> --><?php echo 1; ?>z</paragraph>',
    "table-attributes": b'<table border="1" onclick="x" style="x"><caption>cap</caption><tbody>'
                        b'<tr><td colspan="9999" rowspan="2" style="color:red" '
                        b'onmouseover="x">cell</td></tr></tbody></table>',
    "language": b'<paragraph language="ko&quot; onclick=&quot;x">lang</paragraph>'
                b'<paragraph language="ko-KR">\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4</paragraph>',
}


class RenderCase(unittest.TestCase):
    def setUp(self):
        if not GW.alive():
            self.fail("gateway is not running; stderr:\n%s" % GW.log()[-4000:])

    def post_ok(self, body, cert):
        r = cdxtest.post_document(GW, body, cert)
        self.assertIn(r.status, (200, 201), "%r\nlog tail:\n%s" % (r, GW.log()[-1500:]))
        return cdxtest.curl_json(r)["id"]

    def get(self, path, cert):
        return cdxtest.curl_get_bytes(GW, path, cert)

    def page(self, docid, cert=None):
        """(headers, Page, bytes) of a 200 page, its sinks checked."""
        st, hdrs, body = self.get("/v1/documents/%s/html" % docid, cert or PKI.good)
        self.assertEqual(st, 200, body[:2000])
        self.check_headers(hdrs)
        p = Page()
        p.feed(body.decode("utf-8"))
        p.close()
        self.check_no_sink(p, body, docid)
        self.check_style_hash(hdrs, p)
        return hdrs, p, body

    def check_headers(self, hdrs):
        self.assertEqual(hdrs.get("content-type"), "text/html; charset=utf-8")
        self.assertEqual(hdrs.get("x-content-type-options"), "nosniff")
        self.assertEqual(hdrs.get("cache-control"), "no-store")
        self.assertEqual(hdrs.get("x-frame-options"), "DENY")
        self.assertEqual(hdrs.get("referrer-policy"), "no-referrer")
        csp = [d.strip() for d in hdrs.get("content-security-policy", "").split(";")]
        self.assertIn("default-src 'none'", csp)
        self.assertIn("frame-ancestors 'none'", csp)
        self.assertIn("base-uri 'none'", csp)
        self.assertIn("form-action 'none'", csp)
        style = [d for d in csp if d.startswith("style-src")]
        self.assertEqual(len(style), 1, csp)
        self.assertNotIn("unsafe", style[0])
        for d in csp:
            self.assertFalse(d.startswith("script-src"), csp)

    def check_style_hash(self, hdrs, p):
        css = "".join(p.style).encode("utf-8")
        want = "'sha256-%s'" % base64.b64encode(hashlib.sha256(css).digest()).decode()
        self.assertIn("style-src " + want, hdrs["content-security-policy"])

    def check_no_sink(self, p, body, docid):
        media = re.compile(r"^/v1/documents/%s/media/[A-Za-z0-9_.:-]{1,80}$" % docid)
        styles = 0
        for tag, attrs, stack in p.tags:
            self.assertIn(tag, ALLOWED_TAGS, "forbidden element <%s>" % tag)
            if tag == "style":
                styles += 1
                self.assertEqual(stack, ["html", "head"], "a <style> outside <head>")
            for name, value in attrs:
                self.assertIn(name, ALLOWED_ATTRS, "forbidden attribute %s on <%s>" % (name, tag))
                self.assertFalse(name.startswith("on"))
                if name == "href":
                    self.assertEqual(tag, "a")
                    self.assertTrue(FRAGMENT.match(value or "") or media.match(value or ""),
                                    "href %r" % value)
                if name in ("colspan", "rowspan"):
                    self.assertTrue(value.isdigit() and 1 <= int(value) <= 999, value)
                if name == "class":
                    self.assertRegex(value, r"^[a-z0-9 -]*$")
                if name == "id":
                    self.assertRegex(value, r"^[A-Za-z0-9_.:-]{1,80}$")
        self.assertLessEqual(styles, 1)
        low = body.lower()
        # Nothing that parses as markup carries these; text may mention them
        # only escaped.
        for sink in (b"<script", b"<iframe", b"<svg", b"<math", b"<img", b"<object", b"<embed",
                     b"<link", b"<meta", b"<base", b"<form", b"<frame", b"<input"):
            self.assertNotIn(sink, low)
        for tag in re.findall(rb"<[^>]*>", body):
            self.assertNotIn(b"javascript:", tag.lower())
            self.assertNotIn(b"data:", tag.lower())
            self.assertNotIn(b"expression(", tag.lower())


class TestHostileNarratives(RenderCase):

    def test_no_script_sink(self):
        for name, narrative in sorted(HOSTILE.items()):
            with self.subTest(case=name):
                docid = self.post_ok(narrative_doc(narrative, MEDIA_ENTRIES), PKI.good)
                _, p, body = self.page(docid)
                text = p.all_text()
                self.assertIn("Problems", text)
                if name == "entities":
                    # Escaped markup stays visible text, never markup.
                    self.assertIn("<script>alert(1)</script>", text)
                    self.assertIn("&lt;b&gt;", text)
                    self.assertIn("<img src=x onerror=alert(1)>", text)
                if name == "cdata":
                    self.assertIn("<script>alert(1)</script>", text)
                if name == "fragment-link":
                    links = [dict(a).get("href") for t, a, _ in p.tags if t == "a"]
                    self.assertEqual(links, ["#n-t1"])
                    ids = [dict(a).get("id") for t, a, _ in p.tags if dict(a).get("id")]
                    self.assertIn("n-t1", ids)
                    self.assertIn("dangling", text)
                if name in ("javascript-link", "data-link", "remote-link"):
                    self.assertFalse([t for t, _, _ in p.tags if t == "a"])
                if name == "language":
                    self.assertIn("한국어", text)
                    langs = [dict(a).get("lang") for t, a, _ in p.tags if dict(a).get("lang")]
                    self.assertEqual(langs, ["en-US", "ko-KR"])
                if name == "css-expression":
                    classes = [dict(a).get("class") for t, a, _ in p.tags if t == "span"]
                    self.assertIn("b", classes)
                if name == "table-attributes":
                    td = [a for t, a, _ in p.tags if t == "td"]
                    self.assertEqual(td, [[("rowspan", "2")]])

    def test_media_download(self):
        docid = self.post_ok(narrative_doc(HOSTILE["multimedia"], MEDIA_ENTRIES), PKI.good)
        _, p, _ = self.page(docid)
        links = [dict(a)["href"] for t, a, _ in p.tags if t == "a"]
        self.assertEqual(links, ["/v1/documents/%s/media/M1" % docid])
        self.assertIn("png", p.all_text())
        self.assertIn("not displayed", p.all_text())
        seq = cdxtest.audit_max_seq(GW)
        st, hdrs, body = self.get(links[0], PKI.good)
        self.assertEqual(st, 200)
        self.assertEqual(body, PNG)
        self.assertEqual(hdrs.get("content-type"), "image/png")
        self.assertTrue(hdrs.get("content-disposition", "").startswith("attachment"), hdrs)
        self.assertEqual(hdrs.get("x-content-type-options"), "nosniff")
        self.assertIn("sandbox", hdrs.get("content-security-policy", ""))
        rows = cdxtest.audit_since(GW, seq)
        self.assertEqual([(ev, oc, actor, did) for _, ev, oc, actor, did, _ in rows],
                         [("document.read", 0, E2E, docid)], rows)
        self.assertEqual(rows[0][5], "form=media")
        # Not allow-listed, absent, or not an ID: 404, audited.
        for ref in ("M2", "M3", "M9", "javascript:alert(1)", "..%2F..%2Fx"):
            with self.subTest(ref=ref):
                seq = cdxtest.audit_max_seq(GW)
                st, hdrs, body = self.get("/v1/documents/%s/media/%s" % (docid, ref), PKI.good)
                problem_check(self, cdxtest.Response(st or 0, "", list(hdrs.items()), body, b""),
                              404, "MEDIA_NOT_FOUND")
                rows = cdxtest.audit_since(GW, seq)
                self.assertEqual(len(rows), 1, rows)
                self.assertIn("code=MEDIA_NOT_FOUND", rows[0][5])

    def test_broken_base64_fails_rendering(self):
        entries = (b'<entry><observationMedia classCode="OBS" moodCode="EVN" ID="B1">'
                   b'<value mediaType="image/png" representation="B64">iVBO*not base64*</value>'
                   b'</observationMedia></entry>')
        docid = self.post_ok(narrative_doc(b'<renderMultiMedia referencedObject="B1"/>', entries),
                             PKI.good)
        seq = cdxtest.audit_max_seq(GW)
        st, hdrs, body = self.get("/v1/documents/%s/media/B1" % docid, PKI.good)
        d = problem_check(self, cdxtest.Response(st or 0, "", list(hdrs.items()), body, b""),
                          422, "RENDER_FAILED")
        self.assertIn("base64", d["detail"])
        rows = cdxtest.audit_since(GW, seq)
        self.assertEqual([(ev, oc, did, det) for _, ev, oc, _, did, det in rows],
                         [("document.read", 0, docid, "form=media status=422 code=RENDER_FAILED")],
                         rows)

    def test_deep_nesting_and_large_table(self):
        deep = b"<content>" * 230 + b"deep" + b"</content>" * 230
        rows = b"".join(b"<tr>" + b"<td>&gt;&lt;&amp;\"</td>" * 20 + b"</tr>" for _ in range(3000))
        table = b"<table><tbody>" + rows + b"</tbody></table>"
        for name, narrative in (("deep", deep), ("table", table)):
            with self.subTest(case=name):
                xml = narrative_doc(narrative)
                docid = self.post_ok(xml, PKI.good)
                _, p, body = self.page(docid)
                self.assertLessEqual(len(body), 4 * len(xml) + 256 * 1024)
                if name == "deep":
                    self.assertIn("deep", p.all_text())
                else:
                    self.assertEqual(sum(1 for t, _, _ in p.tags if t == "td"), 60000)


class TestSamples(RenderCase):

    def sample(self, inst, name):
        path = os.path.join(cdxtest.SOURCE_DIR, "samples", inst, name)
        with open(path, "rb") as f:
            return f.read()

    def test_korean_samples(self):
        cases = [("hanbit", "care-summary-kim-minjun.xml", "ko-KR",
                  ["진료기록요약지", "김민준", "합병증을 동반하지 않은 2형 당뇨병", "한빛대학교병원"]),
                 ("dasom", "referral-choi-yuna.xml", "ko", ["진료의뢰서", "최유나"])]
        for inst, name, lang, texts in cases:
            with self.subTest(sample=name):
                r = cdxtest.post_document(GW, self.sample(inst, name), CERTS[inst])
                self.assertIn(r.status, (200, 201), r)
                docid = cdxtest.curl_json(r)["id"]
                # The patient consents (recorded by the home institution);
                # another institution with the query role reads it.
                patient = cdxtest.curl_json(r)["patient"]
                cdxtest.permit_all(GW, CERTS[inst], (patient["root"], patient["extension"]))
                other = CERTS["dasom" if inst == "hanbit" else "hanbit"]
                _, p, _ = self.page(docid, other)
                html_tag = [a for t, a, _ in p.tags if t == "html"]
                self.assertEqual(html_tag, [[("lang", lang)]])
                text = p.all_text()
                for t in texts:
                    self.assertIn(t, text)

    def test_mixed_script(self):
        narrative = ("<paragraph>Metformin 메트포르민 500 mg — café, Ærø, 糖尿病</paragraph>"
                     .encode("utf-8"))
        docid = self.post_ok(narrative_doc(narrative, lang=b"ko_kr"), PKI.good)
        _, p, _ = self.page(docid)
        self.assertIn("Metformin 메트포르민 500 mg — café, Ærø, 糖尿病", p.all_text())
        self.assertEqual([a for t, a, _ in p.tags if t == "html"], [[("lang", "ko-KR")]])

    def test_bad_language_code_gives_no_lang(self):
        docid = self.post_ok(narrative_doc(b"x", lang=b"en&quot; onload=&quot;x"), PKI.good)
        _, p, _ = self.page(docid)
        self.assertEqual([a for t, a, _ in p.tags if t == "html"], [[]])


class TestAccess(RenderCase):

    def test_read_is_audited(self):
        docid = self.post_ok(narrative_doc(b"<paragraph>x</paragraph>"), PKI.good)
        seq = cdxtest.audit_max_seq(GW)
        self.page(docid)
        rows = cdxtest.audit_since(GW, seq)
        self.assertEqual([(ev, oc, actor, did, det) for _, ev, oc, actor, did, det in rows],
                         [("document.read", 0, E2E, docid, "form=html")], rows)
        pkey = cdxtest.registry_query(GW, "SELECT patient_key FROM audit WHERE seq = ?",
                                      (rows[0][0],))[0][0]
        self.assertRegex(pkey or "", r"^[0-9a-f]{32}$")

    def test_role_refused_and_audited(self):
        docid = self.post_ok(narrative_doc(b"<paragraph>x</paragraph>"), PKI.good)
        for suffix in ("/html", "/media/M1"):
            with self.subTest(suffix=suffix):
                seq = cdxtest.audit_max_seq(GW)
                st, hdrs, body = self.get("/v1/documents/%s%s" % (docid, suffix),
                                          CERTS["submitonly"])
                problem_check(self, cdxtest.Response(st or 0, "", list(hdrs.items()), body, b""),
                              403, "FORBIDDEN")
                rows = cdxtest.wait_for(lambda: cdxtest.audit_since(GW, seq),
                                        what="an audit record")
                self.assertEqual([(ev, oc, actor, did) for _, ev, oc, actor, did, _ in rows],
                                 [("document.read", 8, SUBMIT_ONLY, docid)], rows)
                self.assertIn("code=FORBIDDEN", rows[0][5])

    def test_unknown_id_audited(self):
        # A well-formed id no document has is refused as a document without
        # consent (an id tells nothing); a malformed one is no document id.
        for docid, malformed in ((uuid.uuid4().hex, False), ("not-an-id", True)):
            with self.subTest(docid=docid):
                seq = cdxtest.audit_max_seq(GW)
                st, hdrs, body = self.get("/v1/documents/%s/html" % docid, PKI.good)
                problem_check(self, cdxtest.Response(st or 0, "", list(hdrs.items()), body, b""),
                              404 if malformed else 403,
                              "DOCUMENT_NOT_FOUND" if malformed else "CONSENT_REQUIRED")
                rows = cdxtest.audit_since(GW, seq)
                self.assertEqual([(ev, oc, actor, did) for _, ev, oc, actor, did, _ in rows],
                                 [("document.read", 4 if malformed else 8, E2E,
                                   None if malformed else docid)], rows)
                self.assertIn("form=html status=404 code=DOCUMENT_NOT_FOUND" if malformed else
                              "route=documents.html status=403 code=CONSENT_REQUIRED", rows[0][5])


class TestZLog(RenderCase):
    """Runs last (classes run in name order): what the renderings left in
    the gateway's log."""

    def test_log_clean(self):
        for name in ("김민준", "최유나", "합병증", "alert(1)"):
            self.assertNotIn(name, GW.log())
        self.assertIsNone(cdxtest.sanitizer_report(GW.log()), GW.log()[-5000:])


if __name__ == "__main__":
    cdxtest.main()
