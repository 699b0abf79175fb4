/* testvfs: power-loss VFS, I/O faults and crash points of test builds
 * (see include/cdx/store/testvfs.h).  Compiled only with -DCDX_TEST_VFS=ON.
 *
 * The model is the strictest power cut: every byte written since a file's
 * last xSync is lost, every synced byte kept.  Unsynced writes live in a
 * "shadow" per file path, shared by every handle the process has open on
 * that path (the writer and the reader connections see one page cache), as
 * 4 KiB blocks plus the file's logical size and the lowest size it was
 * truncated to since the last sync.  xSync writes the shadow's blocks and
 * size into the real file, then fsyncs it through the unix VFS, which also
 * syncs the folder after a WAL or journal is created.  Killing the process
 * drops the shadows: the real files then hold exactly what was synced.
 *
 * The -shm file needs nothing: SQLite maps it through the unix VFS, and the
 * first connection after a crash finds no other process holding it and
 * rebuilds the WAL index from the (real, synced) WAL, as after a reboot.
 * Not modelled: losing a file's creation or deletion whose folder was not
 * synced (SQLite's unix VFS syncs the folder after creating a WAL or
 * journal, and deletes a WAL only after a checkpoint synced the database),
 * and reordering or tearing inside one sync (the "sync" crash point tears a
 * sync at one place).  Memory-mapped I/O is not offered (io_methods version
 * 2), so every read goes through the shadow. */
#include "cdx/store/testvfs.h"
#include "cdx/base/log.h"

#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define VFS_NAME "cdx-powerloss"
#define BLOCK    4096

typedef struct block {
    struct block *next;
    int64_t idx;
    unsigned char data[BLOCK];
} block_t;

typedef struct shadow {
    struct shadow *next;
    char *path;
    int refs;
    int64_t size;  /* logical size, as the process sees it */
    int64_t floor; /* bytes at or past this offset not in a block read as zeros */
    block_t **slots;
    size_t nslots, nblocks;
} shadow_t;

typedef struct {
    sqlite3_file base;
    shadow_t *sh;       /* NULL: not a durable file (temp files), passed through */
    sqlite3_file *real; /* the unix VFS's file, allocated right after this struct */
} pl_file_t;

static sqlite3_vfs *real_vfs;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER; /* all shadows */
static shadow_t *shadows;

/* ---- crash points and faults -------------------------------------------------------------- */

static pthread_once_t crash_once = PTHREAD_ONCE_INIT;
static char crash_point_name[32];
static long crash_at;
static atomic_long crash_passes;

static void crash_init(void)
{
    const char *s = getenv("CDX_TEST_CRASH");
    const char *colon = s != NULL ? strchr(s, ':') : NULL;
    if (colon == NULL || (size_t)(colon - s) >= sizeof crash_point_name)
        return;
    memcpy(crash_point_name, s, (size_t)(colon - s));
    crash_at = strtol(colon + 1, NULL, 10);
}

void cdx_test_crash_point(const char *point)
{
    pthread_once(&crash_once, crash_init);
    if (crash_at <= 0 || strcmp(point, crash_point_name) != 0)
        return;
    if (atomic_fetch_add(&crash_passes, 1) + 1 != crash_at)
        return;
    CDX_WARN("test.crash_point", "point=%s pass=%ld action=sigkill", point, crash_at);
    kill(getpid(), SIGKILL);
    pause();
}

enum { FAULT_NONE, FAULT_SYNC, FAULT_WRITE };

/* Which fault CDX_TEST_FAULT_FILE asks for right now. */
static int fault_now(void)
{
    const char *path = getenv("CDX_TEST_FAULT_FILE");
    if (path == NULL || path[0] == '\0')
        return FAULT_NONE;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return FAULT_NONE;
    char word[16] = {0};
    size_t n = fread(word, 1, sizeof word - 1, f);
    fclose(f);
    word[n] = '\0';
    return strncmp(word, "write", 5) == 0 ? FAULT_WRITE : FAULT_SYNC;
}

static pthread_once_t latency_once = PTHREAD_ONCE_INIT;
static struct timespec sync_latency;

/* CDX_TEST_SYNC_LATENCY_US: how long each xSync of a durable file takes
 * (at most 0.5 s). */
static void latency_init(void)
{
    const char *s = getenv("CDX_TEST_SYNC_LATENCY_US");
    long us = s != NULL ? strtol(s, NULL, 10) : 0;
    if (us > 0 && us <= 500000)
        sync_latency.tv_nsec = us * 1000L;
}

