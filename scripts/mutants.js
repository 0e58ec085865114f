'use strict';
// `npm run mutants`: a mutation check that keeps the test suite honest. Each entry of the reviewed
// list in scripts/mutants-list.js is one deliberate break of a central promise (DTLS verification
// and record layer, certificate checks, the device queue and done semantics, redaction, the
// transports' connect/close): a file, the exact original text, its replacement, and the test
// files that cover that module. One at a time, in a temporary copy of the tree (never in the
// working tree), the break is applied and built, and the covering test files run on one runtime
// (node-red 4 on this Node). The table says which test killed it, or SURVIVED, or STALE (the
// original text is no longer in the file, or is there more than once: the list needs updating).
// Exit code 1 on any SURVIVED, STALE or AMBIGUOUS row, 2 when the unmutated baseline fails.
//
//   npm run mutants                      # every mutant
//   npm run mutants -- --only redact-noop,tls-reject   # some of them (ids or id prefixes)
//   npm run mutants -- --no-baseline --keep            # skip the clean run; keep the temp copy
//
// Why not Stryker (checked: @stryker-mutator/core 10.1.1)? It has runners for Jest, Mocha,
// Jasmine, Karma, Vitest, Tap and Cucumber, none for node's own test runner, which this suite
// uses. Its generic "command" runner runs the whole command per mutant with no per-test coverage,
// and Stryker generates every mutator on every line of the mutated files (thousands for src/dtls
// and src/device alone); each mutant here needs a TypeScript build and test files that start real
// peers (aedes, libcoap, openssl) for seconds. On the 2-core machines this project runs on that is
// hours, not the 10 minutes benchmarks get. A short reviewed list of breaks of the promises we
// make — each one a break a reviewer tried or would try — costs minutes and says exactly what each
// killing test guards. The price: the list must be kept up to date by hand; STALE rows make it
// loud when the code moved under a mutant.
//
// Build: the copy is built once with tsc (scripts/build.js). Per mutant only the mutated file is
// compiled again, with TypeScript's transpileModule and the same compiler options (tsc emits
// JavaScript per file regardless of types: the same output in ~50 ms instead of a 6-second
// build), and the original output is put back afterwards.
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const option = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
// What a full run should take; over it, the run says so, but only the rows decide the exit code
// (the list grows with every feature; a slow row is found in the printed times).
const BUDGET_MS = 10 * 60 * 1000;
// A test file that runs this much longer than it did unmutated hangs: it counts as failing (every
// test has a timeout that would fail it; waiting for it only costs the budget). Without a baseline
// run, the fixed --file-timeout.
const FILE_TIMEOUT_MS = Number(option('--file-timeout') || 180000);
const baselineMs = new Map();
const fileTimeout = (file) => (baselineMs.has(file) ? Math.max(15000, 3 * baselineMs.get(file)) : FILE_TIMEOUT_MS);
let running; // the test file child process, killed if we are interrupted
let copyDir;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (running) try { process.kill(-running.pid, 'SIGKILL'); } catch { /* gone */ }
    if (copyDir && !flag('--keep')) fs.rmSync(copyDir, { recursive: true, force: true });
    process.exit(130);
  });
}

const all = require('./mutants-list');
const only = option('--only');
const mutants = only ? all.filter((m) => only.split(',').some((o) => m.id === o || m.id.startsWith(o))) : all;

function checkList() {
  const ids = new Set();
  for (const m of all) {
    for (const key of ['id', 'file', 'find', 'replace', 'tests', 'why']) {
      if (m[key] === undefined) throw new Error(`mutants-list: ${m.id || JSON.stringify(m).slice(0, 60)} has no ${key}`);
    }
    if (ids.has(m.id)) throw new Error(`mutants-list: duplicate id ${m.id}`);
    ids.add(m.id);
    if (m.find === m.replace) throw new Error(`mutants-list: ${m.id} replaces its text with itself`);
    for (const t of m.tests) if (!fs.existsSync(path.join(root, t))) throw new Error(`mutants-list: ${m.id}: no test file ${t}`);
  }
}

