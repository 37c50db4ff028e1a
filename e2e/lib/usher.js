// Runs the real `usher` binary for the browser tests: a server on a loopback port of its
// own choosing, in a fresh directory (embedded SQLite, its own KEK), and the admin CLI on
// the same directory. With `{ localhost: true }` the issuer is `http://localhost:<port>`
// (still listening on 127.0.0.1): WebAuthn refuses IP addresses as relying-party ids, so
// passkeys need a host name, and Chromium treats http://localhost as a secure context.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

const here = new URL('..', import.meta.url).pathname;
export const USHER_BIN = resolve(process.env.USHER_BIN ?? join(here, '..', 'target', 'debug', 'usher'));

function environment(extra = {}) {
  return { PATH: process.env.PATH, ...extra };
}

/** A loopback port free a moment ago (the issuer must name the port before Usher binds). */
async function freePort() {
  const probe = createServer();
  await new Promise((ok, fail) => probe.once('error', fail).listen(0, '127.0.0.1', ok));
  const { port } = probe.address();
  await new Promise((ok) => probe.close(ok));
  return port;
}

export async function startUsher(extraEnv = {}, { localhost = false } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'usher-e2e-'));
  const address = localhost ? { USHER_BIND: `127.0.0.1:${await freePort()}` } : { USHER_BIND: '127.0.0.1:0' };
  if (localhost) address.USHER_ISSUER = `http://localhost:${address.USHER_BIND.split(':')[1]}`;
  const env = environment({ ...address, USHER_LOG_FORMAT: 'json', ...extraEnv });
  const child = spawn(USHER_BIN, ['serve'], { cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'] });
  const lines = createInterface({ input: child.stderr });
  const seen = [];
  const listening = await new Promise((resolveStart, rejectStart) => {
    const timer = setTimeout(() => rejectStart(new Error(`usher did not start:\n${seen.join('\n')}`)), 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      rejectStart(new Error(`usher exited with ${code}:\n${seen.join('\n')}`));
    });
    lines.on('line', (line) => {
      seen.push(line);
      try {
        const event = JSON.parse(line);
        if (event.message === 'usher is listening') {
          clearTimeout(timer);
          resolveStart(event);
        }
      } catch {
        // not JSON: keep it for the error message
      }
    });
  });
  return {
    dir,
    base: listening.listen,
    issuer: listening.issuer,
    cli(args, input) {
      const run = spawnSync(USHER_BIN, args, { cwd: dir, env: environment(localhost ? { ...address, ...extraEnv } : extraEnv), input: input ?? '', encoding: 'utf8' });
      if (run.status !== 0) {
        throw new Error(`usher ${args.join(' ')} failed (${run.status}): ${run.stderr}`);
      }
      return JSON.parse(run.stdout);
    },
    /** `cli`, without blocking this process: for a command that talks to a server the
     *  test itself runs (`usher user invite` mailing through the test's SMTP server,
     *  which cannot answer while `spawnSync` holds the event loop). */
    cliAsync(args, input) {
      const env = environment(localhost ? { ...address, ...extraEnv } : extraEnv);
      return new Promise((resolveRun, rejectRun) => {
        const run = spawn(USHER_BIN, args, { cwd: dir, env, stdio: ['pipe', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        run.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
        run.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
        run.on('error', rejectRun);
        run.on('close', (status) => {
          if (status !== 0) rejectRun(new Error(`usher ${args.join(' ')} failed (${status}): ${stderr}`));
          else resolveRun(JSON.parse(stdout));
        });
        run.stdin.end(input ?? '');
      });
    },
    stop() {
      child.removeAllListeners('exit');
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