/* ---- shadows (callers hold mu) ------------------------------------------------------------ */

static block_t *find_block(shadow_t *sh, int64_t idx)
{
    if (sh->nslots == 0)
        return NULL;
    for (block_t *b = sh->slots[(uint64_t)idx % sh->nslots]; b != NULL; b = b->next)
        if (b->idx == idx)
            return b;
    return NULL;
}

static int grow_slots(shadow_t *sh)
{
    size_t n = sh->nslots ? sh->nslots * 2 : 64;
    block_t **slots = calloc(n, sizeof *slots);
    if (slots == NULL)
        return SQLITE_NOMEM;
    for (size_t i = 0; i < sh->nslots; i++) {
        block_t *b = sh->slots[i];
        while (b != NULL) {
            block_t *next = b->next;
            size_t k = (uint64_t)b->idx % n;
            b->next = slots[k];
            slots[k] = b;
            b = next;
        }
    }
    free(sh->slots);
    sh->slots = slots;
    sh->nslots = n;
    return SQLITE_OK;
}

static void drop_blocks(shadow_t *sh, int64_t from_idx)
{
    for (size_t i = 0; i < sh->nslots; i++) {
        block_t **pp = &sh->slots[i];
        while (*pp != NULL) {
            block_t *b = *pp;
            if (b->idx >= from_idx) {
                *pp = b->next;
                free(b);
                sh->nblocks--;
            } else {
                pp = &b->next;
            }
        }
    }
}

/* Reads the logical bytes [off, off+amt) below sh->size into buf (already
 * zeroed): from a block when there is one, else from the real file below
 * sh->floor, else they are zeros. */
static int shadow_read(shadow_t *sh, sqlite3_file *real, unsigned char *buf, int64_t amt,
                       int64_t off)
{
    int64_t limit = off + amt < sh->size ? off + amt : sh->size;
    for (int64_t pos = off; pos < limit;) {
        int64_t idx = pos / BLOCK, boff = pos % BLOCK;
        int64_t n = BLOCK - boff < limit - pos ? BLOCK - boff : limit - pos;
        block_t *b = find_block(sh, idx);
        if (b != NULL) {
            memcpy(buf + (pos - off), b->data + boff, (size_t)n);
        } else if (pos < sh->floor) {
            int64_t m = sh->floor - pos < n ? sh->floor - pos : n;
            int rc = real->pMethods->xRead(real, buf + (pos - off), (int)m, pos);
            if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ)
                return rc;
        }
        pos += n;
    }
    return SQLITE_OK;
}

static int shadow_write(shadow_t *sh, sqlite3_file *real, const unsigned char *buf, int64_t amt,
                        int64_t off)
{
    for (int64_t pos = off; pos < off + amt;) {
        int64_t idx = pos / BLOCK, boff = pos % BLOCK;
        int64_t n = BLOCK - boff < off + amt - pos ? BLOCK - boff : off + amt - pos;
        block_t *b = find_block(sh, idx);
        if (b == NULL) {
            if (sh->nblocks + 1 > sh->nslots * 2 && grow_slots(sh) != SQLITE_OK)
                return SQLITE_NOMEM;
            b = calloc(1, sizeof *b);
            if (b == NULL)
                return SQLITE_NOMEM;
            int rc = shadow_read(sh, real, b->data, BLOCK, idx * BLOCK);
            if (rc != SQLITE_OK) {
                free(b);
                return rc;
            }
            b->idx = idx;
            size_t k = (uint64_t)idx % sh->nslots;
            b->next = sh->slots[k];
            sh->slots[k] = b;
            sh->nblocks++;
        }
        memcpy(b->data + boff, buf + (pos - off), (size_t)n);
        pos += n;
    }
    if (off + amt > sh->size)
        sh->size = off + amt;
    return SQLITE_OK;
}

static void shadow_truncate(shadow_t *sh, int64_t size)
{
    drop_blocks(sh, (size + BLOCK - 1) / BLOCK);
    block_t *b = size % BLOCK ? find_block(sh, size / BLOCK) : NULL;
    if (b != NULL)
        memset(b->data + size % BLOCK, 0, (size_t)(BLOCK - size % BLOCK));
    sh->size = size;
    if (size < sh->floor)
        sh->floor = size;
}

/* Makes the real file hold what the process sees: the blocks, zeros where the file was cut
 * below its old size and not rewritten since, then the size.  The real file is never cut
 * shorter than it will end up on the way (another process may be reading it, as SQLite's
 * WAL protocol allows), as a kernel writing these pages back would not. */