/** A copy of what building and testing need; node_modules is a symlink to ours. */
function makeCopy() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tb-mutants-'));
  const skip = new Set(['node_modules', '.git', '.cache', '.emulator', 'test-artifacts', 'bench']);
  for (const entry of fs.readdirSync(root)) {
    if (skip.has(entry)) continue;
    fs.cpSync(path.join(root, entry), path.join(dir, entry), {
      recursive: true,
      filter: (src) => !src.startsWith(path.join(root, 'nodes', 'lib')),
    });
  }
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  const built = spawnSync(process.execPath, [path.join(dir, 'scripts', 'build.js')], { cwd: dir, encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`mutants: the unmutated copy does not build:\n${built.stdout}${built.stderr}`);
  return dir;
}

const ts = require(require.resolve('typescript', { paths: [root] }));
const tsOptions = (() => {
  const cfg = ts.readConfigFile(path.join(root, 'tsconfig.json'), ts.sys.readFile);
  return ts.convertCompilerOptionsFromJson(cfg.config.compilerOptions, root).options;
})();

/** Writes the compiled JavaScript of `rel` (a src/ path) with `source` as its TypeScript. */
function emit(dir, rel, source) {
  const out = ts.transpileModule(source, { compilerOptions: { ...tsOptions, sourceMap: false }, fileName: rel });
  const target = path.join(dir, 'nodes', 'lib', path.relative('src', rel).replace(/\.ts$/, '.js'));
  fs.writeFileSync(target, out.outputText);
  return target;
}

/** A TAP line that fails the file: `not ok` at any depth, unless marked TODO (it does not fail). */
const FAILING_TAP_LINE = /^( *)not ok \d+ - (.*)$/gm;
const failing = (line) => !/# TODO\b/.test(line);

/**
 * Runs one test file; resolves { failed, name, timedOut, ms }. --test-force-exit: a mutant that
 * fails a test often also leaves a socket open, and the file would then wait for its timeout.
 * The file is stopped at its first failing test (TAP reports a subtest before its parent, so
 * that is the innermost one): a killed mutant needs no more, and the rest of a file of real
 * peers is most of a full run's time. A passing file (every baseline) runs to its end.
 */
function runTestFile(dir, file) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--test', '--test-reporter=tap', '--test-force-exit', file], {
      cwd: dir,
      env: { ...process.env, TB_NODE_RED: 'node-red', TB_TEST_RUNTIMES: '4' },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running = child;
    const limit = fileTimeout(file);
    let out = '';
    let firstFailed = '';
    child.stdout.on('data', (d) => {
      const from = out.lastIndexOf('\n') + 1; // a line may have begun in the last chunk
      out += d;
      if (firstFailed) return;
      const complete = out.slice(from, out.lastIndexOf('\n') + 1);
      for (const m of complete.matchAll(FAILING_TAP_LINE)) {
        if (!failing(m[0])) continue;
        firstFailed = m[2];
        try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone already */ }
        break;
      }
    });
    child.stderr.on('data', (d) => { out += d; });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone already */ }
    }, limit);
    child.on('close', (code) => {
      clearTimeout(timer);
      // The innermost failing test: the first one when stopped there, else the most indented.
      let name = firstFailed;
      let depth = -1;
      if (!name) {
        for (const m of out.matchAll(FAILING_TAP_LINE)) {
          if (failing(m[0]) && m[1].length > depth) {
            depth = m[1].length;
            name = m[2];
          }
        }
      }
      running = undefined;
      const failed = timedOut || code !== 0 || firstFailed !== '';
      resolve({ failed, name: timedOut ? `hangs: still running after ${(limit / 1000).toFixed(0)} s (3× its unmutated time)` : name, timedOut, ms: Date.now() - started, out });
    });
  });
}

