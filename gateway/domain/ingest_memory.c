/* ingest_memory: handing a large document's memory back to the system
 * after the pipeline (see cdx_ingest_release_memory in ingest_internal.h). */
#include "ingest_internal.h"
#include "cdx/base/log.h"

#include <fcntl.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Resident bytes of the process (0 when /proc cannot tell). */
static size_t resident_bytes(void)
{
    char buf[128];
    size_t rss = 0;
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    unsigned long size = 0, pages = 0;
    if (sscanf(buf, "%lu %lu", &size, &pages) == 2)
        rss = (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
    return rss;
}

/* What is resident beyond the allocator's blocks in use: the free pages
 * the arenas keep, plus what is not the heap's (code, libraries, the
 * registry's cache), which changes slowly. */
static size_t resident_slack(struct mallinfo2 *mi)
{
    *mi = mallinfo2();
    size_t in_use = mi->uordblks + mi->hblkhd, rss = resident_bytes();
    return rss > in_use ? rss - in_use : 0;
}

/* After a large document, the memory its trees took goes back to the
 * system.  Free pages between blocks still in use stay resident in the
 * worker's arena (ten 1 MB documents left 126 to 164 MB behind);
 * malloc_trim(0) hands every free page of every arena back.  It costs a
 * walk over the free lists (1 to 80 ms measured), and the next document
 * faults in again the pages it handed back, so it runs only when the
 * arenas hold CDX_INGEST_TRIM_FREE_BYTES free and the resident memory
 * beyond the blocks in use has grown by as much since the last trim.
 * (The free bytes alone are no measure: mallinfo2 counts as free the
 * chunks whose pages a trim already returned, so once a process had held
 * that much free memory, a bomb or a burst of large documents, it
 * trimmed after every large document from then on, and a 1 MB document
 * cost 1.5 to 2 times as much per byte as a 100 KB one; see
 * docs/PERFORMANCE.md.)  main.c sets the allocator up for this. */
static _Atomic size_t slack_after_trim;

void cdx_ingest_release_memory(size_t len)
{
    if (len < CDX_INGEST_TRIM_BYTES)
        return;
    uint64_t t0 = now_us();
    struct mallinfo2 mi;
    size_t slack = resident_slack(&mi), mark = atomic_load(&slack_after_trim);
    if (mi.fordblks < CDX_INGEST_TRIM_FREE_BYTES || slack < mark + CDX_INGEST_TRIM_FREE_BYTES) {
        CDX_DEBUG("memory.trim", "size=%zu free=%zu slack=%zu mark=%zu skipped=1 us=%llu", len,
                  mi.fordblks, slack, mark, (unsigned long long)(now_us() - t0));
        return;
    }
    int released = malloc_trim(0);
    atomic_store(&slack_after_trim, resident_slack(&mi));
    CDX_DEBUG("memory.trim", "size=%zu slack=%zu released=%d us=%llu", len, slack, released,
              (unsigned long long)(now_us() - t0));
}
