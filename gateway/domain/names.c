/* names: personal names across scripts and spellings (see
 * include/cdx/domain/names.h). */
#include "cdx/domain/names.h"

#include <stdint.h>
#include <string.h>

/* ---- Revised Romanization of Hangul syllables ------------------------------------------- */

/* A syllable U+AC00 + (initial * 21 + medial) * 28 + final. */
static const char *const rr_initial[19] = {"g", "kk", "n", "d",  "tt", "r", "m",
                                           "b", "pp", "s", "ss", "",   "j", "jj",
                                           "ch", "k", "t", "p",  "h"};
static const char *const rr_medial[21] = {"a",  "ae", "ya", "yae", "eo", "e",  "yeo",
                                          "ye", "o",  "wa", "wae", "oe", "yo", "u",
                                          "wo", "we", "wi", "yu",  "eu", "ui", "i"};
static const char *const rr_final[28] = {"",  "k", "k", "k", "n", "n", "n",  "t", "l", "k",
                                         "m", "l", "l", "l", "p", "l", "m",  "p", "p", "t",
                                         "t", "ng", "t", "t", "k", "t", "p", "t"};

/* ---- Latin folding ---------------------------------------------------------------------- */

/* U+00C0..U+00FF: base letter, '*' for a ligature or a non-letter. */
static const char latin1[65] = "AAAAAA*CEEEEIIIIDNOOOOO*OUUUUY**aaaaaa*ceeeeiiiidnooooo*ouuuuy*y";
/* U+0100..U+017F (ligatures Ĳ ĳ Œ œ handled before the table). */
static const char latin_ext_a[129] = "AaAaAaCcCcCcCcDdDdEeEeEeEeEeGgGgGgGgHhHhIiIiIiIiIiIiJjKkkLlLlLl"
                                     "LlLlNnNnNnnNnOoOoOoOoRrRrRrSsSsSsSsTtTtTtUuUuUuUuUuUuWwYyYZzZzZzs";

/* Decodes one UTF-8 character at s (returns its length, at least 1; *cp
 * is 0xFFFD for a malformed sequence). */
static size_t utf8_next(const unsigned char *s, uint32_t *cp)
{
    unsigned c = s[0];
    size_t len;
    uint32_t v;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if ((c & 0xE0) == 0xC0) {
        len = 2;
        v = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3;
        v = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4;
        v = c & 0x07;
    } else {
        *cp = 0xFFFD;
        return 1;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *cp = 0xFFFD;
            return i;
        }
        v = (v << 6) | (s[i] & 0x3F);
    }
    *cp = v;
    return len;
}

typedef struct sink {
    char *out;
    size_t n, len;
} sink_t;

static void put(sink_t *k, const char *s)
{
    for (; *s; s++)
        if (k->len + 1 < k->n)
            k->out[k->len++] = *s;
}

static void putc_lower(sink_t *k, char c)
{
    char s[2] = {(char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c), 0};
    put(k, s);
}

static void fold_cp(sink_t *k, uint32_t cp, int digits)
{
    if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (digits && cp >= '0' && cp <= '9')) {
        putc_lower(k, (char)cp);
    } else if (cp >= 0xAC00 && cp <= 0xD7A3) {
        uint32_t s = cp - 0xAC00;
        put(k, rr_initial[s / (21 * 28)]);
        put(k, rr_medial[(s / 28) % 21]);
        put(k, rr_final[s % 28]);
    } else if (cp == 0xC6 || cp == 0xE6) {
        put(k, "ae");
    } else if (cp == 0xDE || cp == 0xFE) {
        put(k, "th");
    } else if (cp == 0xDF) {
        put(k, "ss");
    } else if (cp == 0x132 || cp == 0x133) {
        put(k, "ij");
    } else if (cp == 0x152 || cp == 0x153) {
        put(k, "oe");
    } else if (cp >= 0xC0 && cp <= 0xFF && latin1[cp - 0xC0] != '*') {
        putc_lower(k, latin1[cp - 0xC0]);
    } else if (cp >= 0x100 && cp <= 0x17F) {
        putc_lower(k, latin_ext_a[cp - 0x100]);
    }
}

