/**
 * Browsing a storage's volume through GraphQL: `Storage.files(path)` (a Relay connection of one
 * directory's entries) and `Storage.file(path)` (one file's metadata and head), read through the
 * accessor over the API server's service proxy (src/service/storage-files.ts).
 */
import { resolveArrayConnection } from '@pothos/plugin-relay';
import { builder } from '../builder';
import { listStorageFiles, statStorageFile, type FileEntry, type FileInfo } from '../../service/storage-files';
import { StorageType } from './storage';

const FileTypeEnum = builder.enumType('StorageFileType', { values: ['file', 'directory', 'other'] as const });

const StorageFileType = builder.objectRef<FileEntry>('StorageFile').implement({
  description: "An entry of a directory of a storage's volume, as its accessor lists it.",
  fields: (t) => ({
    name: t.exposeString('name'),
    path: t.exposeString('path', { description: "From the volume's root; a directory's ends with `/`." }),
    type: t.field({ type: FileTypeEnum, resolve: (f) => f.type }),
    size: t.field({ type: 'Float', nullable: true, description: 'Bytes (files only).', resolve: (f) => f.size }),
    modifiedAt: t.field({ type: 'DateTime', nullable: true, resolve: (f) => f.modifiedAt }),
  }),
});

const StorageFileInfoType = builder.objectRef<FileInfo>('StorageFileInfo').implement({
  description: 'A file of the volume: metadata and, for a text file, its first 4096 bytes.',
  fields: (t) => ({
    path: t.exposeString('path'),
    size: t.field({ type: 'Float', resolve: (f) => f.size }),
    modifiedAt: t.field({ type: 'DateTime', nullable: true, resolve: (f) => f.modifiedAt }),
    contentType: t.exposeString('contentType', { nullable: true }),
    head: t.exposeString('head', { nullable: true, description: 'The first 4096 bytes as UTF-8, when the file is text; null otherwise.' }),
    complete: t.exposeBoolean('complete', { description: '`head` is the whole file.' }),
  }),
});

builder.objectFields(StorageType, (t) => ({
  files: t.connection({
    type: StorageFileType,
    description:
      "The entries of a directory of the volume (default its root), by name, read through the accessor over the API server's service proxy. " +
      'Needs the accessor enabled and Ready (else OPERATION_CONFLICT); `..`, empty segments, NUL, backslashes and percent-escapes in `path` are refused (INVALID_REQUEST); a missing directory is FILE_NOT_FOUND. ' +
      'Names starting with a dot are not listed (nginx autoindex).',
    args: { path: t.arg.string({ defaultValue: '/' }) },
    resolve: async (s, args, ctx) => resolveArrayConnection({ args }, await listStorageFiles(ctx.svc, s.namespace, s.name, args.path)),
  }),
  file: t.field({
    type: StorageFileInfoType,
    description: "One file of the volume: size, modification time, type and, when it is text, its first 4096 bytes (REST GET /api/v1/gpu-storages/{name}/files/{path} streams all of it).",
    args: { path: t.arg.string({ required: true }) },
    resolve: async (s, args, ctx) => statStorageFile(ctx.svc, s.namespace, s.name, args.path),
  }),
}));
