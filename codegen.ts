import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * Typed documents for the GraphQL operations under test/graphql/*.graphql, generated from the
 * checked-in schema.graphql (no network, no running server). `npm test` runs it first.
 */
const config: CodegenConfig = {
  schema: 'schema.graphql',
  documents: ['test/graphql/**/*.graphql'],
  ignoreNoDocuments: false,
  generates: {
    'test/graphql/generated/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: { enumsAsTypes: true, useTypeImports: true, scalars: { DateTime: 'string', JSON: 'unknown' } },
    },
  },
};

export default config;
