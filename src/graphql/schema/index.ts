/**
 * The whole schema: each domain module registers its types and fields on the builder when
 * imported. Add a domain by importing its module here.
 */
import { builder } from '../builder';
import './common';
import './health';
import './storage';
import './storage-files';
import './unit';
import './operation';

export const schema = builder.toSchema({ sortSchema: true });
