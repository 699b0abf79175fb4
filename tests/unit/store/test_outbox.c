/* Unit tests of the outbox (gateway/store/outbox.c): one row per document
 * and destination, due order (in flight first), outcomes that change only
 * a pending row and write their audit record with it, operators' retry,
 * counts and relays. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdx/base/common.h"
#include "cdx/store/outbox.h"
#include "cdx/store/registry.h"
#include "cdx_test.h"

static cdx_registry_t *reg;

static int setup(void **state)
{
    (void)state;
    char dir[1024], path[1200], err[512];
    if (cdx_test_scratch_dir(dir, sizeof dir, "outbox") != 0)
        return -1;
    snprintf(path, sizeof path, "%s/registry.db", dir);
    if (cdx_registry_open(path, &reg, err, sizeof err) != 0)
        return -1;
    cdx_institution_t inst;
    memset(&inst, 0, sizeof inst);
    strcpy(inst.oid, "2.25.8");
    strcpy(inst.name, "Receiver");
    strcpy(inst.endpoint, "https://127.0.0.1:9/v1/documents");
    if (cdx_registry_put_institution(reg, &inst, "test") != 0)
        return -1;
    return cdx_registry_ensure_institution(reg, "2.25.99", "named only");
}

static int teardown(void **state)
{
    (void)state;
    cdx_registry_close(reg);
    return 0;
}

static int64_t count_audit(void)
{
    int64_t n = 0;
    assert_int_equal(cdx_registry_count(reg, CDX_COUNT_AUDIT, &n), 0);
    return n;
}

static void test_add_is_once_per_document_and_destination(void **state)
{
    (void)state;
    int created = 0;
    assert_int_equal(
        cdx_outbox_add(reg, "doc1", "2.25.8", "referral", "doc1", NULL, 1000, &created), 0);
    assert_int_equal(created, 1);
    assert_int_equal(
        cdx_outbox_add(reg, "doc1", "2.25.8", "subscription", "s1", NULL, 1000, &created), 0);
    assert_int_equal(created, 0);
    assert_int_equal(
        cdx_outbox_add(reg, "doc1", "2.25.7", "referral", "doc1", NULL, 1000, &created), 0);
    assert_int_equal(created, 1);
    /* An unknown reason is refused by the table. */
    assert_true(cdx_outbox_add(reg, "doc9", "2.25.8", "gossip", "", NULL, 1000, &created) != 0);
}

static void test_known_destinations(void **state)
{
    (void)state;
    int known = 0;
    assert_int_equal(cdx_outbox_destination_known(reg, "2.25.8", &known), 0);
    assert_int_equal(known, 1);
    assert_int_equal(cdx_outbox_destination_known(reg, "2.25.99", &known), 0);
    assert_int_equal(known, 0);
    assert_int_equal(cdx_outbox_destination_known(reg, "2.25.100", &known), 0);
    assert_int_equal(known, 0);
}

