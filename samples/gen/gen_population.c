/* gen_population: a population with planted truth for the patient index
 * (see gen.h): persons held as several records by the demo institutions,
 * with the differences real registries show between them, twins and
 * namesakes.  Everything follows from the seed and the person number, so a
 * benchmark can rebuild any person without the others. */
#include "gen.h"

#include <iconv.h>
#include <stdio.h>
#include <string.h>

/* ---- Korean names ------------------------------------------------------------------------- */

/* Surnames with their share per thousand (rounded national shares) and
 * the spellings seen in passports and foreign records, most common first. */
static const struct {
    const char *hangul;
    unsigned permille;
    const char *latin[4];
} kr_surnames[] = {
    {"김", 215, {"Kim", "Gim"}},
    {"이", 147, {"Lee", "Yi", "Rhee", "I"}},
    {"박", 84, {"Park", "Pak", "Bak"}},
    {"최", 47, {"Choi", "Choe"}},
    {"정", 43, {"Jung", "Jeong", "Chung"}},
    {"강", 24, {"Kang", "Gang"}},
    {"조", 21, {"Cho", "Jo"}},
    {"윤", 20, {"Yoon", "Yun"}},
    {"장", 20, {"Jang", "Chang"}},
    {"임", 17, {"Lim", "Im", "Rim"}},
    {"한", 15, {"Han"}},
    {"오", 15, {"Oh", "O"}},
    {"서", 15, {"Seo", "Suh"}},
    {"신", 14, {"Shin", "Sin"}},
    {"권", 14, {"Kwon", "Gwon"}},
    {"황", 14, {"Hwang"}},
    {"안", 14, {"Ahn", "An"}},
    {"송", 13, {"Song"}},
    {"전", 13, {"Jeon", "Jun", "Chun"}},
    {"홍", 11, {"Hong"}},
    {"유", 11, {"Yoo", "Yu"}},
    {"고", 9, {"Ko", "Go"}},
    {"문", 9, {"Moon", "Mun"}},
    {"양", 9, {"Yang"}},
    {"손", 9, {"Son", "Sohn"}},
    {"배", 8, {"Bae", "Pae"}},
    {"백", 8, {"Baek", "Paek"}},
    {"허", 6, {"Heo", "Huh", "Hur"}},
    {"노", 5, {"Noh", "Roh", "No"}},
    {"남", 5, {"Nam"}},
    {"심", 5, {"Shim", "Sim"}},
    {"하", 5, {"Ha"}},
    {"곽", 4, {"Kwak", "Gwak"}},
    {"성", 4, {"Sung", "Seong"}},
    {"차", 4, {"Cha"}},
    {"주", 4, {"Joo", "Ju"}},
    {"우", 4, {"Woo", "U"}},
    {"구", 4, {"Koo", "Gu"}},
    {"민", 3, {"Min"}},
    {"류", 3, {"Ryu", "Yoo"}},
    {"나", 3, {"Na", "Ra"}},
    {"진", 3, {"Jin", "Chin"}},
    {"지", 3, {"Ji", "Chi"}},
    {"엄", 3, {"Uhm", "Eom"}},
    {"채", 3, {"Chae"}},
    {"원", 3, {"Won"}},
    {"천", 2, {"Cheon", "Chun"}},
    {"방", 2, {"Bang"}},
    {"공", 2, {"Kong", "Gong"}},
    {"현", 2, {"Hyun", "Hyeon"}},
    {"함", 2, {"Ham"}},
    {"변", 2, {"Byun", "Byeon"}},
    {"염", 2, {"Yeom", "Yum"}},
    {"여", 2, {"Yeo", "Yuh"}},
    {"추", 2, {"Choo", "Chu"}},
    {"도", 2, {"Do"}},
    {"석", 2, {"Seok", "Suk"}},
    {"선", 1, {"Sun", "Seon"}},
    {"설", 1, {"Seol", "Sul"}},
    {"연", 1, {"Yeon", "Youn"}},
    {"명", 1, {"Myung", "Myeong"}},
    {"남궁", 1, {"Namgung", "Namkung"}},
    {"황보", 1, {"Hwangbo"}},
    {"제갈", 1, {"Jegal"}},
    {"선우", 1, {"Sunwoo", "Seonu"}},
};

