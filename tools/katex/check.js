#!/usr/bin/env node
// Validates LaTeX math fragments with KaTeX in strict mode, all in one process.
//
// stdin:  JSON array of {"id": string, "tex": string, "display": boolean}
// stdout: JSON array of {"id": string, "ok": boolean, "error": string | null}, in input order
//
// Each fragment is rendered with katex.renderToString(tex, {displayMode: display,
// throwOnError: true, strict: "error"}), so parse errors and LaTeX-incompatible input (for
// example Unicode text in math mode) are both reported as errors.
//
// Exit status: 0 when it ran, even if some fragments failed; 2 when it could not run (KaTeX
// missing, input unreadable or not of the shape above). `node check.js --version` prints the
// KaTeX version.
"use strict";

const fs = require("fs");

function die(message) {
  process.stderr.write(`check.js: ${message}\n`);
  process.exit(2);
}

let katex;
try {
  katex = require("katex");
} catch (err) {
  die(`cannot load katex (run \`npm ci\` in tools/katex): ${err.message}`);
}

if (process.argv.includes("--version")) {
  process.stdout.write(`${katex.version}\n`);
  process.exit(0);
}

let fragments;
try {
  fragments = JSON.parse(fs.readFileSync(0, "utf8"));
} catch (err) {
  die(`stdin is not JSON: ${err.message}`);
}
if (!Array.isArray(fragments)) {
  die("stdin must be a JSON array");
}
fragments.forEach((f, i) => {
  if (
    f === null ||
    typeof f !== "object" ||
    typeof f.id !== "string" ||
    typeof f.tex !== "string" ||
    typeof f.display !== "boolean"
  ) {
    die(`item ${i} is not {"id": string, "tex": string, "display": boolean}`);
  }
});

const results = fragments.map(({ id, tex, display }) => {
  try {
    katex.renderToString(tex, {
      displayMode: display,
      throwOnError: true,
      strict: "error",
    });
    return { id, ok: true, error: null };
  } catch (err) {
    const message = err && err.message ? err.message : String(err);
    return { id, ok: false, error: message };
  }
});

process.stdout.write(JSON.stringify(results));
process.stdout.write("\n");