static void test_due_order_and_outcomes(void **state)
{
    (void)state;
    int created = 0;
    assert_int_equal(cdx_outbox_add(reg, "d-a", "2.25.50", "referral", "", NULL, 100, &created), 0);
    assert_int_equal(cdx_outbox_add(reg, "d-b", "2.25.50", "referral", "", NULL, 100, &created), 0);
    assert_int_equal(cdx_outbox_add(reg, "d-c", "2.25.50", "referral", "", NULL, 5000, &created),
                     0);
    cdx_delivery_t rows[8];
    size_t n = 0;
    assert_int_equal(cdx_outbox_due(reg, "2.25.50", 1000, rows, 8, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(rows[0].document_uid, "d-a");
    int64_t b = rows[1].id;
    /* b was in flight when the gateway stopped: it comes first. */
    assert_int_equal(cdx_outbox_started(reg, b), 0);
    assert_int_equal(cdx_outbox_due(reg, "2.25.50", 1000, rows, 8, &n), 0);
    assert_int_equal(rows[0].id, b);
    assert_int_equal(rows[0].attempts, 1);
    assert_int_equal(rows[0].in_flight, 1);
    char dests[4][128];
    assert_int_equal(cdx_outbox_due_destinations(reg, 1000, dests, 4, &n), 0);
    int found = 0;
    for (size_t i = 0; i < n; i++)
        found |= strcmp(dests[i], "2.25.50") == 0;
    assert_true(found);
    /* Delivered, with its audit record. */
    int64_t before = count_audit();
    cdx_audit_event_t ev = {.event = "delivery.sent", .actor_oid = "local:test", .outcome = 0};
    cdx_outbox_outcome_t o = {.id = b, .state = "delivered", .receipt_status = 201,
                              .receipt_sha256 = "ab", .receipt_summary = "ok", .latency_ms = 12};
    int changed = 0;
    assert_int_equal(cdx_outbox_finish(reg, &o, &ev, &changed), 0);
    assert_int_equal(changed, 1);
    assert_int_equal(count_audit(), before + 1);
    cdx_delivery_t d;
    assert_int_equal(cdx_outbox_get(reg, b, &d), 0);
    assert_string_equal(d.state, "delivered");
    assert_int_equal(d.receipt_status, 201);
    assert_int_equal(d.latency_ms, 12);
    assert_int_equal(d.in_flight, 0);
    /* A second outcome for it changes nothing and audits nothing. */
    o.state = "dead";
    assert_int_equal(cdx_outbox_finish(reg, &o, &ev, &changed), 0);
    assert_int_equal(changed, 0);
    assert_int_equal(count_audit(), before + 1);
    /* A retry moves the time of the next attempt. */
    o = (cdx_outbox_outcome_t){.id = rows[1].id, .state = "pending", .next_ms = 9000,
                               .error = "http 500"};
    assert_int_equal(cdx_outbox_finish(reg, &o, NULL, &changed), 0);
    assert_int_equal(changed, 1);
    assert_int_equal(cdx_outbox_due(reg, "2.25.50", 1000, rows, 8, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(cdx_outbox_get(reg, o.id, &d), 0);
    assert_string_equal(d.last_error, "http 500");
    assert_int_equal(d.latency_ms, -1);
    assert_int_equal(cdx_outbox_get(reg, 987654, &d), CDX_ENOTFOUND);
}

static void test_retry_list_counts(void **state)
{
    (void)state;
    int created = 0, changed = 0;
    assert_int_equal(cdx_outbox_add(reg, "r-1", "2.25.60", "referral", "", NULL, 100, &created), 0);
    cdx_delivery_t rows[8];
    size_t n = 0;
    assert_int_equal(cdx_outbox_due(reg, "2.25.60", 1000, rows, 8, &n), 0);
    assert_int_equal(n, 1);
    int64_t id = rows[0].id;
    cdx_outbox_outcome_t o = {.id = id, .state = "dead", .error = "tls_host"};
    assert_int_equal(cdx_outbox_finish(reg, &o, NULL, &changed), 0);
    assert_int_equal(cdx_outbox_list(reg, "dead", "2.25.60", 0, rows, 8, &n), 0);
    assert_int_equal(n, 1);
    int64_t count = 0;
    cdx_audit_event_t ev = {.event = "delivery.retry", .actor_oid = "local:test", .outcome = 0};
    assert_int_equal(cdx_outbox_retry(reg, 0, 2000, &ev, &count), 0);
    assert_true(count >= 1);
    assert_int_equal(cdx_outbox_get(reg, id, rows), 0);
    assert_string_equal(rows[0].state, "pending");
    assert_int_equal(rows[0].attempts, 0);
    assert_int_equal(rows[0].created_ms, 2000);
    /* A delivered one is never made pending again. */
    o = (cdx_outbox_outcome_t){.id = id, .state = "delivered", .receipt_status = 200};
    assert_int_equal(cdx_outbox_finish(reg, &o, NULL, &changed), 0);
    assert_int_equal(cdx_outbox_retry(reg, id, 3000, &ev, &count), 0);
    assert_int_equal(count, 0);
    /* Paging: newest first, before an id. */
    assert_int_equal(cdx_outbox_list(reg, NULL, NULL, 0, rows, 2, &n), 0);
    assert_int_equal(n, 2);
    assert_true(rows[0].id > rows[1].id);
    int64_t last = rows[1].id;
    assert_int_equal(cdx_outbox_list(reg, NULL, NULL, last, rows, 8, &n), 0);
    for (size_t i = 0; i < n; i++)
        assert_true(rows[i].id < last);
}

static int64_t counted;
static void add_count(void *arg, const char *destination, const char *state, int64_t count)
{
    (void)arg;
    if (strcmp(destination, "2.25.60") == 0 && strcmp(state, "delivered") == 0)
        counted += count;
}

static void test_counts_and_relay(void **state)
{
    (void)state;
    counted = 0;
    assert_int_equal(cdx_outbox_counts(reg, add_count, NULL), 0);
    assert_int_equal(counted, 1);
    char relay[128];
    assert_int_equal(cdx_outbox_relay_of(reg, "nodoc", relay), 0);
    assert_string_equal(relay, "");
    /* A relay of a document not stored records nothing. */
    assert_int_equal(cdx_outbox_set_relay(reg, "nodoc", "2.25.8"), 0);
    assert_int_equal(cdx_outbox_relay_of(reg, "nodoc", relay), 0);
    assert_string_equal(relay, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_is_once_per_document_and_destination),
        cmocka_unit_test(test_known_destinations),
        cmocka_unit_test(test_due_order_and_outcomes),
        cmocka_unit_test(test_retry_list_counts),
        cmocka_unit_test(test_counts_and_relay),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
