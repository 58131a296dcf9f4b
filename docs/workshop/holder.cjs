// A child that exits at once but leaves a grandchild holding its stdout and stderr for
// two seconds (docs/workshop.md, block 5). The grandchild inherits both streams, so they
// reach end of file only when it exits, after the child itself.
const { spawn } = require('node:child_process');
const { writeSync } = require('node:fs');

const HOLD_MS = Number(process.argv[2] ?? 2000);
writeSync(1, `holder: started a grandchild that keeps my streams for ${HOLD_MS} ms\n`);
spawn(process.execPath, ['-e', `setTimeout(() => require('node:fs').writeSync(1, 'grandchild: done holding\\n'), ${HOLD_MS})`], {
  stdio: ['ignore', 'inherit', 'inherit'],
}).unref();