static const char *const kr_given_syllables[] = {
    "민", "서", "지", "준", "현", "우", "윤", "하", "은", "수", "영", "도", "연", "예", "진",
    "성", "재", "유", "주", "원", "태", "희", "경", "나", "혜", "승", "채", "호", "빈", "아",
    "동", "혁", "상", "정", "미", "소", "다", "건", "시", "가", "린", "율", "한", "규", "석",
    "철", "용", "숙", "순", "자", "영", "환", "훈", "선", "명", "기", "광", "남", "옥", "인"};

static const char *const kr_streets[] = {
    "중앙로",     "평화로",     "새솔길",   "한내로",   "푸른숲길",   "바다로", "햇살로",
    "다온길",     "큰마을로",   "별빛로",   "세종대로", "을지로",     "퇴계로", "테헤란로",
    "올림픽로",   "동일로",     "강남대로", "월드컵로", "양재대로",   "논현로", "판교로",
    "광교중앙로", "해운대로",   "수영로",   "중앙대로", "달구벌대로", "금강로", "무등로",
    "충장로",     "대학로",     "시청로",   "역전로",   "공원로",     "학교길", "샘터길",
    "솔밭길",     "은행나무길", "개나리길", "무지개로", "한빛로"};

static const char *const kr_cities[][2] = {
    {"서울특별시", "마포구"},    {"서울특별시", "노원구"},      {"서울특별시", "강서구"},
    {"서울특별시", "송파구"},    {"서울특별시", "관악구"},      {"경기도", "성남시 분당구"},
    {"경기도", "수원시 영통구"}, {"경기도", "고양시 일산동구"}, {"부산광역시", "해운대구"},
    {"부산광역시", "사하구"},    {"인천광역시", "연수구"},      {"대구광역시", "수성구"},
    {"광주광역시", "북구"},      {"대전광역시", "유성구"},      {"울산광역시", "남구"}};

/* ---- American names ----------------------------------------------------------------------- */

static const char *const us_given_f[] = {
    "Olivia", "Emma",   "Ava",      "Sophia", "Mia",      "Harper", "Evelyn",   "Abigail",
    "Ella",   "Grace",  "Chloe",    "Nora",   "Zoë",      "Renée",  "Isabella", "Amelia",
    "Luna",   "Aria",   "Scarlett", "Hazel",  "Violet",   "Aurora", "Penelope", "Layla",
    "Riley",  "Zoey",   "Lily",     "Ellie",  "Stella",   "Lucía",  "Natalie",  "Hannah",
    "Leah",   "Audrey", "Claire",   "Maya",   "Madeline", "Ruby",   "Alice",    "Iris"};
static const char *const us_given_m[] = {
    "Liam",   "Noah",    "Oliver",    "James",  "Elijah",  "Lucas",   "Mason",   "Ethan",
    "Logan",  "Henry",   "Owen",      "Caleb",  "José",    "Björn",   "William", "Benjamin",
    "Jacob",  "Michael", "Alexander", "Daniel", "Matthew", "Jackson", "Samuel",  "Sebastian",
    "David",  "Joseph",  "Carter",    "Wyatt",  "John",    "Luke",    "Julian",  "Isaac",
    "Andrés", "Nathan",  "Aaron",     "Thomas", "Charles", "Connor",  "Adrian",  "Ian"};
static const char *const us_family[] = {
    "Smith",    "Johnson",   "Williams",   "Brown",     "Jones",    "Garcia",   "Miller",
    "Davis",    "Rodriguez", "Martinez",   "Hernández", "López",    "Gonzalez", "Wilson",
    "Anderson", "Thomas",    "Taylor",     "Moore",     "Jackson",  "Martin",   "Lee",
    "Pérez",    "Thompson",  "White",      "Harris",    "Sánchez",  "Clark",    "Ramírez",
    "Lewis",    "Robinson",  "Walker",     "Young",     "Allen",    "King",     "Wright",
    "Scott",    "Torres",    "Nguyen",     "Hill",      "Flores",   "Green",    "Adams",
    "Nelson",   "Baker",     "Hall",       "Rivera",    "Campbell", "Mitchell", "Carter",
    "Roberts",  "Gómez",     "Phillips",   "Evans",     "Turner",   "Díaz",     "Parker",
    "Cruz",     "Edwards",   "Collins",    "Reyes",     "Stewart",  "Morris",   "Morales",
    "Murphy",   "Cook",      "Rogers",     "Gutiérrez", "Ortiz",    "Morgan",   "Cooper",
    "Peterson", "Bailey",    "Reed",       "Kelly",     "Howard",   "Ramos",    "Kim",
    "Cox",      "Ward",      "Richardson", "Müller",    "Novak",    "O'Brien",  "Schröder"};
