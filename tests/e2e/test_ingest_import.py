"""End-to-end: `cdxgw import` of folders with documents it must refuse.

- A document whose custodian has no id (representedCustodianOrganization/id
  nullFlavor="NI") is rejected with CUSTODIAN_NO_ID, or filed under its
  author organization when that institution is registered with
  identity_policy = custodian_or_author; the import goes on, the summary
  counts what the registry holds, and a second run skips it all.
- Each document is filed under its custodian, whose numbering its id must be
  in (its OID, an arc under it, a UUID, or an id_root registered for it):
  others are rejected with DOCUMENT_ID_FOREIGN, as `cdxgw validate` says.
- A document the registry refuses undoes only itself; a batch whose commit
  fails is reported as rolled back, and the summary counts only what earlier
  batches committed."""

import json
import os
import re
import sqlite3
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdxtest  # noqa: E402

CUST = "2.25.3001"          # an archive's custodian, registered by the import
AUTHOR = "2.25.3002"        # registered, may stand in for an unidentified custodian
CUST2 = "2.25.3003"         # registered with an id_root
CUST2_ROOT = "1.2.840.114350.1.13.777"
STRANGER = "2.25.3009"      # an author organization nobody registered

CONFIG_INSTITUTIONS = """
[institution]
oid = %s
name = Author Clinic
roles = submit
identity_policy = custodian_or_author

[institution]
oid = %s
name = Vendor-numbered Hospital
roles = submit
id_root = %s
""" % (AUTHOR, CUST2, CUST2_ROOT)


def with_author_org(xml, org):
    return xml.replace(b"</assignedPerson></assignedAuthor>",
                       ('</assignedPerson><representedOrganization><id root="%s"/><name>Org'
                        '</name></representedOrganization></assignedAuthor>' % org).encode(), 1)


def without_custodian_id(xml, custodian):
    out = xml.replace(('<representedCustodianOrganization><id root="%s"/>' % custodian).encode(),
                      b'<representedCustodianOrganization><id nullFlavor="NI"/>', 1)
    assert out != xml
    return out


def run_cmd(args, cwd):
    p = subprocess.run([cdxtest.BIN] + args, cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=300)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def summary(out):
    m = re.search(r"stored (\d+), already stored (\d+) \(identical (\d+)\), rejected (\d+)", out)
    if not m:
        return None
    reasons = {c: int(n) for c, n in re.findall(r"^\s{4}([A-Z][A-Z0-9_]+)\s+(\d+)\s*$", out, re.M)}
    return {"stored": int(m.group(1)), "already": int(m.group(2)), "rejected": int(m.group(4)),
            "reasons": reasons}


class ImportCase(unittest.TestCase):
    def setUp(self):
        cdxtest.require_binary(self)
        self.work = cdxtest.scratch("import")
        self.folder = os.path.join(self.work, "archive")
        os.makedirs(self.folder)
        self.conf = os.path.join(self.work, "cdxgw.conf")
        with open(self.conf, "w") as f:
            f.write("data_dir = data\n" + CONFIG_INSTITUTIONS)
        self.db = os.path.join(self.work, "data", "registry.db")

    def write(self, name, body):
        with open(os.path.join(self.folder, name), "wb") as f:
            f.write(body)

    def stored_ids(self):
        return set(r[0] for r in cdxtest.registry_query(self.db,
                                                        "SELECT unique_id FROM documents"))

    def import_(self):
        rc, out, err = run_cmd(["import", "--config", self.conf, self.folder], self.work)
        self.assertIsNone(cdxtest.sanitizer_report(err), err[-3000:])
        s = summary(out)
        self.assertIsNotNone(s, out + err)
        return rc, s, out, err


