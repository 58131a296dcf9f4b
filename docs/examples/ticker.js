// A helper for docs/examples/helpers.json: COUNT lines (default 3), 100 ms apart,
// alternating stdout and stderr. It writes with fs.writeSync, not console.log: on Windows
// the parent hands it sockets as stdout and stderr, and Node's process.stdout cannot use
// a socket there (see the node-stdio quirk in docs/quirks.md).
import { writeSync } from 'node:fs';
import { basename } from 'node:path';

const count = Number(process.argv[2] ?? 3);
const where = basename(process.cwd());
let i = 0;
const timer = setInterval(() => {
  i += 1;
  writeSync(i % 2 === 1 ? 1 : 2, `ticker line ${i} of ${count} (pid ${process.pid}, in folder ${where})\n`);
  if (i >= count) clearInterval(timer);
}, 100);
