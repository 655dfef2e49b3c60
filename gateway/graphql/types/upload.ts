import { GraphQLError } from 'graphql';
import type { Builder } from '../builder.ts';

/** Adds the `Upload` scalar: a file sent with the GraphQL multipart request protocol (Yoga hands it over as a Web File). */
export function defineUpload(builder: Builder): void {
  builder.scalarType('Upload', {
    description: 'A file sent with the GraphQL multipart request specification; input only.',
    serialize: () => {
      throw new GraphQLError('Upload is an input-only scalar.');
    },
    parseValue: (value) => {
      if (typeof value !== 'object' || value === null || typeof (value as File).stream !== 'function') {
        throw new GraphQLError('Expected a file sent as a multipart upload.');
      }
      return value as File;
    },
  });
}
