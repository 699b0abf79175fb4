/* gen_people: the fictional patients of cdxgw-gen, Korean for the two
 * Korean institutions and American for Riverside, each drawn from its own
 * stream of the seed. */
#include "gen.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const inst_names[INST_COUNT] = {"hanbit", "dasom", "riverside"};
const char *const inst_oids[INST_COUNT] = {HANBIT_OID, DASOM_OID, RIVERSIDE_OID};

static const char *const kr_family[] = {"김", "이", "박", "최", "정", "강", "조", "윤", "장", "임",
                                        "한", "오", "서", "신", "권", "황", "안", "송", "류", "홍"};
static const char *const kr_syllable[] = {
    "민", "서", "지", "준", "현", "우", "윤", "하", "은", "수", "영", "도", "연", "예", "진",
    "성", "재", "유", "주", "원", "태", "희", "경", "나", "혜", "승", "채", "호", "빈", "아"};
static const char *const kr_city[][2] = {{"서울특별시", "마포구"},    {"서울특별시", "노원구"},
                                         {"서울특별시", "강서구"},    {"경기도", "성남시 분당구"},
                                         {"경기도", "수원시 영통구"}, {"부산광역시", "해운대구"},
                                         {"부산광역시", "사하구"},    {"부산광역시", "연제구"},
                                         {"인천광역시", "연수구"},    {"대구광역시", "수성구"}};
static const char *const kr_street[] = {"중앙로", "평화로", "새솔길", "한내로",   "푸른숲길",
                                        "바다로", "햇살로", "다온길", "큰마을로", "별빛로"};
static const char *const us_given_f[] = {"Olivia", "Emma",    "Ava",  "Sophia", "Mia",   "Harper",
                                         "Evelyn", "Abigail", "Ella", "Grace",  "Chloe", "Nora"};
static const char *const us_given_m[] = {"Liam",  "Noah",  "Oliver", "James", "Elijah", "Lucas",
                                         "Mason", "Ethan", "Logan",  "Henry", "Owen",   "Caleb"};
static const char *const us_family[] = {
    "Smith",  "Johnson", "Brown", "Garcia", "Miller", "Davis", "Lopez", "Wilson", "Anderson",
    "Thomas", "Moore",   "Lee",   "Martin", "Clark",  "Lewis", "Hall",  "Young",  "Allen"};
static const char *const us_street[] = {"Alder St",       "Burnside Rd",      "Division St",
                                        "Hawthorne Blvd", "Killingsworth St", "Sandy Blvd",
                                        "Macadam Ave",    "Fremont St"};

uint64_t mix(uint64_t a, uint64_t b)
{
    rng_t r = {a ^ (b * 0xD1B54A32D192ED03ull)};
    next_u64(&r);
    return next_u64(&r);
}

void make_patient(uint64_t seed, unsigned long index, int inst_choice, patient_t *p)
{
    memset(p, 0, sizeof *p);
    p->index = index;
    p->seed = mix(seed, index + 1);
    rng_t r = {p->seed};
    p->inst = inst_choice == INST_MIXED ? (int)pick(&r, INST_COUNT) : inst_choice;
    p->sex = pick(&r, 2) ? 'F' : 'M';
    p->by = between(&r, 1932, 2019);
    p->bm = between(&r, 1, 12);
    p->bd = between(&r, 1, 28);
    p->shard = (unsigned)(mix(p->seed, 77) & 0xff);
    p->alt = index % 100000;
    if (p->inst == INST_RIVERSIDE) {
        snprintf(p->given, sizeof p->given, "%s",
                 p->sex == 'F' ? PICK(&r, us_given_f) : PICK(&r, us_given_m));
        snprintf(p->family, sizeof p->family, "%s", PICK(&r, us_family));
        snprintf(p->street, sizeof p->street, "%d %s", between(&r, 100, 9999), PICK(&r, us_street));
        snprintf(p->city, sizeof p->city, "Portland");
        snprintf(p->state, sizeof p->state, "OR");
        snprintf(p->zip, sizeof p->zip, "972%02d", between(&r, 1, 39));
        snprintf(p->tel, sizeof p->tel, "+1-503-555-%04d", between(&r, 100, 199));
        snprintf(p->mrn, sizeof p->mrn, "RGH-G%07lu", index);
    } else {
        snprintf(p->family, sizeof p->family, "%s", PICK(&r, kr_family));
        snprintf(p->given, sizeof p->given, "%s%s", PICK(&r, kr_syllable), PICK(&r, kr_syllable));
        unsigned c = pick(&r, CDX_ARRAY_SIZE(kr_city));
        snprintf(p->state, sizeof p->state, "%s", kr_city[c][0]);
        snprintf(p->city, sizeof p->city, "%s", kr_city[c][1]);
        snprintf(p->street, sizeof p->street, "%s %d", PICK(&r, kr_street), between(&r, 1, 400));
        snprintf(p->zip, sizeof p->zip, "%05d", between(&r, 1000, 63999));
        snprintf(p->tel, sizeof p->tel, "010-%04d-%04d", between(&r, 1000, 9999),
                 between(&r, 1000, 9999));
        snprintf(p->mrn, sizeof p->mrn, p->inst == INST_HANBIT ? "HBG%08lu" : "DSG-%07lu", index);
    }
}
