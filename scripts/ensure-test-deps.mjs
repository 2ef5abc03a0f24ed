#!/usr/bin/env node
// Run by `npm test` (pretest), before anything else: makes sure the system programs that some
// tests run for real are installed, so that the README's `npm test` works on a fresh machine.
//
//   prometheus, promtool               Debian package `prometheus`
//   prometheus-alertmanager, amtool    Debian package `prometheus-alertmanager`
//   /usr/bin/chromium                  Debian package `chromium`
//   redis-server                       Debian package `redis-server`
//
// Each check mirrors what the tests look for (test/e2e/prometheus-alerts.test.ts,
// test/compose/compose-stack.test.ts, test/dashboards/helpers.ts, test/demo/status-page.test.ts).
// All present: exits 0 at once. Some missing: as root, or with passwordless sudo, and with
// apt-get, installs the missing packages (output in a log file, a short note on stderr);
// otherwise exits 1 with one message naming the packages and the command that installs them.
// MCPLENS_SKIP_SYSTEM_DEPS=1 skips the check (the tests that need the programs then fail,
// each naming its package).
import { spawnSync } from 'node:child_process';
import { accessSync, closeSync, constants, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

const PACKAGES = ['prometheus', 'prometheus-alertmanager', 'chromium', 'redis-server'];

function executable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name) {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && executable(join(dir, name)));
}

// `what` is how the message names a missing program.
const REQUIREMENTS = [
  { what: 'prometheus', pkg: 'prometheus', present: () => onPath('prometheus') },
  // The compose test checks /usr/bin/promtool and /usr/bin/amtool, then runs them from PATH.
  { what: 'promtool', pkg: 'prometheus', present: () => onPath('promtool') && executable('/usr/bin/promtool') },
  {
    what: 'prometheus-alertmanager (or alertmanager)',
    pkg: 'prometheus-alertmanager',
    present: () => onPath('prometheus-alertmanager') || onPath('alertmanager'),
  },
  { what: 'amtool', pkg: 'prometheus-alertmanager', present: () => onPath('amtool') && executable('/usr/bin/amtool') },
  { what: '/usr/bin/chromium', pkg: 'chromium', present: () => executable('/usr/bin/chromium') },
  { what: 'redis-server', pkg: 'redis-server', present: () => onPath('redis-server') },
];

function missing() {
  return REQUIREMENTS.filter((r) => !r.present());
}

function packagesOf(reqs) {
  return PACKAGES.filter((p) => reqs.some((r) => r.pkg === p));
}

function installCommand(pkgs, sudo) {
  const s = sudo ? 'sudo ' : '';
  return `${s}apt-get update && ${s}apt-get install -y --no-install-recommends ${pkgs.join(' ')}`;
}

function say(text) {
  process.stderr.write(`${text}\n`);
}

/** Exits 1 with the one message a person needs: what is missing and how to install it. */
function stop(reqs, reason) {
  const pkgs = packagesOf(reqs);
  say(
    [
      `mcplens: npm test needs programs that are not installed: ${reqs.map((r) => r.what).join(', ')}.`,
      reason,
      `Install the Debian packages ${pkgs.join(', ')}, then run npm test again:`,
      '',
      `    ${installCommand(pkgs, process.getuid?.() !== 0)}`,
      '',
      'npm test runs that itself when it runs as root or with passwordless sudo, on a system with apt-get.',
      'MCPLENS_SKIP_SYSTEM_DEPS=1 npm test skips this check; the tests that need these programs then fail.',
    ].join('\n'),
  );
  process.exit(1);
}

if (process.env.MCPLENS_SKIP_SYSTEM_DEPS === '1') process.exit(0);

const absent = missing();
if (absent.length === 0) process.exit(0);

if (!onPath('apt-get')) {
  stop(absent, 'There is no apt-get here to install them with (the names below are Debian package names).');
}

let prefix = [];
if (process.getuid?.() !== 0) {
  const sudoOk = onPath('sudo') && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0;
  if (!sudoOk) stop(absent, 'This user is not root and has no passwordless sudo, so they were not installed.');
  prefix = ['sudo', '-n', 'env', 'DEBIAN_FRONTEND=noninteractive'];
}

const pkgs = packagesOf(absent);
const logPath = join(mkdtempSync(join(tmpdir(), 'mcplens-apt-')), 'apt.log');
say(`mcplens: installing the Debian packages ${pkgs.join(' ')} for the tests (apt-get, can take a few minutes; log: ${logPath})`);

function run(args) {
  const fd = openSync(logPath, 'a');
  try {
    const [cmd, ...rest] = [...prefix, ...args];
    const res = spawnSync(cmd, rest, {
      stdio: ['ignore', fd, fd],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    return res.error ? `${res.error.message}` : res.status === 0 ? undefined : `exit ${res.status ?? res.signal}`;
  } finally {
    closeSync(fd);
  }
}

const started = Date.now();
// A failed update (one unreachable source, say) is not fatal by itself: the install below may
// still find the packages; if it does not, the message reports both.
const updateFailed = run(['apt-get', '-q', 'update']);
const installFailed = run(['apt-get', '-q', '-y', '-o', 'DPkg::Lock::Timeout=300', 'install', '--no-install-recommends', ...pkgs]);

if (installFailed) {
  const tail = readFileSync(logPath, 'utf8').trimEnd().split('\n').slice(-15).join('\n');
  say(
    [
      tail,
      '',
      `mcplens: installing ${pkgs.join(' ')} failed (apt-get install: ${installFailed}${updateFailed ? `; apt-get update: ${updateFailed}` : ''}).`,
      `The last lines of the log are above; all of it is in ${logPath}.`,
      `Install the packages yourself (${installCommand(pkgs, prefix.length > 0)}), then run npm test again,`,
      'or set MCPLENS_SKIP_SYSTEM_DEPS=1 to run the tests without them (those that need them then fail).',
    ].join('\n'),
  );
  process.exit(1);
}

const still = missing();
if (still.length > 0) {
  stop(still, `apt-get installed ${pkgs.join(' ')}, yet these are still not found (log: ${logPath}).`);
}
say(`mcplens: installed ${pkgs.join(' ')} in ${Math.round((Date.now() - started) / 1000)} s`);
