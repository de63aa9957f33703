/**
 * The Pothos schema builder: Relay (global IDs, `node`, connections) and errors-as-data
 * (mutation payload unions of a Success type and the typed errors the caller can act on).
 */
import SchemaBuilder from '@pothos/core';
import ErrorsPlugin from '@pothos/plugin-errors';
import RelayPlugin from '@pothos/plugin-relay';
import type { GraphQLContext } from './context';

const pascal = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  DefaultFieldNullability: false;
  Scalars: {
    DateTime: { Input: string; Output: string };
    JSON: { Input: unknown; Output: unknown };
  };
}>({
  plugins: [ErrorsPlugin, RelayPlugin],
  defaultFieldNullability: false,
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
  },
  errors: {
    defaultTypes: [],
    // Mutation payloads: `createStorage` → union CreateStoragePayload = CreateStorageSuccess | …Error.
    defaultResultOptions: { name: ({ fieldName }) => `${pascal(fieldName)}Success` },
    defaultUnionOptions: { name: ({ fieldName }) => `${pascal(fieldName)}Payload` },
  },
});

builder.scalarType('DateTime', {
  description: 'An RFC 3339 date-time string, as Kubernetes writes them.',
  serialize: (v) => String(v),
  parseValue: (v) => String(v),
});

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});
