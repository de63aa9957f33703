/**
 * Paths for browsing a storage's volume (src/service/storage-files.ts): normalised and confined to
 * the volume; every hostile form refused with 400 naming the field, before anything is asked.
 */
import { describe, expect, it } from 'vitest';
import { accessorProxyPath, normaliseFilePath } from '../../src/service/storage-files';
import { ValidationError } from '../../src/service/errors';
import { HOSTILE_PATHS } from '../support/hostile-paths';


describe('normaliseFilePath', () => {
  it('names the volume root for /, empty and undefined, and keeps a directory\'s trailing slash', () => {
    expect(normaliseFilePath('/')).toBe('/');
    expect(normaliseFilePath('')).toBe('/');
    expect(normaliseFilePath(undefined)).toBe('/');
    expect(normaliseFilePath('/model')).toBe('/model');
    expect(normaliseFilePath('model/README.txt')).toBe('/model/README.txt');
    expect(normaliseFilePath('/model/')).toBe('/model/');
    expect(normaliseFilePath('/.hidden')).toBe('/.hidden');
    expect(normaliseFilePath('/a b/ünï…')).toBe('/a b/ünï…');
    // A leading slash is the volume's root: /etc/passwd is the volume's etc/passwd.
    expect(normaliseFilePath('/etc/passwd')).toBe('/etc/passwd');
  });

  it.each(HOSTILE_PATHS)('refuses %j with 400 naming the field', (p) => {
    let err: unknown;
    try {
      normaliseFilePath(p, 'path');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).httpStatus).toBe(400);
    expect((err as ValidationError).field).toBe('path');
  });

  it('refuses what is not a string', () => {
    expect(() => normaliseFilePath(5)).toThrow(ValidationError);
    expect(() => normaliseFilePath({})).toThrow(ValidationError);
  });
});

describe('accessorProxyPath', () => {
  it('goes through the API server\'s service proxy to the accessor, each segment encoded', () => {
    expect(accessorProxyPath('team-a', 'model-cache', '/model/README.txt')).toBe(
      '/api/v1/namespaces/team-a/services/storage-accessor-model-cache:http/proxy/model/README.txt',
    );
    expect(accessorProxyPath('team-a', 'm', '/a b/#?x')).toBe('/api/v1/namespaces/team-a/services/storage-accessor-m:http/proxy/a%20b/%23%3Fx');
    expect(accessorProxyPath('team-a', 'm', '/model/', true)).toBe('/api/v1/namespaces/team-a/services/storage-accessor-m:http/proxy/.accessor/json/model/');
    expect(accessorProxyPath('team-a', 'm', '/', true)).toBe('/api/v1/namespaces/team-a/services/storage-accessor-m:http/proxy/.accessor/json/');
  });
});
