/*
 * testvfs: hooks that only test builds have (CMake option CDX_TEST_VFS).
 *
 * Responsible for, in a test build and only when the environment asks:
 * - a power-loss SQLite VFS ("cdx-powerloss", CDX_TEST_VFS=powerloss) that
 *   wraps the unix VFS and keeps every write a file has not yet synced in
 *   memory, applying it to the real file only at that file's xSync.  When
 *   the process is killed (SIGKILL, or a crash point below) everything not
 *   synced is gone, as after a power cut; what a synced file holds is what
 *   the disk would hold.  Reads by every connection of the process see the
 *   unsynced writes, as they would see the page cache.
 * - I/O fault injection (CDX_TEST_FAULT_FILE=PATH, with the power-loss VFS):
 *   while PATH exists, every xSync of the database or its WAL fails with
 *   SQLITE_IOERR_FSYNC, or every xWrite with SQLITE_IOERR_WRITE when PATH
 *   holds the word "write".  The test creates the file at the moment it wants
 *   the disk to fail.
 * - crash points (CDX_TEST_CRASH=POINT:N): the process SIGKILLs itself the
 *   N-th time it passes POINT (after logging event=test.crash_point).
 *   Points: "write" (a change applied inside the open transaction), "commit"
 *   (every change of a batch written, COMMIT not yet run), "reply" (COMMIT
 *   done, the answers not yet handed to the loop), "acked" (an acceptance
 *   was just written to its client's socket), and in the power-loss
 *   VFS "sync" (an xSync began, none of its writes reached the file yet) and
 *   "torn_sync" (half of the file's unsynced blocks reached it).
 * - a simulated sync latency (CDX_TEST_SYNC_LATENCY_US, with the power-loss
 *   VFS): each xSync takes that long, as a disk does, before the "sync"
 *   crash point; an answer sent before its commit is synced is then at risk
 *   as it would be on real hardware.
 * Not responsible for: anything in a production build, where the header
 * turns every hook into nothing and testvfs.c is not compiled.
 *
 * Thread-safe.  The hooks never make a build less durable: they only lose
 * more (the power-loss VFS), fail (faults) or stop the process (crash points).
 */
#ifndef CDX_TESTVFS_H
#define CDX_TESTVFS_H

#ifdef CDX_TEST_VFS

/* The name of the VFS registries are opened with: "cdx-powerloss" when
 * CDX_TEST_VFS=powerloss is set (the VFS is registered on the first call), or
 * NULL for SQLite's default. */
const char *cdx_testvfs_name(void);

/* Counts a pass through point; SIGKILLs the process when CDX_TEST_CRASH names
 * this point and this is its N-th pass. */
void cdx_test_crash_point(const char *point);

#define CDX_TEST_BUILD_NOTE " (test build: power-loss VFS, I/O faults, crash points)"

#else

static inline const char *cdx_testvfs_name(void)
{
    return 0;
}
#define cdx_test_crash_point(point) ((void)0)
#define CDX_TEST_BUILD_NOTE ""

#endif

#endif