static size_t fold(const char *in, char *out, size_t n, int digits)
{
    sink_t k = {out, n, 0};
    if (n == 0)
        return 0;
    const unsigned char *s = (const unsigned char *)(in ? in : "");
    while (*s) {
        uint32_t cp;
        s += utf8_next(s, &cp);
        fold_cp(&k, cp, digits);
    }
    out[k.len] = '\0';
    return k.len;
}

size_t cdx_name_fold(const char *in, char *out, size_t n)
{
    return fold(in, out, n, 0);
}

size_t cdx_name_fold_alnum(const char *in, char *out, size_t n)
{
    return fold(in, out, n, 1);
}

/* ---- Surnames --------------------------------------------------------------------------- */

/* Each row: the canonical key first, then the usual spellings, the
 * Revised Romanization of the Hangul among them (so that 이 → "i" finds
 * "lee").  A spelling shared by two surnames (Chun: 전 and 천) sits in the
 * first row only; the phonetic key still brings the other one close. */
#define SURNAME_SPELLINGS 8
static const char *const surnames[][SURNAME_SPELLINGS] = {
    {"kim", "gim", "ghim", "kym"},
    {"lee", "i", "yi", "rhee", "ri", "rhie", "lie"},
    {"park", "bak", "pak", "bahk", "parck"},
    {"choi", "choe", "choy", "chwe", "choei"},
    {"jung", "jeong", "chung", "cheong", "jeung", "joung"},
    {"kang", "gang", "kahng"},
    {"cho", "jo", "joe", "chough"},
    {"yoon", "yun", "youn"},
    {"jang", "chang", "jhang"},
    {"lim", "im", "rim", "yim", "leem"},
    {"han", "hahn"},
    {"oh", "o"},
    {"seo", "suh", "su", "seoh"},
    {"shin", "sin", "shinn"},
    {"kwon", "gwon", "kweon"},
    {"hwang", "whang"},
    {"ahn", "an", "ahhn"},
    {"song", "soung"},
    {"yoo", "yu", "ryu", "ryoo", "rhyu", "you", "lyu"},
    {"hong", "houng"},
    {"jeon", "jun", "chun", "jon", "chon"},
    {"ko", "go", "koh", "goh"},
    {"moon", "mun", "moun"},
    {"yang", "ryang"},
    {"son", "sohn"},
    {"bae", "pae", "bai"},
    {"baek", "paek", "baik", "paik", "back"},
    {"heo", "huh", "hur", "her", "hu"},
    {"noh", "roh", "no", "ro", "rho"},
    {"shim", "sim", "sym"},
    {"kwak", "gwak", "kwag"},
    {"sung", "seong"},
    {"joo", "ju", "chu", "choo"},
    {"woo", "u", "wu"},
    {"koo", "gu", "ku", "goo"},
    {"na", "ra", "nah", "rah"},
    {"jin", "chin"},
    {"ji", "chi", "jee"},
    {"uhm", "eom", "um", "eum"},
    {"cheon", "chon", "cheun"},
    {"hyun", "hyeon", "hyoun"},
    {"byun", "byeon", "pyun", "pyeon"},
    {"yeom", "yum", "youm"},
    {"yeo", "yuh", "yeoh", "yoh"},
    {"seok", "suk", "sok"},
    {"sun", "seon", "sunn"},
    {"seol", "sul", "sol"},
    {"yeon", "youn", "yon"},
    {"myung", "myeong", "myoung"},
    {"min"},
    {"ha", "hah"},
    {"chae", "che", "chai"},
    {"won", "weon"},
    {"cha", "char"},
    {"bang", "pang"},
    {"do", "doh", "toh", "to"},
    {"kong", "gong"},
    {"ki", "gi", "kee"},
    {"gil", "kil"},
    {"pyo", "pyoh"},
    {"tak", "tahk"},
    {"maeng", "maing"},
    {"namgung", "namkung", "namgoong", "namkoong"},
    {"hwangbo", "hwangpo"},
    {"jegal", "chegal", "jaegal"},
    {"sunwoo", "seonu", "sunwu", "seonwoo"},
    {"dokgo", "tokko", "dokko"},
    {"sagong", "sakong"},
    {"seomun", "seomoon"},
};