static const char *const us_streets[] = {
    "Alder St",   "Burnside Rd",    "Division St", "Hawthorne Blvd", "Killingsworth St",
    "Sandy Blvd", "Macadam Ave",    "Fremont St",  "Belmont St",     "Glisan St",
    "Lombard St", "Powell Blvd",    "Broadway",    "Stark St",       "Holgate Blvd",
    "Foster Rd",  "Woodstock Blvd", "Clinton St",  "Morrison St",    "Flanders St"};

/* ---- Revised Romanization with the usual variants ----------------------------------------- */

static const char *const rr_ini[19] = {"g",  "kk", "n", "d",  "tt", "r", "m", "b", "pp", "s",
                                       "ss", "",   "j", "jj", "ch", "k", "t", "p", "h"};
static const char *const alt_ini[19] = {"k",  NULL, NULL, "t",  NULL, "l",  NULL, "p",  NULL, NULL,
                                        NULL, NULL, "ch", NULL, NULL, NULL, NULL, NULL, NULL};
static const char *const rr_med[21] = {"a",  "ae", "ya", "yae", "eo", "e",  "yeo",
                                       "ye", "o",  "wa", "wae", "oe", "yo", "u",
                                       "wo", "we", "wi", "yu",  "eu", "ui", "i"};
static const char *const alt_med[21] = {NULL, NULL, NULL, NULL, "u",  NULL, "yu",
                                        NULL, NULL, NULL, NULL, "oi", NULL, "oo",
                                        NULL, NULL, NULL, NULL, "u",  "ee", "ee"};
static const char *const rr_fin[28] = {"",  "k",  "k", "k", "n", "n", "n", "t", "l", "k",
                                       "m", "l",  "l", "l", "p", "l", "m", "p", "p", "t",
                                       "t", "ng", "t", "t", "k", "t", "p", "t"};