static int shadow_apply(shadow_t *sh, sqlite3_file *real)
{
    static const unsigned char zeros[BLOCK];
    sqlite3_int64 real_size = 0;
    int rc = real->pMethods->xFileSize(real, &real_size);
    if (rc != SQLITE_OK)
        return rc;
    size_t written = 0;
    for (size_t i = 0; i < sh->nslots; i++) {
        for (block_t *b = sh->slots[i]; b != NULL; b = b->next) {
            int64_t n = sh->size - b->idx * BLOCK;
            if (n > BLOCK)
                n = BLOCK;
            if (n > 0) {
                rc = real->pMethods->xWrite(real, b->data, (int)n, b->idx * BLOCK);
                if (rc != SQLITE_OK)
                    return rc;
            }
            if (++written == (sh->nblocks + 1) / 2)
                cdx_test_crash_point("torn_sync");
        }
    }
    int64_t gap_end = real_size < sh->size ? real_size : sh->size;
    for (int64_t pos = sh->floor; pos < gap_end;) {
        int64_t idx = pos / BLOCK, boff = pos % BLOCK;
        int64_t n = BLOCK - boff < gap_end - pos ? BLOCK - boff : gap_end - pos;
        if (find_block(sh, idx) == NULL) {
            rc = real->pMethods->xWrite(real, zeros, (int)n, pos);
            if (rc != SQLITE_OK)
                return rc;
        }
        pos += n;
    }
    rc = real->pMethods->xFileSize(real, &real_size);
    if (rc == SQLITE_OK && real_size != sh->size)
        rc = real->pMethods->xTruncate(real, sh->size);
    if (rc != SQLITE_OK)
        return rc;
    drop_blocks(sh, 0);
    sh->floor = sh->size;
    return SQLITE_OK;
}

static shadow_t *shadow_find(const char *path)
{
    for (shadow_t *sh = shadows; sh != NULL; sh = sh->next)
        if (strcmp(sh->path, path) == 0)
            return sh;
    return NULL;
}

static void shadow_unlink(shadow_t *sh)
{
    for (shadow_t **pp = &shadows; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == sh) {
            *pp = sh->next;
            break;
        }
    }
    drop_blocks(sh, 0);
    free(sh->slots);
    free(sh->path);
    free(sh);
}

/* ---- io methods ----------------------------------------------------------------------------- */

static int pl_close(sqlite3_file *f)
{
    pl_file_t *p = (pl_file_t *)f;
    int rc = p->real->pMethods->xClose(p->real);
    if (p->sh != NULL) {
        pthread_mutex_lock(&mu);
        /* A closed file's unsynced writes stay in the page cache: the shadow
         * goes only when nothing is left to lose. */
        if (--p->sh->refs == 0 && p->sh->nblocks == 0 && p->sh->floor == p->sh->size)
            shadow_unlink(p->sh);
        pthread_mutex_unlock(&mu);
        p->sh = NULL;
    }
    return rc;
}

static int pl_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off)
{
    pl_file_t *p = (pl_file_t *)f;
    if (p->sh == NULL)
        return p->real->pMethods->xRead(p->real, buf, amt, off);
    memset(buf, 0, (size_t)amt);
    pthread_mutex_lock(&mu);
    int rc = shadow_read(p->sh, p->real, buf, amt, off);
    int short_read = off + amt > p->sh->size;
    pthread_mutex_unlock(&mu);
    if (rc != SQLITE_OK)
        return rc;
    return short_read ? SQLITE_IOERR_SHORT_READ : SQLITE_OK;
}

static int pl_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off)
{
    pl_file_t *p = (pl_file_t *)f;
    if (p->sh == NULL)
        return p->real->pMethods->xWrite(p->real, buf, amt, off);
    if (fault_now() == FAULT_WRITE)
        return SQLITE_IOERR_WRITE;
    pthread_mutex_lock(&mu);
    int rc = shadow_write(p->sh, p->real, buf, amt, off);
    pthread_mutex_unlock(&mu);
    return rc;
}

static int pl_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    pl_file_t *p = (pl_file_t *)f;
    if (p->sh == NULL)
        return p->real->pMethods->xTruncate(p->real, size);
    pthread_mutex_lock(&mu);
    shadow_truncate(p->sh, size);
    pthread_mutex_unlock(&mu);
    return SQLITE_OK;
}

