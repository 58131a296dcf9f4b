// A child that writes one line every INTERVAL ms, COUNT times, each stamped with the
// time of the write (ms since 1970), so that a reader can tell how late it arrived
// (docs/workshop.md, block 5).
const { writeSync } = require('node:fs');

const COUNT = Number(process.argv[2] ?? 50);
const INTERVAL_MS = Number(process.argv[3] ?? 100);
let k = 0;
const timer = setInterval(() => {
  k += 1;
  writeSync(1, `ticker: tick ${k} t=${Date.now()}\n`);
  if (k === COUNT) clearInterval(timer);
}, INTERVAL_MS);
