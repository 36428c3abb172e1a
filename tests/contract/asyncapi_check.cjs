// Parse an AsyncAPI document with the reference parser (@asyncapi/parser) and print its
// diagnostics as JSON: {parsed, diagnostics: [{severity, code, message, path}]}; severity 0
// is an error. NODE_PATH points at the node_modules the test setup installed.
const { readFileSync } = require("node:fs");
const { Parser } = require("@asyncapi/parser");

(async () => {
  const text = readFileSync(process.argv[2], "utf8");
  const { document, diagnostics } = await new Parser().parse(text);
  const out = diagnostics.map((d) => ({
    severity: d.severity, code: d.code, message: d.message, path: d.path.join("."),
  }));
  console.log(JSON.stringify({ parsed: document !== undefined, diagnostics: out }));
})();