static int pl_sync(sqlite3_file *f, int flags)
{
    pl_file_t *p = (pl_file_t *)f;
    if (p->sh == NULL)
        return p->real->pMethods->xSync(p->real, flags);
    if (fault_now() == FAULT_SYNC)
        return SQLITE_IOERR_FSYNC;
    /* A disk takes a while to sync; a commit acknowledged before its sync
     * ends (synchronous=NORMAL) is then visibly at risk, as on real hardware. */
    pthread_once(&latency_once, latency_init);
    if (sync_latency.tv_nsec > 0)
        nanosleep(&sync_latency, NULL);
    cdx_test_crash_point("sync");
    pthread_mutex_lock(&mu);
    int rc = shadow_apply(p->sh, p->real);
    pthread_mutex_unlock(&mu);
    if (rc != SQLITE_OK)
        return rc;
    return p->real->pMethods->xSync(p->real, flags);
}

static int pl_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    pl_file_t *p = (pl_file_t *)f;
    if (p->sh == NULL)
        return p->real->pMethods->xFileSize(p->real, size);
    pthread_mutex_lock(&mu);
    *size = p->sh->size;
    pthread_mutex_unlock(&mu);
    return SQLITE_OK;
}

static int pl_lock(sqlite3_file *f, int level)
{
    pl_file_t *p = (pl_file_t *)f;
    return p->real->pMethods->xLock(p->real, level);
}

static int pl_unlock(sqlite3_file *f, int level)
{
    pl_file_t *p = (pl_file_t *)f;
    return p->real->pMethods->xUnlock(p->real, level);
}

static int pl_check_reserved(sqlite3_file *f, int *out)
{
    pl_file_t *p = (pl_file_t *)f;
    return p->real->pMethods->xCheckReservedLock(p->real, out);
}

static int pl_file_control(sqlite3_file *f, int op, void *arg)
{
    pl_file_t *p = (pl_file_t *)f;
    /* The unix VFS would grow the real file behind the shadow's back. */
    if (op == SQLITE_FCNTL_SIZE_HINT && p->sh != NULL)
        return SQLITE_OK;
    return p->real->pMethods->xFileControl(p->real, op, arg);
}

static int pl_sector_size(sqlite3_file *f)
{
    pl_file_t *p = (pl_file_t *)f;
    return p->real->pMethods->xSectorSize(p->real);
}

static int pl_device_characteristics(sqlite3_file *f)
{
    pl_file_t *p = (pl_file_t *)f;
    return p->real->pMethods->xDeviceCharacteristics(p->real);
}

static int pl_shm_map(sqlite3_file *f, int region, int size, int extend, void volatile **pp)
{
    pl_file_t *p = (pl_file_t *)f;
    return p->real->pMethods->xShmMap(p->real, region, size, extend, pp);
}

static int pl_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    pl_file_t *p = (pl_file_t *)f;
    return p->real->pMethods->xShmLock(p->real, offset, n, flags);
}

static void pl_shm_barrier(sqlite3_file *f)
{
    pl_file_t *p = (pl_file_t *)f;
    p->real->pMethods->xShmBarrier(p->real);
}

static int pl_shm_unmap(sqlite3_file *f, int delete_flag)
{
    pl_file_t *p = (pl_file_t *)f;
    return p->real->pMethods->xShmUnmap(p->real, delete_flag);
}

static const sqlite3_io_methods pl_methods = {
    .iVersion = 2, /* shared memory, no memory-mapped I/O (xFetch would bypass the shadow) */
    .xClose = pl_close,
    .xRead = pl_read,
    .xWrite = pl_write,
    .xTruncate = pl_truncate,
    .xSync = pl_sync,
    .xFileSize = pl_file_size,
    .xLock = pl_lock,
    .xUnlock = pl_unlock,
    .xCheckReservedLock = pl_check_reserved,
    .xFileControl = pl_file_control,
    .xSectorSize = pl_sector_size,
    .xDeviceCharacteristics = pl_device_characteristics,
    .xShmMap = pl_shm_map,
    .xShmLock = pl_shm_lock,
    .xShmBarrier = pl_shm_barrier,
    .xShmUnmap = pl_shm_unmap,
};

/* ---- vfs methods ---------------------------------------------------------------------------- */

