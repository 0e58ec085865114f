'use strict';
// Loaded with `node --require` into `node-red-dev validate` (scripts/validate.js). The tool
// fetches https://catalogue.nodered.org/catalogue.json for P08 (similar names) and N01 (unique
// node types) and aborts the whole run when that host is unreachable, as it is on our build
// machines. This answers that one request locally with an empty catalogue, so the remaining
// checks run; P08 and N01 are then reported as "not checked" by scripts/validate.js.
// Every other request (the npm registry, for P06, P07, D02, D03) goes out unchanged.
const path = require('node:path');

const CATALOGUE = 'catalogue.nodered.org';
const devDir = path.dirname(require.resolve('node-red-dev/package.json', { paths: [process.cwd(), path.join(__dirname, '..')] }));
const axios = require(require.resolve('axios', { paths: [path.join(devDir, 'src')] }));

const original = axios.defaults.adapter;
axios.defaults.adapter = function catalogueLocally(config) {
  let host = '';
  try {
    host = new URL(config.url, config.baseURL).hostname;
  } catch { /* relative or odd URL: not the catalogue */ }
  if (host === CATALOGUE) {
    if (process.env.TB_VALIDATE_MARK) process.stderr.write(`${process.env.TB_VALIDATE_MARK} catalogue answered locally\n`);
    return Promise.resolve({ data: { modules: [] }, status: 200, statusText: 'OK (answered locally)', headers: {}, config, request: {} });
  }
  return original(config);
};
