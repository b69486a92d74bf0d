// Validates AsyncAPI documents with the official parser (@asyncapi/parser from the npm registry).
// Usage: node asyncapi_validate.cjs FILE...; prints every diagnostic as JSON lines
// ({file, severity, code, message, path}) and exits 1 when any of them is an error.
const fs = require("fs");
const { Parser } = require("@asyncapi/parser");

async function main(files) {
  const parser = new Parser();
  let errors = 0;
  for (const file of files) {
    const diagnostics = await parser.validate(fs.readFileSync(file, "utf8"));
    for (const d of diagnostics) {
      if (d.severity === 0) errors += 1;
      const entry = { file, severity: d.severity, code: d.code, message: d.message, path: d.path };
      console.log(JSON.stringify(entry));
    }
  }
  process.exit(errors ? 1 : 0);
}

main(process.argv.slice(2)).catch((error) => {
  console.error(error);
  process.exit(2);
});
