'use strict';
// `npm install` on the Node.js the package supports must not print EBADENGINE (a newcomer takes
// it for a failure): no direct dependency may require a newer Node than this one. node-red 5
// (engines >=22.9) is therefore installed by test/run.js into .cache/, not a devDependency.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const semver = require('semver');

const root = path.join(__dirname, '..', '..');
const pkg = require(path.join(root, 'package.json'));

test('install: every direct dependency accepts this Node.js in its engines.node', () => {
  const deps = { ...pkg.dependencies, ...pkg.devDependencies };
  const refused = [];
  for (const name of Object.keys(deps)) {
    const dep = require(path.join(root, 'node_modules', name, 'package.json'));
    const range = dep.engines && dep.engines.node;
    if (range && !semver.satisfies(process.version, range, { includePrerelease: true })) refused.push(`${name}@${dep.version} wants node ${range}`);
  }
  assert.deepEqual(refused, [], `npm install on ${process.version} would print EBADENGINE for these`);
  assert.equal('node-red-5' in deps, false, 'node-red 5 comes from test/run.js (.cache/node-red-5)');
});
