/*
 * log: one `key=value` line per event on stderr.
 *
 * Responsible for: the line format (ts, level, event, then the caller's
 * fields), the level filter (checked before any formatting), and quoting
 * values that contain spaces, quotes or control characters.
 * Not responsible for: deciding what may be logged.  Callers must never
 * pass patient names, identifiers or document content; log ids, hashes,
 * sizes, timings and codes instead.
 *
 * Thread-safe: each line is written with a single write(2).
 */
#ifndef CDX_LOG_H
#define CDX_LOG_H

typedef enum { CDX_LOG_DEBUG = 0, CDX_LOG_INFO, CDX_LOG_WARN, CDX_LOG_ERROR } cdx_log_level_t;

extern int cdx_log_threshold;

/* Parses "debug", "info", "warn", "error".  Returns 0 or CDX_EINVAL. */
int cdx_log_level_parse(const char *s, cdx_log_level_t *out);
void cdx_log_set_level(cdx_log_level_t level);

/* fields is a printf format of space-separated key=value pairs; values
 * formatted with %s should be passed through cdx_log_q() when they can hold
 * spaces.  The event name is a short dotted token such as "conn.open". */
void cdx_log_emit(cdx_log_level_t level, const char *event, const char *fields, ...)
    __attribute__((format(printf, 3, 4)));

#define CDX_LOG(level, event, ...)                                                                 \
    do {                                                                                           \
        if ((int)(level) >= cdx_log_threshold)                                                     \
            cdx_log_emit((level), (event), __VA_ARGS__);                                           \
    } while (0)
#define CDX_DEBUG(event, ...) CDX_LOG(CDX_LOG_DEBUG, event, __VA_ARGS__)
#define CDX_INFO(event, ...)  CDX_LOG(CDX_LOG_INFO, event, __VA_ARGS__)
#define CDX_WARN(event, ...)  CDX_LOG(CDX_LOG_WARN, event, __VA_ARGS__)
#define CDX_ERROR(event, ...) CDX_LOG(CDX_LOG_ERROR, event, __VA_ARGS__)

/* Returns s quoted for a log value when needed (thread-local ring of
 * buffers; valid until a few more calls on this thread).  Long values are
 * cut. */
const char *cdx_log_q(const char *s);

#endif
