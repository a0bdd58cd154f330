// The tail of a test-world server's launcher (tests/simulator/bin, tests/idp/bin): announce the
// server with ONE JSON line on stdout (and in `portsFile`, written atomically, when given), then
// serve until SIGTERM or SIGINT, or until stdin closes when `exitOnStdinClose` — each stops the
// server once and exits 0. Harnesses in other languages wait for that line.

import fs from 'node:fs';

/**
 * @param {object} info                the announcement
 * @param {() => Promise<void>} stop    stops the server
 * @param {{portsFile?: string, exitOnStdinClose?: boolean}} [o]
 */
export function announceAndServe(info, stop, o = {}) {
  const line = `${JSON.stringify(info)}\n`;
  if (o.portsFile) {
    const tmp = `${o.portsFile}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, line);
    fs.renameSync(tmp, o.portsFile);
  }
  process.stdout.write(line);

  let stopping = false;
  async function shutdown() {
    if (stopping) return;
    stopping = true;
    await stop();
    process.exit(0);
  }
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  if (o.exitOnStdinClose) {
    process.stdin.on('end', shutdown);
    process.stdin.resume();
  }
}
