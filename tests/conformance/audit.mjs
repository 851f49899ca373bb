// The public GraphQL-over-HTTP conformance audit (graphql-http's
// `auditServer`), run against a Chatshop server. Exits non-zero on any
// warning or error, so CI holds the server to the full list.
import { auditServer } from 'graphql-http';

const url = process.argv[2] ?? process.env.CHATSHOP_GRAPHQL_URL ?? 'http://127.0.0.1:8000/graphql';
const results = await auditServer({ url });

let ok = 0;
let warnings = 0;
let errors = 0;
for (const result of results) {
  if (result.status === 'ok') {
    ok += 1;
  } else if (result.status === 'warn') {
    warnings += 1;
    console.log(`warn  ${result.id} ${result.name}: ${result.reason}`);
  } else {
    errors += 1;
    console.log(`error ${result.id} ${result.name}: ${result.reason}`);
  }
}
console.log(`graphql-http audit of ${url}: ${ok} ok, ${warnings} warnings, ${errors} errors (${results.length} audits)`);
process.exit(warnings + errors === 0 ? 0 : 1);