static int pl_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
    pl_file_t *p = (pl_file_t *)f;
    memset(p, 0, sizeof *p);
    p->real = (sqlite3_file *)(p + 1);
    int rc = real_vfs->xOpen(real_vfs, name, p->real, flags, out_flags);
    if (rc != SQLITE_OK) {
        /* SQLite calls xClose only when pMethods is set. */
        return rc;
    }
    p->base.pMethods = &pl_methods;
    int durable = flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL | SQLITE_OPEN_MAIN_JOURNAL |
                           SQLITE_OPEN_SUPER_JOURNAL);
    if (name == NULL || !durable)
        return SQLITE_OK;
    pthread_mutex_lock(&mu);
    shadow_t *sh = shadow_find(name);
    if (sh == NULL) {
        sqlite3_int64 size = 0;
        rc = p->real->pMethods->xFileSize(p->real, &size);
        sh = rc == SQLITE_OK ? calloc(1, sizeof *sh) : NULL;
        if (sh != NULL && (sh->path = strdup(name)) == NULL) {
            free(sh);
            sh = NULL;
        }
        if (sh != NULL) {
            sh->size = sh->floor = size;
            sh->next = shadows;
            shadows = sh;
        }
    }
    if (sh != NULL) {
        sh->refs++;
        p->sh = sh;
    }
    pthread_mutex_unlock(&mu);
    if (sh == NULL) {
        p->real->pMethods->xClose(p->real);
        p->base.pMethods = NULL;
        return rc != SQLITE_OK ? rc : SQLITE_NOMEM;
    }
    return SQLITE_OK;
}

static int pl_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    pthread_mutex_lock(&mu);
    shadow_t *sh = shadow_find(name);
    if (sh != NULL) {
        if (sh->refs == 0) {
            shadow_unlink(sh);
        } else {
            drop_blocks(sh, 0);
            sh->size = sh->floor = 0;
        }
    }
    pthread_mutex_unlock(&mu);
    return real_vfs->xDelete(real_vfs, name, sync_dir);
}

static int pl_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    return real_vfs->xAccess(real_vfs, name, flags, out);
}

static int pl_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    return real_vfs->xFullPathname(real_vfs, name, n, out);
}

static void *pl_dlopen(sqlite3_vfs *vfs, const char *path)
{
    return real_vfs->xDlOpen(real_vfs, path);
}

static void pl_dlerror(sqlite3_vfs *vfs, int n, char *out)
{
    real_vfs->xDlError(real_vfs, n, out);
}

static void (*pl_dlsym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
    return real_vfs->xDlSym(real_vfs, h, sym);
}

static void pl_dlclose(sqlite3_vfs *vfs, void *h)
{
    real_vfs->xDlClose(real_vfs, h);
}

static int pl_randomness(sqlite3_vfs *vfs, int n, char *out)
{
    return real_vfs->xRandomness(real_vfs, n, out);
}

static int pl_sleep(sqlite3_vfs *vfs, int us)
{
    return real_vfs->xSleep(real_vfs, us);
}

static int pl_current_time(sqlite3_vfs *vfs, double *out)
{
    return real_vfs->xCurrentTime(real_vfs, out);
}

static int pl_last_error(sqlite3_vfs *vfs, int n, char *out)
{
    return real_vfs->xGetLastError(real_vfs, n, out);
}

static int pl_current_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    return real_vfs->xCurrentTimeInt64(real_vfs, out);
}

static sqlite3_vfs pl_vfs = {
    .iVersion = 2,
    .zName = VFS_NAME,
    .xOpen = pl_open,
    .xDelete = pl_delete,
    .xAccess = pl_access,
    .xFullPathname = pl_full_pathname,
    .xDlOpen = pl_dlopen,
    .xDlError = pl_dlerror,
    .xDlSym = pl_dlsym,
    .xDlClose = pl_dlclose,
    .xRandomness = pl_randomness,
    .xSleep = pl_sleep,
    .xCurrentTime = pl_current_time,
    .xGetLastError = pl_last_error,
    .xCurrentTimeInt64 = pl_current_time64,
};

static pthread_once_t vfs_once = PTHREAD_ONCE_INIT;
static int vfs_ok;

static void vfs_init(void)
{
    const char *mode = getenv("CDX_TEST_VFS");
    if (mode == NULL || strcmp(mode, "powerloss") != 0)
        return;
    real_vfs = sqlite3_vfs_find("unix");
    if (real_vfs == NULL || real_vfs->iVersion < 2)
        return;
    pl_vfs.szOsFile = (int)sizeof(pl_file_t) + real_vfs->szOsFile;
    pl_vfs.mxPathname = real_vfs->mxPathname;
    if (sqlite3_vfs_register(&pl_vfs, 0) != SQLITE_OK)
        return;
    vfs_ok = 1;
    CDX_INFO("test.vfs", "vfs=%s model=unsynced_writes_lost_at_kill", VFS_NAME);
}

const char *cdx_testvfs_name(void)
{
    pthread_once(&vfs_once, vfs_init);
    return vfs_ok ? VFS_NAME : NULL;
}
