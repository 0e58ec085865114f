'use strict';
// `npm run validate`: the Flow Library scorecard (`node-red-dev validate`) for the package as
// users get it: build, `npm pack`, unpack into a temporary folder, validate that folder.
// The catalogue request is answered locally (scripts/validate-preload.js: that host is not
// reachable from our machines), so P08 and N01 are not really checked. The npm registry is
// used for P06, P07, D02, D03.
//   required: P01 license, P03 repository/bugs, P04 name, P05 keyword, N02 examples, D01 ≤ 6 deps
//   registry: P06 node-red version, P07 engines.node, D02 no bad packages, D03 deps at latest major
// Exit code 0 when every required check and every registry check that ran passed.
// Options: --json FILE writes the scorecard; --no-build skips the build step.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.join(__dirname, '..');
const pkg = require(path.join(root, 'package.json'));

const CHECKS = [
  ['P01', 'required', 'has a license'],
  ['P03', 'required', 'repository or bugs URL'],
  ['P04', 'required', 'name is node-red-contrib-* or scoped'],
  ['P05', 'required', 'keyword "node-red"'],
  ['N02', 'required', 'every node type is used in examples/*.json'],
  ['D01', 'required', 'at most 6 production dependencies'],
  ['P06', 'registry', 'node-red.version fits the current Node-RED'],
  ['P07', 'registry', 'engines.node is compatible'],
  ['D02', 'registry', 'no known-bad packages in the dependency tree'],
  ['D03', 'registry', 'production dependencies at their latest version'],
  ['P08', 'catalogue', 'no similar names in the catalogue'],
  ['N01', 'catalogue', 'node types unique in the catalogue'],
];

function run(cmd, args, opts = {}) {
  return spawnSync(cmd, args, { encoding: 'utf8', cwd: root, maxBuffer: 64 * 1024 * 1024, ...opts });
}

function main() {
  const argv = process.argv.slice(2);
  const jsonOut = argv.includes('--json') ? argv[argv.indexOf('--json') + 1] : null;
  const problems = [];

  if (!argv.includes('--no-build')) {
    const build = run(process.execPath, [path.join(root, 'scripts', 'build.js')]);
    if (build.status !== 0) {
      process.stdout.write(build.stdout.split('\n').slice(-15).join('\n'));
      problems.push('the build reported errors (output above); validating what was compiled');
    }
  }

  // What `npm publish` would ship: pack without lifecycle scripts (we just built), then unpack.
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tb-validate-'));
  try {
    const pack = run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work]);
    if (pack.status !== 0) throw new Error(`npm pack failed:\n${pack.stderr}`);
    const [{ filename, files }] = JSON.parse(pack.stdout);
    const tar = run('tar', ['-xzf', path.join(work, filename), '-C', work]);
    if (tar.status !== 0) throw new Error(`tar failed: ${tar.stderr}`);
    const packed = path.join(work, 'package');

    // The tool skips a node whose .html it cannot find and then "passes" N02 for it: check
    // first that every node file and editor is in the package.
    const shipped = new Set(files.map((f) => f.path));
    for (const [type, file] of Object.entries(pkg['node-red'].nodes)) {
      for (const f of [file, file.replace(/\.js$/, '.html')]) {
        if (!shipped.has(f)) problems.push(`${type}: ${f} is not in the package`);
      }
    }
    const examples = files.filter((f) => /^examples\/[^/]+\.json$/.test(f.path)).map((f) => f.path);

    const scoreFile = path.join(work, 'scorecard.json');
    const tool = path.join(path.dirname(require.resolve('node-red-dev/package.json', { paths: [root] })), 'bin', 'run');
    const res = run(process.execPath, ['--require', path.join(__dirname, 'validate-preload.js'), tool, 'validate', '-p', packed, '-o', scoreFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 5 * 60 * 1000,
    });
    const output = `${res.stdout}${res.stderr}`;
    process.stdout.write(`node-red-dev validate on the packed ${pkg.name}@${pkg.version} (${files.length} files, ${examples.length} examples):\n`);
    process.stdout.write(output.split('\n').map((l) => `  | ${l}`).join('\n') + '\n');
    if (/Unable to parse/.test(output)) problems.push('node-red-dev could not parse a node .html (see above)');
    const score = fs.existsSync(scoreFile) ? JSON.parse(fs.readFileSync(scoreFile, 'utf8')) : {};
    const networkFailure = /ENOTFOUND|ECONNREFUSED|ETIMEDOUT|EAI_AGAIN|getaddrinfo|socket hang up/i.test(output);

    // node-red-dev 0.1.6 records P05 as passed even when the keyword is missing: check it here.
    if (score.P05 && !(pkg.keywords || []).includes('node-red')) score.P05 = { test: false };

    let failed = problems.length > 0;
    process.stdout.write('\nFlow Library scorecard\n');
    for (const [id, group, what] of CHECKS) {
      const r = score[id];
      let mark;
      if (group === 'catalogue') mark = '·  not checked (catalogue unreachable, answered locally)';
      else if (!r) {
        mark = group === 'registry' && networkFailure ? '?  not run: the npm registry was not reachable' : '✗  not run (the tool stopped before it)';
        if (group === 'required' || !networkFailure) failed = true;
      } else if (r.test) mark = '✓  pass';
      else {
        mark = '✗  FAIL';
        failed = true;
      }
      const detail = r && r.packages ? ` (${r.packages.join(', ')})` : r && r.nodes && !r.test ? ` (${[].concat(r.nodes).join(', ')})` : '';
      process.stdout.write(`  ${id}  ${what.padEnd(50)} ${mark}${detail}\n`);
    }
    if (examples.length === 0) problems.push('N02: there is no examples/*.json in the package');
    for (const p of problems) process.stdout.write(`  !   ${p}\n`);
    process.stdout.write(failed ? '\nvalidate: FAILED\n' : '\nvalidate: all required checks pass\n');
    if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify({ score, problems, failed }, null, 2));
    process.exitCode = failed ? 1 : 0;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

try {
  main();
} catch (err) {
  console.error(`validate: ${err.message}`);
  process.exitCode = 1;
}
