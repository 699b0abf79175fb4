/* content: document bytes as the registry keeps them (see store_internal.h
 * and include/cdx/store/registry.h, cdx_registry_pack).
 *
 * The original and the normalized form of a document are each stored as
 * one zstd frame that records its content size and a checksum of the
 * content.  A blob is a frame when it starts with zstd's magic number
 * (28 B5 2F FD); blobs stored before compression are the documents' bytes
 * as received, which never start so (every stored document was parsed as
 * XML, which starts with '<', white space or a byte order mark), and are
 * read as they are.  The hashes, the ETag and the size stay those of the
 * bytes as received: packing is a storage matter only.
 *
 * Unpacking trusts nothing in the blob: it must be exactly one frame, say
 * the size expected (the document's recorded size for the original; for
 * the normalized form, at most CDX_STORE_CONTENT_MAX) and decompress to
 * exactly that many bytes with a matching checksum; anything else is
 * refused as a corrupted blob, never read past a buffer. */
#include "store_internal.h"

#include "cdx/base/common.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

/* zstd's default level: on CDA documents about as small as level 9 and
 * several times faster, and fast enough for the writer thread. */
#define PACK_LEVEL 3

static int pack_with(ZSTD_CCtx *cctx, const void *src, size_t n, void **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    size_t cap = ZSTD_compressBound(n);
    if (ZSTD_isError(cap))
        return CDX_ERANGE;
    void *buf = malloc(cap > 0 ? cap : 1);
    if (buf == NULL)
        return CDX_ENOMEM;
    ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
    size_t r = ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, PACK_LEVEL);
    if (!ZSTD_isError(r))
        r = ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
    if (!ZSTD_isError(r))
        r = ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1);
    if (!ZSTD_isError(r))
        r = ZSTD_compress2(cctx, buf, cap, src != NULL ? src : "", n);
    if (ZSTD_isError(r)) {
        free(buf);
        return CDX_ENOMEM; /* the only failure of a valid call: an allocation */
    }
    *out = buf;
    *outlen = r;
    return 0;
}

/* One context per thread that packs, kept for the thread's life: a new
 * context per call spends more on allocating and clearing its tables than
 * on compressing a small document. */
static pthread_key_t pack_key;
static pthread_once_t pack_once = PTHREAD_ONCE_INIT;
static int pack_key_ok;

static void pack_ctx_free(void *cctx)
{
    ZSTD_freeCCtx(cctx);
}

static void pack_key_init(void)
{
    pack_key_ok = pthread_key_create(&pack_key, pack_ctx_free) == 0;
}

int cdx_registry_pack(const void *src, size_t n, void **out, size_t *outlen)
{
    pthread_once(&pack_once, pack_key_init);
    ZSTD_CCtx *cctx = pack_key_ok ? pthread_getspecific(pack_key) : NULL;
    if (cctx == NULL) {
        cctx = ZSTD_createCCtx();
        if (cctx == NULL)
            return CDX_ENOMEM;
        if (!pack_key_ok || pthread_setspecific(pack_key, cctx) != 0) {
            int rc = pack_with(cctx, src, n, out, outlen);
            ZSTD_freeCCtx(cctx);
            return rc;
        }
    }
    return pack_with(cctx, src, n, out, outlen);
}

int cdx_store_pack(cdx_registry_t *reg, const void *src, size_t n, void **out, size_t *outlen)
{
    if (reg->zc == NULL && (reg->zc = ZSTD_createCCtx()) == NULL)
        return CDX_ENOMEM;
    int rc = pack_with(reg->zc, src, n, out, outlen);
    if (rc != 0)
        cdx_errf(reg->errmsg, sizeof reg->errmsg, "packing document content: %s",
                 cdx_strerror(rc));
    return rc;
}

static int corrupted(cdx_registry_t *reg, const char *what, const char *why)
{
    cdx_errf(reg->errmsg, sizeof reg->errmsg,
             "the stored %s is corrupted (%s): refusing to read it; restore the registry "
             "from a backup",
             what, why);
    return CDX_EDB;
}

/* Decompresses one frame of exactly `expected` bytes into out (expected
 * + 1 bytes, for the terminating NUL). */
static int unpack_frame(cdx_registry_t *reg, const void *blob, size_t blen, size_t expected,
                        const char *what, char **out)
{
    unsigned long long fcs = ZSTD_getFrameContentSize(blob, blen);
    if (fcs == ZSTD_CONTENTSIZE_ERROR || fcs == ZSTD_CONTENTSIZE_UNKNOWN)
        return corrupted(reg, what, "not a zstd frame with its size");
    if (fcs != (unsigned long long)expected)
        return corrupted(reg, what, "its size is not the recorded one");
    size_t fsize = ZSTD_findFrameCompressedSize(blob, blen);
    if (ZSTD_isError(fsize) || fsize != blen)
        return corrupted(reg, what, "truncated or followed by other bytes");
    if (reg->zd == NULL && (reg->zd = ZSTD_createDCtx()) == NULL)
        return CDX_ENOMEM;
    char *buf = malloc(expected + 1);
    if (buf == NULL)
        return CDX_ENOMEM;
    size_t r = ZSTD_decompressDCtx(reg->zd, buf, expected, blob, blen);
    if (ZSTD_isError(r) || r != expected) {
        free(buf);
        return corrupted(reg, what, ZSTD_isError(r) ? ZSTD_getErrorName(r) : "short content");
    }
    buf[expected] = '\0';
    *out = buf;
    return 0;
}

int cdx_store_is_packed(const void *blob, size_t blen)
{
    static const unsigned char magic[4] = {0x28, 0xB5, 0x2F, 0xFD};
    return blob != NULL && blen >= sizeof magic && memcmp(blob, magic, sizeof magic) == 0;
}

int cdx_store_unpack(cdx_registry_t *reg, const void *blob, size_t blen, int64_t expected,
                     const char *what, char **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    if (!cdx_store_is_packed(blob, blen)) {
        char *buf = malloc(blen + 1);
        if (buf == NULL)
            return CDX_ENOMEM;
        if (blen > 0)
            memcpy(buf, blob, blen);
        buf[blen] = '\0';
        *out = buf;
        *outlen = blen;
        return 0;
    }
    if (expected < 0) { /* not recorded: the frame says, within bounds */
        unsigned long long fcs = ZSTD_getFrameContentSize(blob, blen);
        if (fcs == ZSTD_CONTENTSIZE_ERROR || fcs == ZSTD_CONTENTSIZE_UNKNOWN)
            return corrupted(reg, what, "not a zstd frame with its size");
        if (fcs > CDX_STORE_CONTENT_MAX)
            return corrupted(reg, what, "it says it is larger than any stored form");
        expected = (int64_t)fcs;
    } else if ((uint64_t)expected > CDX_STORE_CONTENT_MAX) {
        return corrupted(reg, what, "no plausible recorded size");
    }
    int rc = unpack_frame(reg, blob, blen, (size_t)expected, what, out);
    if (rc == 0)
        *outlen = (size_t)expected;
    return rc;
}

void cdx_store_content_free(cdx_registry_t *reg)
{
    ZSTD_freeCCtx(reg->zc);
    ZSTD_freeDCtx(reg->zd);
    reg->zc = NULL;
    reg->zd = NULL;
}
