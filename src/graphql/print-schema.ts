/**
 * Prints the Pothos schema to schema.graphql (npm run schema:print). test/unit/schema.test.ts
 * fails when the checked-in file is stale.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { lexicographicSortSchema, printSchema } from 'graphql';
import { schema } from './schema/index';

/** The SDL of the schema, sorted, with a trailing newline. */
export function printedSchema(): string {
  return `${printSchema(lexicographicSortSchema(schema))}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = new URL('../../schema.graphql', import.meta.url);
  writeFileSync(out, printedSchema());
  console.log(`wrote ${fileURLToPath(out)}`);
}
