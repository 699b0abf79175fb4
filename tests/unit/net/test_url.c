/* Unit tests of https URL parsing (gateway/net/url.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "cdx/base/common.h"
#include "cdx/net/url.h"

static void expect_ok(const char *text, const char *host, int ip, unsigned port,
                      const char *target)
{
    cdx_url_t u;
    char err[160] = "";
    if (cdx_url_parse(text, &u, err, sizeof err) != 0)
        fail_msg("refused %s: %s", text, err);
    assert_string_equal(u.host, host);
    assert_int_equal(u.host_is_ip, ip);
    assert_int_equal(u.port, port);
    assert_string_equal(u.target, target);
}

static void expect_bad(const char *text, const char *why)
{
    cdx_url_t u;
    memset(&u, 0x5a, sizeof u);
    char err[160] = "";
    if (cdx_url_parse(text, &u, err, sizeof err) != CDX_EINVAL)
        fail_msg("accepted %s", text ? text : "(null)");
    if (strstr(err, why) == NULL)
        fail_msg("reason \"%s\" does not mention \"%s\" for %s", err, why, text ? text : "");
    assert_int_equal((unsigned char)u.host[0], 0x5a); /* untouched on failure */
}

static void test_accepted(void **state)
{
    (void)state;
    expect_ok("https://hospital.example.org/v1/documents", "hospital.example.org", 0, 443,
              "/v1/documents");
    expect_ok("HTTPS://Gw.Example.ORG:8443", "gw.example.org", 0, 8443, "/");
    expect_ok("https://10.1.2.3:9/a?b=c&d=%20e", "10.1.2.3", 4, 9, "/a?b=c&d=%20e");
    expect_ok("https://[::1]:4443/x", "::1", 6, 4443, "/x");
    expect_ok("https://[2001:db8::7]/", "2001:db8::7", 6, 443, "/");
    expect_ok("https://localhost?q=1", "localhost", 0, 443, "/?q=1");
    expect_ok("https://a-b.c1:65535/", "a-b.c1", 0, 65535, "/");
}

static void test_refused(void **state)
{
    (void)state;
    expect_bad(NULL, "https://");
    expect_bad("http://hospital.example/", "https://");
    expect_bad("https:/hospital.example/", "https://");
    expect_bad("https://", "no host");
    expect_bad("https://:443/", "no host");
    expect_bad("https://user:pw@hospital.example/", "user information");
    expect_bad("https://hospital.example/#top", "fragment");
    expect_bad("https://hospital.example/a b", "space");
    expect_bad("https://hospital.example/a\x01", "control");
    expect_bad("https://hospital.example/\xc3\xa9", "non-ASCII");
    expect_bad("https://hospital.example:0/", "1 to 65535");
    expect_bad("https://hospital.example:65536/", "1 to 65535");
    expect_bad("https://hospital.example:123456/", "1 to 65535");
    expect_bad("https://hospital.example:/", "1 to 65535");
    expect_bad("https://hospital.example:8x/", "decimal");
    expect_bad("https://[::1/", "bracket");
    expect_bad("https://[::g]/", "IPv6");
    expect_bad("https://[10.0.0.1]/", "IPv6");
    expect_bad("https://999.1.1.1/", "neither");
    expect_bad("https://1.2.3/", "neither");
    expect_bad("https://-a.example/", "neither");
    expect_bad("https://a-.example/", "neither");
    expect_bad("https://a..example/", "neither");
    expect_bad("https://a.example./", "neither");
    expect_bad("https://a_b.example/", "neither");
    expect_bad("https://hospital.example%2fevil/", "neither");
    char longlabel[128];
    memset(longlabel, 'a', 64);
    strcpy(longlabel + 64, ".example");
    char url[256];
    snprintf(url, sizeof url, "https://%s/", longlabel);
    expect_bad(url, "neither");
    char longhost[400] = "https://";
    for (int i = 0; i < 60; i++)
        strcat(longhost, "abcd.");
    strcat(longhost, "org/");
    expect_bad(longhost, "too long");
    static char longpath[3000];
    strcpy(longpath, "https://h.example/");
    memset(longpath + strlen(longpath), 'p', 2100);
    expect_bad(longpath, "too long");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepted),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