function occurrences(text, find) {
  let n = 0;
  for (let i = text.indexOf(find); i >= 0; i = text.indexOf(find, i + 1)) n++;
  return n;
}

async function main() {
  checkList();
  const started = Date.now();
  const dir = makeCopy();
  copyDir = dir;
  console.log(`mutants: ${mutants.length} of ${all.length} listed, in ${dir}`);

  if (!flag('--no-baseline')) {
    const files = [...new Set(mutants.flatMap((m) => m.tests))];
    for (const file of files) {
      const r = await runTestFile(dir, file);
      baselineMs.set(file, r.ms);
      console.log(`  baseline ${file}: ${r.failed ? 'FAILS' : 'passes'} (${(r.ms / 1000).toFixed(1)} s)`);
      if (r.failed) {
        console.error(r.out.slice(-4000));
        console.error(`mutants: ${file} fails without any mutant (${r.name}): nothing can be judged`);
        process.exit(2);
      }
    }
  }

  const rows = [];
  for (const m of mutants) {
    const src = path.join(dir, m.file);
    const original = fs.readFileSync(src, 'utf8');
    const count = occurrences(original, m.find);
    if (count !== 1) {
      const result = count === 0 ? 'STALE' : 'AMBIGUOUS';
      rows.push({ m, result, by: count === 0 ? 'original text not found' : `original text found ${count} times` });
      console.log(`!!! ${result}: ${m.id} (${m.file}): ${rows[rows.length - 1].by} !!!`);
      continue;
    }
    // A file outside src/ (the emulator: plain JavaScript the tests load as it is) needs no build.
    const built = m.file.startsWith('src/');
    const target = built ? path.join(dir, 'nodes', 'lib', path.relative('src', m.file).replace(/\.ts$/, '.js')) : src;
    const compiled = fs.readFileSync(target);
    const mutated = original.replace(m.find, () => m.replace);
    fs.writeFileSync(src, mutated);
    if (built) emit(dir, m.file, mutated);
    const t0 = Date.now();
    let row = { m, result: 'SURVIVED', by: '' };
    try {
      for (const file of m.tests) {
        const r = await runTestFile(dir, file);
        if (r.failed) {
          row = { m, result: 'killed', by: `${file} › ${r.name || '(file failed)'}` };
          break;
        }
      }
    } finally {
      fs.writeFileSync(src, original);
      fs.writeFileSync(target, compiled);
    }
    row.ms = Date.now() - t0;
    rows.push(row);
    console.log(`  ${row.result === 'SURVIVED' ? '!!! SURVIVED' : 'killed'}  ${m.id}  (${(row.ms / 1000).toFixed(1)} s)${row.by ? `  by ${row.by}` : ''}`);
  }

  const total = Date.now() - started;
  console.log('\n| mutant | file | breaks | result |');
  console.log('|---|---|---|---|');
  for (const { m, result, by } of rows) {
    const shown = result === 'killed' ? `killed by ${by}` : `**${result}**${by ? ` (${by})` : ''}`;
    console.log(`| ${m.id} | ${m.file} | ${m.why} | ${shown.replace(/\|/g, '\\|')} |`);
  }
  const bad = rows.filter((r) => r.result !== 'killed');
  console.log(`\nmutants: ${rows.length - bad.length} of ${rows.length} killed; ${bad.length} not (${bad.map((r) => `${r.m.id}: ${r.result}`).join(', ') || 'none'}); ${(total / 1000).toFixed(0)} s`);
  if (total > BUDGET_MS) {
    const slowest = rows.filter((r) => r.ms !== undefined).sort((a, b) => b.ms - a.ms).slice(0, 5);
    console.log(`the run took ${(total / 60000).toFixed(1)} min, over the 10-minute budget; slowest rows: ${slowest.map((r) => `${r.m.id} ${(r.ms / 1000).toFixed(0)} s`).join(', ')}`);
  }
  if (!flag('--keep')) fs.rmSync(dir, { recursive: true, force: true });
  process.exit(bad.length ? 1 : 0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
