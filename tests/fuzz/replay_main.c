/* A main() for the fuzz targets outside libFuzzer: calls
 * LLVMFuzzerTestOneInput once on each file named on the command line, or
 * on each file of each folder named (not recursively), so that saved
 * crashers and seeds run as ordinary tests in every build, with or
 * without clang and sanitizers.  Exits 0 when every input ran (a finding
 * aborts the process, as it does under libFuzzer), 77 when there was
 * nothing to run, 2 when an input could not be read. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return -1;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    size_t n;
    while (buf != NULL && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            uint8_t *bigger = realloc(buf, cap * 2);
            if (bigger == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    int failed = buf == NULL || ferror(f);
    fclose(f);
    if (failed) {
        fprintf(stderr, "%s: cannot read\n", path);
        free(buf);
        return -1;
    }
    /* An exact-size copy, so reads past the input are caught by ASan. */
    uint8_t *exact = malloc(len > 0 ? len : 1);
    if (exact == NULL) {
        free(buf);
        return -1;
    }
    memcpy(exact, buf, len);
    free(buf);
    fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    size_t ran = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            return 2;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (run_file(argv[i]) != 0)
                return 2;
            ran++;
            continue;
        }
        DIR *d = opendir(argv[i]);
        if (d == NULL) {
            perror(argv[i]);
            return 2;
        }
        char **names = NULL;
        size_t n = 0;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            char **more = realloc(names, (n + 1) * sizeof *names);
            size_t plen = strlen(argv[i]) + strlen(e->d_name) + 2;
            char *path = malloc(plen);
            if (more == NULL || path == NULL) {
                free(more != NULL ? more : names);
                free(path);
                closedir(d);
                return 2;
            }
            names = more;
            snprintf(path, plen, "%s/%s", argv[i], e->d_name);
            names[n++] = path;
        }
        closedir(d);
        qsort(names, n, sizeof *names, by_name);
        int rc = 0;
        for (size_t k = 0; k < n; k++) {
            if (rc == 0 && stat(names[k], &st) == 0 && S_ISREG(st.st_mode)) {
                rc = run_file(names[k]);
                ran++;
            }
            free(names[k]);
        }
        free(names);
        if (rc != 0)
            return 2;
    }
    fprintf(stderr, "replay: %zu input(s), no finding\n", ran);
    return ran > 0 ? 0 : 77;
}
