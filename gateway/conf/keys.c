/* keys: finding a key in a table of cdx_conf_key_t (see include/cdx/conf/keys.h). */
#include "cdx/conf/keys.h"

#include <string.h>

const cdx_conf_key_t *cdx_conf_key_find(const cdx_conf_key_t *table, size_t n, const char *name)
{
    char norm[64];
    size_t i = 0;
    for (; name[i] != '\0' && i < sizeof norm - 1; i++)
        norm[i] = name[i] == '-' ? '_' : name[i];
    norm[i] = '\0';
    if (name[i] != '\0')
        return NULL;
    for (size_t k = 0; k < n; k++) {
        if (strcmp(table[k].name, norm) == 0)
            return &table[k];
    }
    return NULL;
}