/* Compound surnames, as their canonical keys (Hangul names starting with
 * one of them have a two-syllable surname). */
static const char *const compound[] = {"namgung", "hwangbo", "jegal", "sunwoo",
                                       "dokgo",   "sagong",  "seomun"};

static const char *surname_canonical(const char *folded)
{
    for (size_t i = 0; i < sizeof surnames / sizeof surnames[0]; i++)
        for (size_t j = 0; j < SURNAME_SPELLINGS && surnames[i][j]; j++)
            if (strcmp(surnames[i][j], folded) == 0)
                return surnames[i][0];
    return NULL;
}

int cdx_name_is_known_family(const char *folded)
{
    return folded && surname_canonical(folded) != NULL;
}

size_t cdx_name_family_key(const char *family, char *out, size_t n)
{
    char f[128];
    cdx_name_fold(family, f, sizeof f);
    const char *c = surname_canonical(f);
    sink_t k = {out, n, 0};
    if (n == 0)
        return 0;
    put(&k, c ? c : f);
    out[k.len] = '\0';
    return k.len;
}

/* ---- Phonetic key ----------------------------------------------------------------------- */

static const struct {
    const char *from, *to;
} rewrites[] = {
    {"yeo", "yu"}, {"you", "yu"}, {"woo", "u"}, {"eo", "u"}, {"eu", "u"}, {"oo", "u"},
    {"ae", "e"},   {"ee", "i"},   {"ui", "i"},  {"oi", "oe"}, {"sh", "s"}, {"ch", "j"},
    {"k", "g"},    {"p", "b"},    {"t", "d"},   {"r", "l"},
};

size_t cdx_name_phonetic(const char *folded, char *out, size_t n)
{
    sink_t k = {out, n, 0};
    if (n == 0)
        return 0;
    const char *s = folded ? folded : "";
    while (*s) {
        const char *to = NULL;
        size_t adv = 1;
        for (size_t i = 0; i < sizeof rewrites / sizeof rewrites[0]; i++) {
            size_t l = strlen(rewrites[i].from);
            if (strncmp(s, rewrites[i].from, l) == 0) {
                to = rewrites[i].to;
                adv = l;
                break;
            }
        }
        char one[2] = {*s, 0};
        for (const char *t = to ? to : one; *t; t++)
            if (k.len == 0 || k.out[k.len - 1] != *t) { /* repeated letters once */
                char c[2] = {*t, 0};
                put(&k, c);
            }
        s += adv;
    }
    out[k.len] = '\0';
    return k.len;
}

/* ---- Splitting a whole name ------------------------------------------------------------- */

static size_t copy_span(char *dst, size_t n, const char *s, size_t len)
{
    if (n == 0)
        return 0;
    while (len > 0 && (*s == ' ' || *s == '\t' || *s == ','))
        s++, len--;
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == ','))
        len--;
    if (len >= n)
        len = n - 1;
    memcpy(dst, s, len);
    dst[len] = '\0';
    return len;
}

/* A Hangul name without its spaces into family and given. */
static void split_hangul(const char *text, char *family, size_t nf, char *given, size_t ng)
{
    char joined[256];
    size_t j = 0;
    for (const char *s = text; *s && j + 1 < sizeof joined; s++)
        if (*s != ' ' && *s != '\t')
            joined[j++] = *s;
    joined[j] = '\0';
    /* Offsets of the first three characters. */
    const unsigned char *u = (const unsigned char *)joined;
    size_t off[4] = {0, 0, 0, 0}, nch = 0, pos = 0;
    while (u[pos] && nch < 3) {
        uint32_t cp;
        pos += utf8_next(u + pos, &cp);
        off[++nch] = pos;
    }
    size_t cut = off[1];
    if (nch >= 3) {
        char two[16], key[32];
        copy_span(two, sizeof two, joined, off[2]);
        cdx_name_family_key(two, key, sizeof key);
        for (size_t i = 0; i < sizeof compound / sizeof compound[0]; i++)
            if (strcmp(key, compound[i]) == 0)
                cut = off[2];
    }
    copy_span(family, nf, joined, cut);
    copy_span(given, ng, joined + cut, strlen(joined + cut));
}

