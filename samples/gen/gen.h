/* gen: what the generator's files share (samples/gen/): the demo
 * institutions, the seeded random stream, the patient record, and the two
 * steps from a seed to the bytes of a document. */
#ifndef CDX_SAMPLES_GEN_H
#define CDX_SAMPLES_GEN_H

#include "cdx/base/buf.h"
#include "cdx/base/common.h"

#include <stddef.h>
#include <stdint.h>

#define HANBIT_OID    "2.25.83570720227913622468059417429842681918"
#define DASOM_OID     "2.25.20981123314685619330378792882634570198"
#define RIVERSIDE_OID "2.25.171372773189504359489447086526480295415"
#define KCD           "1.2.410.100110.40.2.3.2"
#define EDI           "1.2.410.100110.40.2.3.3"
#define KD            "1.2.410.100110.40.2.3.4"
#define LOINC         "2.16.840.1.113883.6.1"
#define SNOMED        "2.16.840.1.113883.6.96"
#define RXNORM        "2.16.840.1.113883.6.88"
#define ROUTE         "2.16.840.1.113883.3.26.1.1"
#define DOC_MAX       (64u << 20)

enum { INST_HANBIT, INST_DASOM, INST_RIVERSIDE, INST_COUNT, INST_MIXED = INST_COUNT };


extern const char *const inst_names[INST_COUNT];
extern const char *const inst_oids[INST_COUNT];

/* ---- Random numbers (splitmix64) --------------------------------------------------------- */

typedef struct rng {
    uint64_t s;
} rng_t;

static inline uint64_t next_u64(rng_t *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n) (n small, so the modulo bias is negligible). */
static inline unsigned pick(rng_t *r, unsigned n)
{
    return (unsigned)(next_u64(r) % n);
}

static inline int between(rng_t *r, int lo, int hi)
{
    return lo + (int)pick(r, (unsigned)(hi - lo + 1));
}

#define PICK(r, arr) ((arr)[pick((r), CDX_ARRAY_SIZE(arr))])

/* A stream value derived from a and b: patients from the seed, documents
 * from their patient. */
uint64_t mix(uint64_t a, uint64_t b);

typedef struct patient {
    unsigned long index;
    int inst;
    char family[32], given[32];
    char sex; /* 'M' or 'F' */
    int by, bm, bd;
    char mrn[32];
    char city[64], state[64], street[96], zip[8], tel[24];
    uint64_t seed; /* per-patient stream */
    unsigned shard;
    unsigned long alt; /* Dasom's second (card) id number */
} patient_t;

/* Patient number index of the population of seed, of institution
 * inst_choice (INST_MIXED: drawn).  gen_people.c. */
void make_patient(uint64_t seed, unsigned long index, int inst_choice, patient_t *p);

/* Builds document number doc of patient p into out (UTF-8), padded with
 * narrative towards size_kb kilobytes when not 0.  Returns 0, or -1 when
 * the document would pass DOC_MAX.  gen_doc.c. */
int build_doc(const patient_t *p, unsigned doc, size_t size_kb, uint64_t seed, cdx_buf_t *out);

/* Where build_doc writes the clinical facts it plants (--facts), or NULL:
 * one line per fact, "document id TAB kind TAB code system TAB code TAB
 * value TAB unit", the code system and code as the gateway stores them
 * after normalization (KCD-8 diagnoses as ICD-10, KD and EDI drugs as ATC,
 * local and EDI laboratory codes as LOINC), the value and unit as sent.
 * gen_doc.c. */
#include <stdio.h>
extern FILE *gen_facts;

/* ---- A population with planted truth (gen_population.c) --------------------------------
 *
 * Persons, each held as one or more records (patient_t) by the demo
 * institutions under their own local ids, as a registry of several
 * hospitals sees them: Korean persons in Hangul at Hanbit and Dasom and
 * romanized at Riverside, American persons in Latin script; realistic
 * differences between the records of one person (typos, spelling variants
 * of romanized names, family and given swapped, a missing or changed
 * address, a new or missing phone, day and month transposed or one digit
 * off in the birth date); twins (same birth date, family name, address
 * and phone, different given names) and namesakes (same name, another
 * person).  Everything follows from the seed and the person number. */
#define POP_MAX_RECORDS 6

/* What was changed in a record against the person's own data (bits). */
enum {
    POP_ROMANIZED = 1u << 0, /* Hangul name written in Latin letters */
    POP_TYPO = 1u << 1,      /* a typo in the family or given name */
    POP_SWAPPED = 1u << 2,   /* family and given swapped */
    POP_NO_ADDRESS = 1u << 3,
    POP_MOVED = 1u << 4, /* another address */
    POP_NO_PHONE = 1u << 5,
    POP_NEW_PHONE = 1u << 6,
    POP_BIRTH_DM = 1u << 7,    /* day and month transposed */
    POP_BIRTH_DIGIT = 1u << 8, /* one digit of the birth date wrong */
};

/* How a person relates to the one before it. */
enum { POP_PLAIN, POP_TWIN, POP_NAMESAKE };

typedef struct pop_record {
    patient_t p;          /* as the institution holds it; p.index is the record's serial */
    unsigned long person; /* the true person number */
    unsigned variations;  /* POP_* bits */
    int relation;         /* POP_PLAIN, POP_TWIN or POP_NAMESAKE (of person - 1) */
} pop_record_t;

/* The records of person number person of the population of seed, in
 * rec[0..n) (n <= POP_MAX_RECORDS).  Returns n (at least 1). */
size_t pop_person_records(uint64_t seed, unsigned long person, pop_record_t *rec);

#endif