/* Decodes the Hangul syllable at s into its index (0..11171); -1 if none. */
static int syllable(const unsigned char *s)
{
    if ((s[0] & 0xF0) != 0xE0 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
        return -1;
    unsigned cp = ((s[0] & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
    return cp >= 0xAC00 && cp <= 0xD7A3 ? (int)(cp - 0xAC00) : -1;
}

static void put_syllable(char *out, size_t n, unsigned idx)
{
    unsigned cp = 0xAC00 + idx;
    size_t l = strlen(out);
    if (l + 4 > n)
        return;
    out[l] = (char)(0xE0 | (cp >> 12));
    out[l + 1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[l + 2] = (char)(0x80 | (cp & 0x3F));
    out[l + 3] = '\0';
}

static void append(char *out, size_t n, const char *s)
{
    size_t l = strlen(out);
    snprintf(out + l, n > l ? n - l : 0, "%s", s);
}

/* Romanizes a Hangul given name syllable by syllable: strict RR, or with
 * the popular variants (oo, u, ee, k, ch ...) when loose; syllables joined,
 * hyphenated or spaced, capitalized or upper-case. */
static void romanize_given(rng_t *r, const char *hangul, char *out, size_t n)
{
    int loose = pick(r, 2), sep = (int)pick(r, 10), upper = pick(r, 12) == 0;
    out[0] = '\0';
    const unsigned char *s = (const unsigned char *)hangul;
    int first = 1;
    while (*s) {
        int idx = syllable(s);
        if (idx < 0) {
            s++;
            continue;
        }
        s += 3;
        unsigned ini = (unsigned)idx / (21 * 28), med = ((unsigned)idx / 28) % 21,
                 fin = (unsigned)idx % 28;
        char syl[16] = "";
        const char *i = rr_ini[ini], *m = rr_med[med];
        if (loose && alt_ini[ini] && pick(r, 2))
            i = alt_ini[ini];
        if (loose && ini == 9 && (med == 20 || med == 16) && pick(r, 2))
            i = "sh";
        if (loose && alt_med[med] && pick(r, 2) && !(med == 20 && fin != 0))
            m = alt_med[med];
        snprintf(syl, sizeof syl, "%s%s%s", i, m, rr_fin[fin]);
        if (!first)
            append(out, n, sep < 4 ? "-" : sep < 5 ? " " : "");
        if (syl[0] && (first || sep < 5 || upper))
            syl[0] = (char)(syl[0] - 'a' + 'A');
        if (upper)
            for (char *c = syl; *c; c++)
                if (*c >= 'a' && *c <= 'z')
                    *c = (char)(*c - 'a' + 'A');
        append(out, n, syl);
        first = 0;
    }
}

/* ---- Typos -------------------------------------------------------------------------------- */

/* One keyboard slip in an ASCII word: two letters swapped, one dropped,
 * one doubled, or one replaced. */
static void typo_latin(rng_t *r, char *s)
{
    size_t len = strlen(s);
    if (len < 3)
        return;
    size_t at = 1 + pick(r, (unsigned)(len - 2)); /* never the first letter */
    if ((unsigned char)s[at] >= 0x80 || (unsigned char)s[at - 1] >= 0x80 ||
        (unsigned char)s[at + 1] >= 0x80)
        return;
    switch (pick(r, 4)) {
    case 0: {
        char t = s[at];
        s[at] = s[at + 1];
        s[at + 1] = t;
        break;
    }
    case 1:
        memmove(s + at, s + at + 1, len - at);
        break;
    case 2:
        if (len + 2 < 32) {
            memmove(s + at + 1, s + at, len - at + 1);
        }
        break;
    default:
        s[at] = s[at] == 'e' ? 'a' : 'e';
        break;
    }
}

/* 1 when EUC-KR has a code for Hangul syllable idx: KS X 1001 holds 2,350
 * of the 11,172 (혁 is one, its neighbour 혝 is not). */
static int in_euckr(unsigned idx)
{
    char in[4] = "", out[8];
    put_syllable(in, sizeof in, idx);
    iconv_t cd = iconv_open("EUC-KR", "UTF-8");
    if (cd == (iconv_t)-1)
        return 0;
    char *ip = in, *op = out;
    size_t il = strlen(in), ol = sizeof out;
    size_t rc = iconv(cd, &ip, &il, &op, &ol);
    iconv_close(cd);
    return rc != (size_t)-1;
}

/* A slip in a Hangul name: one vowel of one syllable becomes its
 * neighbour in the jamo order (민 → 먼).  In a record its documents write
 * as EUC-KR (euckr), the slip is one that system could store: the next
 * neighbour after, else before, then further out, that EUC-KR has; the
 * name stays as it is when none has. */
static void typo_hangul(rng_t *r, char *s, size_t n, int euckr)
{
    size_t len = strlen(s);
    if (len < 6 || len % 3 != 0)
        return;
    size_t k = pick(r, (unsigned)(len / 3));
    int idx = syllable((const unsigned char *)s + 3 * k);
    if (idx < 0)
        return;
    unsigned ini = (unsigned)idx / (21 * 28), med0 = ((unsigned)idx / 28) % 21,
             fin = (unsigned)idx % 28, med = med0;
    for (unsigned d = 1; d < 21; d++) {
        unsigned step = (d + 1) / 2; /* +1, -1, +2, -2, ... */
        unsigned cand = d % 2 == 1 ? (med0 + step) % 21 : (med0 + 21 - step) % 21;
        if (!euckr || in_euckr((ini * 21 + cand) * 28 + fin)) {
            med = cand;
            break;
        }
    }
    if (med == med0)
        return;
    char out[64] = "";
    for (size_t j = 0; j < len / 3; j++) {
        if (j == k)
            put_syllable(out, sizeof out, (ini * 21 + med) * 28 + fin);
        else
            put_syllable(out, sizeof out, (unsigned)syllable((const unsigned char *)s + 3 * j));
    }
    snprintf(s, n, "%s", out);
}

/* ---- Persons ------------------------------------------------------------------------------ */

typedef struct person {
    int korean;
    unsigned surname; /* kr_surnames index when korean */
    char family[32], given[32];
    char sex;
    int by, bm, bd;
    char state[64], city[64], street[96], zip[8], tel[24];
} person_t;

static void kr_given(rng_t *r, char *out, size_t n)
{
    snprintf(out, n, "%s%s", PICK(r, kr_given_syllables), PICK(r, kr_given_syllables));
}

static void address(rng_t *r, int korean, person_t *p)
{
    if (korean) {
        unsigned c = pick(r, CDX_ARRAY_SIZE(kr_cities));
        snprintf(p->state, sizeof p->state, "%s", kr_cities[c][0]);
        snprintf(p->city, sizeof p->city, "%s", kr_cities[c][1]);
        snprintf(p->street, sizeof p->street, "%s %d", PICK(r, kr_streets), between(r, 1, 999));
        snprintf(p->zip, sizeof p->zip, "%05d", between(r, 1000, 63999));
    } else {
        snprintf(p->state, sizeof p->state, "OR");
        snprintf(p->city, sizeof p->city, "Portland");
        snprintf(p->street, sizeof p->street, "%d %s", between(r, 100, 19999), PICK(r, us_streets));
        snprintf(p->zip, sizeof p->zip, "972%02d", between(r, 1, 99));
    }
}

static void phone(rng_t *r, int korean, char *out, size_t n)
{
    if (korean)
        snprintf(out, n, "010-%04d-%04d", between(r, 1000, 9999), between(r, 0, 9999));
    else
        snprintf(out, n, "+1-%d-%03d-%04d", PICK(r, ((const int[]){503, 971, 360})),
                 between(r, 200, 999), between(r, 0, 9999));
}

static void base_person(uint64_t seed, unsigned long index, person_t *p)
{
    memset(p, 0, sizeof *p);
    rng_t r = {mix(seed ^ 0x9E57ull, index + 1)};
    p->korean = pick(&r, 5) != 0; /* four in five */
    p->sex = pick(&r, 2) ? 'F' : 'M';
    p->by = between(&r, 1932, 2023);
    p->bm = between(&r, 1, 12);
    p->bd = between(&r, 1, p->bm == 2 ? 28 : 30);
    if (p->korean) {
        unsigned x = pick(&r, 1000), acc = 0;
        p->surname = 0;
        for (unsigned i = 0; i < CDX_ARRAY_SIZE(kr_surnames); i++) {
            acc += kr_surnames[i].permille;
            if (x < acc) {
                p->surname = i;
                break;
            }
        }
        snprintf(p->family, sizeof p->family, "%s", kr_surnames[p->surname].hangul);
        kr_given(&r, p->given, sizeof p->given);
    } else {
        snprintf(p->family, sizeof p->family, "%s", PICK(&r, us_family));
        snprintf(p->given, sizeof p->given, "%s",
                 p->sex == 'F' ? PICK(&r, us_given_f) : PICK(&r, us_given_m));
    }
    address(&r, p->korean, p);
    phone(&r, p->korean, p->tel, sizeof p->tel);
}

static int relation_of(uint64_t seed, unsigned long index)
{
    if (index == 0)
        return POP_PLAIN;
    rng_t r = {mix(seed ^ 0x7E1Aull, index + 1)};
    unsigned x = pick(&r, 1000);
    return x < 20 ? POP_TWIN : x < 40 ? POP_NAMESAKE : POP_PLAIN;
}

/* The person with its relation to the one before applied.  A person
 * related to the one before it is never the model of the next one. */
static int make_person(uint64_t seed, unsigned long index, person_t *p)
{
    base_person(seed, index, p);
    int rel = relation_of(seed, index);
    if (rel != POP_PLAIN && relation_of(seed, index - 1) != POP_PLAIN)
        rel = POP_PLAIN;
    if (rel == POP_PLAIN)
        return rel;
    person_t prev;
    base_person(seed, index - 1, &prev);
    rng_t r = {mix(seed ^ 0x7717ull, index + 1)};
    if (rel == POP_TWIN) {
        person_t twin = prev;
        twin.sex = pick(&r, 2) ? 'F' : 'M';
        /* A different given name, sharing a syllable half of the time. */
        do {
            if (prev.korean) {
                char g[32];
                kr_given(&r, g, sizeof g);
                if (pick(&r, 2))
                    memcpy(g, prev.given, 3); /* the first syllable */
                snprintf(twin.given, sizeof twin.given, "%s", g);
            } else {
                snprintf(twin.given, sizeof twin.given, "%s",
                         twin.sex == 'F' ? PICK(&r, us_given_f) : PICK(&r, us_given_m));
            }
        } while (strcmp(twin.given, prev.given) == 0);
        *p = twin;
    } else {
        int own = p->korean;
        p->korean = prev.korean;
        p->surname = prev.surname;
        p->sex = prev.sex;
        memcpy(p->family, prev.family, sizeof p->family);
        memcpy(p->given, prev.given, sizeof p->given);
        if (own != prev.korean) { /* an address in the person's script */
            address(&r, p->korean, p);
            phone(&r, p->korean, p->tel, sizeof p->tel);
        }
    }
    return rel;
}

/* ---- Records ------------------------------------------------------------------------------ */

/* Drops accents for Dasom's EUC-KR documents (and as some clerks do). */
static void ascii_only(char *s)
{
    static const struct {
        const char *from, *to;
    } map[] = {{"é", "e"}, {"á", "a"}, {"í", "i"}, {"ó", "o"}, {"ú", "u"},
               {"ë", "e"}, {"ö", "o"}, {"ü", "u"}, {"ñ", "n"}};
    char out[32] = "";
    for (const char *c = s; *c;) {
        int done = 0;
        for (size_t i = 0; i < CDX_ARRAY_SIZE(map) && !done; i++)
            if (strncmp(c, map[i].from, strlen(map[i].from)) == 0) {
                append(out, sizeof out, map[i].to);
                c += strlen(map[i].from);
                done = 1;
            }
        if (!done) {
            char one[2] = {*c++, 0};
            if ((unsigned char)one[0] < 0x80)
                append(out, sizeof out, one);
        }
    }
    memcpy(s, out, sizeof out); /* s holds 32 bytes */
}

static void romanize_record(rng_t *r, const person_t *per, patient_t *p)
{
    const char *const *sp = kr_surnames[per->surname].latin;
    unsigned nsp = 0;
    while (nsp < 4 && sp[nsp])
        nsp++;
    /* the most common spelling two times in three */
    const char *fam = pick(r, 3) ? sp[0] : sp[pick(r, nsp)];
    snprintf(p->family, sizeof p->family, "%s", fam);
    if (pick(r, 10) == 0)
        for (char *c = p->family; *c; c++)
            if (*c >= 'a' && *c <= 'z')
                *c = (char)(*c - 'a' + 'A');
    romanize_given(r, per->given, p->given, sizeof p->given);
}

/* One record of person per at institution inst, serial k of the person. */
static void make_record(uint64_t seed, unsigned long person, unsigned k, int inst,
                        const person_t *per, pop_record_t *rec)
{
    patient_t *p = &rec->p;
    memset(rec, 0, sizeof *rec);
    rec->person = person;
    unsigned long serial = person * POP_MAX_RECORDS + k;
    p->index = serial;
    p->seed = mix(seed ^ 0x2EC0ull, serial + 1);
    p->shard = (unsigned)(mix(p->seed, 77) & 0xff);
    p->alt = serial;
    p->inst = inst;
    p->sex = per->sex;
    p->by = per->by;
    p->bm = per->bm;
    p->bd = per->bd;
    /* Local ids that say nothing of the person: a bijection of the serial. */
    unsigned long id = (unsigned long)((serial * 387420489ull) % 1000000000ull);
    snprintf(p->mrn, sizeof p->mrn,
             inst == INST_HANBIT  ? "HBP%09lu"
             : inst == INST_DASOM ? "DSP-%09lu"
                                  : "RGH-P%09lu",
             id);
    rng_t r = {mix(p->seed, 5)};
    unsigned v = 0;
    if (per->korean && inst == INST_RIVERSIDE) {
        romanize_record(&r, per, p);
        v |= POP_ROMANIZED;
    } else {
        snprintf(p->family, sizeof p->family, "%s", per->family);
        snprintf(p->given, sizeof p->given, "%s", per->given);
        if (!per->korean && (inst == INST_DASOM || pick(&r, 4) == 0)) {
            ascii_only(p->family);
            ascii_only(p->given);
        }
    }
    snprintf(p->state, sizeof p->state, "%s", per->state);
    snprintf(p->city, sizeof p->city, "%s", per->city);
    snprintf(p->street, sizeof p->street, "%s", per->street);
    snprintf(p->zip, sizeof p->zip, "%s", per->zip);
    snprintf(p->tel, sizeof p->tel, "%s", per->tel);

    if (pick(&r, 100) < 4) { /* a typo, in the given name mostly */
        char *w = pick(&r, 10) < 7 ? p->given : p->family;
        if ((unsigned char)w[0] >= 0x80)
            typo_hangul(&r, p->given, sizeof p->given, inst == INST_DASOM);
        else
            typo_latin(&r, w);
        v |= POP_TYPO;
    }
    if (pick(&r, 100) < ((v & POP_ROMANIZED) ? 8u : 2u)) {
        char t[32];
        memcpy(t, p->family, sizeof t);
        memcpy(p->family, p->given, sizeof t);
        memcpy(p->given, t, sizeof t);
        v |= POP_SWAPPED;
    }
    unsigned x = pick(&r, 100);
    if (x < 10) {
        p->street[0] = p->zip[0] = p->city[0] = p->state[0] = '\0';
        v |= POP_NO_ADDRESS;
    } else if (x < 25) {
        person_t moved;
        memset(&moved, 0, sizeof moved);
        address(&r, per->korean || pick(&r, 2), &moved);
        snprintf(p->state, sizeof p->state, "%s", moved.state);
        snprintf(p->city, sizeof p->city, "%s", moved.city);
        snprintf(p->street, sizeof p->street, "%s", moved.street);
        snprintf(p->zip, sizeof p->zip, "%s", moved.zip);
        v |= POP_MOVED;
    }
    x = pick(&r, 100);
    if (x < 8) {
        p->tel[0] = '\0';
        v |= POP_NO_PHONE;
    } else if (x < 23) {
        phone(&r, per->korean, p->tel, sizeof p->tel);
        v |= POP_NEW_PHONE;
    }
    x = pick(&r, 1000);
    if (x < 15 && p->bd <= 12 && p->bd != p->bm) {
        int t = p->bd;
        p->bd = p->bm;
        p->bm = t;
        v |= POP_BIRTH_DM;
    } else if (x < 30) {
        p->bd = p->bd % 10 == 9 ? p->bd - 1 : p->bd + 1; /* the last digit */
        v |= POP_BIRTH_DIGIT;
    }
    rec->variations = v;
}

size_t pop_person_records(uint64_t seed, unsigned long person, pop_record_t *rec)
{
    person_t per;
    int rel = make_person(seed, person, &per);
    rng_t r = {mix(seed ^ 0x1257ull, person + 1)};
    int insts[POP_MAX_RECORDS];
    size_t n = 0;
    /* Korean persons mostly at the Korean institutions, Americans at
     * Riverside; everyone somewhere. */
    static const unsigned share[2][INST_COUNT] = {{25, 15, 85}, {65, 55, 25}};
    for (int i = 0; i < INST_COUNT; i++)
        if (pick(&r, 100) < share[per.korean][i])
            insts[n++] = i;
    if (n == 0)
        insts[n++] = per.korean ? (int)pick(&r, 2) : INST_RIVERSIDE;
    /* Registered twice at one institution now and then. */
    if (pick(&r, 100) < 4) {
        int again = insts[pick(&r, (unsigned)n)];
        insts[n++] = again;
    }
    for (size_t k = 0; k < n; k++) {
        make_record(seed, person, (unsigned)k, insts[k], &per, &rec[k]);
        rec[k].relation = rel;
    }
    return n;
}
