/*
 * names: personal names made comparable across scripts and spellings.
 *
 * Responsible for: folding a name to lower-case ASCII letters (Latin
 * letters without case or accents, Latin-1 Supplement and Latin
 * Extended-A folded to their base letters; Hangul syllables romanized
 * syllable by syllable with the Revised Romanization of Korean, as it is
 * written for personal names); the canonical key of a Korean surname
 * whatever its usual spelling (이, Lee, Yi, Rhee, Ri and I give "lee");
 * a phonetic key that collapses the usual variant spellings of romanized
 * Korean (Minjun, Min-Jun, Minjoon and 민준 give one key); splitting a
 * whole name into family and given parts; Jaro-Winkler similarity and a
 * bounded edit distance for typos.
 * Not responsible for: scoring (match.c), Hanja, or any script other than
 * Latin and Hangul (other letters are dropped).
 *
 * Every function writes at most n bytes including the terminating NUL
 * (truncating at n - 1) and returns the length written.  Pure functions:
 * callable from any thread.
 */
#ifndef CDX_DOMAIN_NAMES_H
#define CDX_DOMAIN_NAMES_H

#include <stddef.h>

/* Name folding: lower-case ASCII letters only; Hangul romanized; every
 * other character (spaces, hyphens, digits, other scripts) dropped. */
size_t cdx_name_fold(const char *in, char *out, size_t n);

/* Like cdx_name_fold but keeps ASCII digits (street lines). */
size_t cdx_name_fold_alnum(const char *in, char *out, size_t n);

/* The canonical key of a surname in any script or usual spelling
 * ("lee" for 이, Yi, Rhee ...); a surname outside the table gives its
 * folded form. */
size_t cdx_name_family_key(const char *family, char *out, size_t n);

/* 1 when folded (the output of cdx_name_fold) is a surname of the table. */
int cdx_name_is_known_family(const char *folded);

/* The phonetic key of a folded name: eo/eu/oo → u, yeo/you → yu, ae → e,
 * ee/ui → i, oi → oe, sh → s, ch → j, k → g, p → b, t → d, r → l,
 * repeated letters once. */
size_t cdx_name_phonetic(const char *folded, char *out, size_t n);

/* Splits a whole name ("김민준", "김 민준", "Kim, Minjun", "Minjun Kim")
 * into the family and given name as written (not folded).  A Hangul name
 * without spaces starts with its surname (two syllables for the compound
 * surnames 남궁, 황보, 제갈, 선우 ...); a Latin name is "Family, Given",
 * or its last word is the family name unless only its first word is a
 * known surname. */
void cdx_name_split(const char *text, char *family, size_t nf, char *given, size_t ng);

/* Jaro-Winkler similarity of two strings in [0, 1]. */
double cdx_name_jaro_winkler(const char *a, const char *b);

/* Optimal string alignment distance (substitution, insertion, deletion,
 * transposition of neighbours), or max + 1 when it is above max. */
int cdx_name_edit_distance(const char *a, const char *b, int max);

#endif
