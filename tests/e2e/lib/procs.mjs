// Child-process bookkeeping: every child the harness starts is tracked and killed (SIGKILL) when
// this process exits for any reason, including SIGINT/SIGTERM, so no cosmoseal is ever left behind.

const live = new Set();
let installed = false;

function killAll() {
  for (const child of live) {
    try {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
  live.clear();
}

function install() {
  if (installed) return;
  installed = true;
  process.on('exit', killAll);
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]]) {
    process.on(sig, () => {
      killAll();
      process.exit(code);
    });
  }
}

/** Tracks `child` until it exits. */
export function track(child) {
  install();
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** Kills every tracked child now (SIGKILL). */
export function killTracked() {
  killAll();
}

/** Resolves with {code, signal} when `child` exits, or null after `ms`. */
export function waitExit(child, ms) {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      child.off('exit', onExit);
      resolve(null);
    }, ms);
    const onExit = (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal });
    };
    child.once('exit', onExit);
  });
}