class TestImportRefusals(ImportCase):

    def test_custodian_without_id_and_foreign_ids(self):
        good = []
        for i in range(1, 13):
            ext = "GOOD-%02d" % i
            self.write("%02d-good.xml" % i, cdxtest.minimal_cda(CUST, doc_ext=ext))
            good.append("%s.2^%s" % (CUST, ext))
        # Early in the order, so a stop there would lose everything after it.
        self.write("03-ni.xml", without_custodian_id(
            with_author_org(cdxtest.minimal_cda(CUST, doc_ext="NI-1", doc_root=STRANGER + ".2"),
                            STRANGER), CUST))
        self.write("04-ni-author.xml", without_custodian_id(
            with_author_org(cdxtest.minimal_cda(CUST, doc_ext="NI-2", doc_root=AUTHOR + ".2"),
                            AUTHOR), CUST))
        # A registered author organization without custodian_or_author may
        # not stand in either.
        self.write("04-ni-no-policy.xml", without_custodian_id(
            with_author_org(cdxtest.minimal_cda(CUST, doc_ext="NI-3", doc_root=CUST2 + ".2"),
                            CUST2), CUST))
        self.write("05-foreign.xml", cdxtest.minimal_cda(CUST, doc_ext="F-1",
                                                         doc_root=STRANGER + ".2"))
        self.write("06-id-root.xml", cdxtest.minimal_cda(CUST2, doc_ext="V-1",
                                                         doc_root=CUST2_ROOT + ".5"))
        self.write("07-uuid.xml", cdxtest.minimal_cda(
            CUST, doc_ext=None, id_tag=b'<id root="0b3c5d8e-6f7a-4b1c-9d2e-3f4a5b6c7d8e"/>'))
        expected = set(good) | {AUTHOR + ".2^NI-2", CUST2_ROOT + ".5^V-1",
                                "0b3c5d8e-6f7a-4b1c-9d2e-3f4a5b6c7d8e"}

        rc, s, out, err = self.import_()
        self.assertEqual(rc, 1, out + err)
        self.assertEqual(s["stored"], len(expected), out + err)
        self.assertEqual(s["rejected"], 3, out)
        self.assertEqual(s["reasons"], {"CUSTODIAN_NO_ID": 2, "DOCUMENT_ID_FOREIGN": 1}, out)
        self.assertEqual(self.stored_ids(), expected)
        # Filed under the author organization, and no institution without an OID.
        rows = cdxtest.registry_query(self.db, "SELECT i.oid FROM documents d JOIN institutions i"
                                      " ON i.id = d.submitter_id WHERE d.unique_id = ?",
                                      (AUTHOR + ".2^NI-2",))
        self.assertEqual(rows, [(AUTHOR,)])
        self.assertEqual(cdxtest.registry_query(
            self.db, "SELECT count(*) FROM institutions WHERE oid = '' OR oid IS NULL"), [(0,)])
        self.assertNotIn("registry error", err)
        p = cdxtest.audit_verify(self.conf)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

        # validate says the same, file by file.
        files = sorted(os.listdir(self.folder))
        rc, out, err = run_cmd(["validate", "--json", "--config", self.conf] +
                               [os.path.join(self.folder, f) for f in files], self.work)
        self.assertEqual(rc, 1, err)
        codes = {os.path.basename(o["file"]): o["code"]
                 for o in (json.loads(line) for line in out.splitlines() if line.strip())}
        self.assertEqual(codes["03-ni.xml"], "CUSTODIAN_NO_ID")
        self.assertEqual(codes["04-ni-no-policy.xml"], "CUSTODIAN_NO_ID")
        self.assertEqual(codes["05-foreign.xml"], "DOCUMENT_ID_FOREIGN")
        self.assertEqual(sorted(f for f, c in codes.items() if c is not None),
                         ["03-ni.xml", "04-ni-no-policy.xml", "05-foreign.xml"], codes)

        # A second run skips what is stored and rejects the same two.
        rc, s2, out, err = self.import_()
        self.assertEqual((s2["stored"], s2["already"], s2["rejected"]),
                         (0, len(expected), 3), out + err)
        self.assertEqual(cdxtest.table_count(self.db, "documents"), len(expected))


class TestImportRegistryFailures(ImportCase):

    def prepare_registry(self, sql):
        """Creates the registry with an empty import, then applies sql."""
        empty = os.path.join(self.work, "empty")
        os.makedirs(empty)
        rc, out, err = run_cmd(["import", "--config", self.conf, empty], self.work)
        self.assertEqual(rc, 0, out + err)
        con = sqlite3.connect(self.db)
        try:
            con.executescript(sql)
        finally:
            con.close()

    def test_refused_document_undoes_only_itself(self):
        # Refused after its documents row was written: only a rollback of
        # the document's own changes keeps that row out.
        self.prepare_registry(
            "CREATE TRIGGER refuse AFTER INSERT ON document_content WHEN (SELECT unique_id"
            " FROM documents WHERE id = NEW.document_id) LIKE '%REFUSE%'"
            " BEGIN SELECT RAISE(FAIL, 'refused for the test'); END;")
        for i in range(1, 6):
            ext = "REFUSE-%d" % i if i == 3 else "KEEP-%d" % i
            self.write("%02d.xml" % i, cdxtest.minimal_cda(CUST, doc_ext=ext))
        rc, s, out, err = self.import_()
        self.assertEqual(rc, 1, out + err)
        self.assertEqual((s["stored"], s["rejected"]), (4, 1), out + err)
        self.assertEqual(s["reasons"], {"REGISTRY_REFUSED": 1}, out)
        self.assertIn("03.xml: not stored", err)
        self.assertEqual(self.stored_ids(), {"%s.2^KEEP-%d" % (CUST, i) for i in (1, 2, 4, 5)})
        self.assertEqual(cdxtest.table_count(self.db, "document_content"), 4)

    def test_failed_commit_counts_only_committed_batches(self):
        # The 66th document makes its batch's commit fail (a deferred
        # foreign key checked only at COMMIT): the first 64 stay stored.
        self.prepare_registry(
            "CREATE TABLE boom (x INTEGER REFERENCES institutions(id)"
            "  DEFERRABLE INITIALLY DEFERRED);"
            "CREATE TRIGGER boom AFTER INSERT ON documents WHEN NEW.unique_id LIKE '%BOOM%'"
            " BEGIN INSERT INTO boom VALUES (-1); END;")
        for i in range(1, 71):
            ext = "BOOM-%d" % i if i == 66 else "B-%d" % i
            self.write("%03d.xml" % i, cdxtest.minimal_cda(CUST, doc_ext=ext))
        rc, s, out, err = self.import_()
        self.assertEqual(rc, 2, out + err)
        self.assertEqual(cdxtest.table_count(self.db, "documents"), 64)
        self.assertEqual(s["stored"], 64, out + err)
        self.assertIn("rolled back", err)
        self.assertRegex(err, r"its 6 files stored nothing \(6 new documents in it are not "
                              r"stored\); 64 documents stored by earlier batches stay stored")
        self.assertIn("stopped after 70 of 70 files", out)


if __name__ == "__main__":
    cdxtest.main()
