// Running `cosmoseal migrate ...` from the e2e tests (migrate.test.mjs, migrate-copy.test.mjs):
// JSON progress lines parsed as they come (a test may act on one, e.g. kill the migrator mid-way),
// and the figures the closing notes quote.

import { spawn } from 'node:child_process';
import readline from 'node:readline';
import { requireBinary } from './cosmoseal.mjs';
import { track, waitExit } from './procs.mjs';

/** Prints one `[migrate-figures]` line. */
export function figures(name, o) {
  console.log(`[migrate-figures] ${JSON.stringify({ test: name, ...o })}`);
}

/**
 * Runs `cosmoseal migrate ...args`. Returns {child, done}; `done` resolves with {code, signal,
 * lines (parsed JSON; {raw} for other lines), summaries, summary (the first), stderr}, and
 * rejects when the run outlives `timeoutMs` (it is killed then). `onLine(json, child)` sees every
 * line as it arrives.
 */
export function migrate(args, { onLine, timeoutMs = 240000 } = {}) {
  const child = track(spawn(requireBinary(), ['migrate', ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
  const lines = [];
  const err = [];
  child.stderr.on('data', (c) => err.push(c));
  const rl = readline.createInterface({ input: child.stdout });
  const closed = new Promise((res) => rl.once('close', res));
  rl.on('line', (l) => {
    let j;
    try {
      j = JSON.parse(l);
    } catch {
      j = { raw: l };
    }
    lines.push(j);
    onLine?.(j, child);
  });
  const done = (async () => {
    const r = await waitExit(child, timeoutMs);
    if (!r) {
      child.kill('SIGKILL');
      throw new Error(`migrate ${args[0]} did not finish within ${timeoutMs} ms`);
    }
    await closed;
    const summaries = lines.filter((l) => l.event === 'summary');
    return { ...r, lines, summaries, summary: summaries[0], stderr: Buffer.concat(err).toString('utf8') };
  })();
  return { child, done };
}