static int has_hangul(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    while (*u) {
        uint32_t cp;
        u += utf8_next(u, &cp);
        if (cp >= 0xAC00 && cp <= 0xD7A3)
            return 1;
    }
    return 0;
}

void cdx_name_split(const char *text, char *family, size_t nf, char *given, size_t ng)
{
    if (nf)
        family[0] = '\0';
    if (ng)
        given[0] = '\0';
    if (text == NULL)
        return;
    const char *comma = strchr(text, ',');
    if (comma) {
        copy_span(family, nf, text, (size_t)(comma - text));
        copy_span(given, ng, comma + 1, strlen(comma + 1));
        return;
    }
    if (has_hangul(text)) {
        split_hangul(text, family, nf, given, ng);
        return;
    }
    size_t len = strlen(text);
    while (len > 0 && text[len - 1] == ' ')
        len--;
    const char *last = NULL, *first_end = NULL;
    for (size_t i = 0; i < len; i++)
        if (text[i] == ' ') {
            if (!first_end)
                first_end = text + i;
            last = text + i + 1;
        }
    if (last == NULL) { /* one word: the family name */
        copy_span(family, nf, text, len);
        return;
    }
    char f1[64], fl[64], w[128];
    copy_span(w, sizeof w, text, (size_t)(first_end - text));
    cdx_name_fold(w, f1, sizeof f1);
    copy_span(w, sizeof w, last, (size_t)(text + len - last));
    cdx_name_fold(w, fl, sizeof fl);
    if (cdx_name_is_known_family(f1) && !cdx_name_is_known_family(fl)) {
        copy_span(family, nf, text, (size_t)(first_end - text));
        copy_span(given, ng, first_end, (size_t)(text + len - first_end));
    } else {
        copy_span(family, nf, last, (size_t)(text + len - last));
        copy_span(given, ng, text, (size_t)(last - text));
    }
}

/* ---- Similarity ------------------------------------------------------------------------- */

double cdx_name_jaro_winkler(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la == 0 && lb == 0)
        return 1.0;
    if (la == 0 || lb == 0)
        return 0.0;
    if (la > 64)
        la = 64;
    if (lb > 64)
        lb = 64;
    size_t range = (la > lb ? la : lb) / 2;
    range = range > 0 ? range - 1 : 0;
    unsigned char ma[64] = {0}, mb[64] = {0};
    size_t m = 0;
    for (size_t i = 0; i < la; i++) {
        size_t lo = i > range ? i - range : 0, hi = i + range + 1 < lb ? i + range + 1 : lb;
        for (size_t j = lo; j < hi; j++)
            if (!mb[j] && a[i] == b[j]) {
                ma[i] = mb[j] = 1;
                m++;
                break;
            }
    }
    if (m == 0)
        return 0.0;
    size_t t = 0, j = 0;
    for (size_t i = 0; i < la; i++) {
        if (!ma[i])
            continue;
        while (!mb[j])
            j++;
        if (a[i] != b[j])
            t++;
        j++;
    }
    double md = (double)m;
    double jaro = (md / (double)la + md / (double)lb + (md - (double)t / 2.0) / md) / 3.0;
    size_t prefix = 0;
    while (prefix < 4 && prefix < la && prefix < lb && a[prefix] == b[prefix])
        prefix++;
    return jaro + (double)prefix * 0.1 * (1.0 - jaro);
}

int cdx_name_edit_distance(const char *a, const char *b, int max)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return strcmp(a, b) == 0 ? 0 : max + 1;
    if ((int)(la > lb ? la - lb : lb - la) > max)
        return max + 1;
    int d[64][64];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < c)
                c = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < c)
                c = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < c)
                c = d[i - 2][j - 2] + 1;
            d[i][j] = c;
        }
    return d[la][lb] > max ? max + 1 : d[la][lb];
}
