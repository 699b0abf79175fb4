/* log: key=value lines on stderr (see include/cdx/base/log.h). */
#include "cdx/base/log.h"
#include "cdx/base/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int cdx_log_threshold = CDX_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int cdx_log_level_parse(const char *s, cdx_log_level_t *out)
{
    for (size_t i = 0; i < CDX_ARRAY_SIZE(level_names); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (cdx_log_level_t)i;
            return 0;
        }
    }
    return CDX_EINVAL;
}

void cdx_log_set_level(cdx_log_level_t level)
{
    cdx_log_threshold = (int)level;
}

void cdx_log_emit(cdx_log_level_t level, const char *event, const char *fields, ...)
{
    char line[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s event=%s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, (long)(tv.tv_usec / 1000), level_names[level], event);
    if (n < 0)
        return;
    size_t used = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    if (fields != NULL && fields[0] != '\0' && used < sizeof line - 2) {
        line[used++] = ' ';
        va_list ap;
        va_start(ap, fields);
        int m = vsnprintf(line + used, sizeof line - used, fields, ap);
        va_end(ap);
        if (m > 0)
            used += (size_t)m < sizeof line - used ? (size_t)m : sizeof line - used - 1;
    }
    if (used >= sizeof line - 1)
        used = sizeof line - 2;
    line[used++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, used);
    (void)w;
}

const char *cdx_log_q(const char *s)
{
    static _Thread_local char ring[4][256];
    static _Thread_local unsigned next;
    if (s == NULL)
        return "-";
    int plain = s[0] != '\0';
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f) {
            plain = 0;
            break;
        }
    }
    if (plain && strlen(s) < sizeof ring[0])
        return s;
    char *out = ring[next++ % 4];
    size_t o = 0;
    out[o++] = '"';
    for (const char *p = s; *p && o < sizeof ring[0] - 6; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < ' ' || c == 0x7f) {
            o += (size_t)snprintf(out + o, 5, "\\x%02x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}
