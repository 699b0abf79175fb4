/* cohort: the disclosure rules of research cohorts (see include/cdx/domain/cohort.h). */
#include "cdx/domain/cohort.h"

#include <string.h>

int cdx_cohort_suppressed(int64_t count, int64_t min_cell)
{
    return count >= 1 && count < min_cell;
}

int cdx_cohort_too_close(int64_t difference, int64_t threshold)
{
    return difference >= 1 && difference < threshold;
}

int cdx_cohort_breakdown_fixed(const char *earlier, const char *asked)
{
    if (earlier == NULL || asked == NULL || earlier[0] == '\0' || asked[0] == '\0')
        return 0;
    return strcmp(earlier, asked) != 0;
}

int cdx_cohort_repeats(const char *earlier, const char *asked)
{
    return strcmp(earlier != NULL ? earlier : "", asked != NULL ? asked : "") == 0;
}

int64_t cdx_cohort_symdiff(const int64_t *a, size_t na, const int64_t *b, size_t nb, int64_t stop)
{
    size_t i = 0, j = 0;
    int64_t d = 0;
    while ((i < na || j < nb) && d < stop) {
        if (j == nb || (i < na && a[i] < b[j])) {
            d++;
            i++;
        } else if (i == na || b[j] < a[i]) {
            d++;
            j++;
        } else {
            i++;
            j++;
        }
    }
    return d;
}

const char *cdx_cohort_age_band(int age)
{
    static const char *const bands[] = {"0-9",   "10-19", "20-29", "30-39", "40-49",
                                        "50-59", "60-69", "70-79", "80-89", "90+"};
    if (age < 0)
        return "unknown";
    return bands[age / 10 < 9 ? age / 10 : 9];
}

int cdx_cohort_age(int32_t birth_ymd, int32_t at_ymd)
{
    if (birth_ymd <= 0 || birth_ymd > at_ymd)
        return -1;
    return (int)((at_ymd - birth_ymd) / 10000);
}
