import { describe, expect, it } from 'vitest';
import { createUnitHash, validateAccess, validateCreateUnit, validateMounts, validateTemplate } from '../../src/service/unit-validate';
import { validateSeedStock } from '../../src/service/operations';
import { ServiceError } from '../../src/service/errors';

/** The field a validator names when it refuses `fn`. */
function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ServiceError);
    expect((err as ServiceError).code).toBe('invalid_request');
    expect((err as ServiceError).httpStatus).toBe(400);
    return (err as ServiceError).field;
  }
  throw new Error('expected a validation error');
}

const base = { operationID: 'op-1', name: 'demo', specName: 'g1.1', image: 'python:3.12' };

describe('validateCreateUnit', () => {
  it('accepts the design text\'s example and fills defaults', () => {
    const input = validateCreateUnit({
      ...base,
      namespace: 'runtime-instance',
      access: { primaryPort: 'http', scheme: 'http' },
      template: { command: ['python'], args: ['-m', 'http.server', '8080'], ports: [{ name: 'http', port: 8080 }] },
      storageMounts: [{ name: 'model-cache', mountPath: '/workspace/cache' }],
    });
    expect(input.template!.ports).toEqual([{ name: 'http', port: 8080, protocol: 'TCP' }]);
    expect(input.storageMounts).toEqual([{ name: 'model-cache', mountPath: '/workspace/cache' }]);
    expect(validateCreateUnit({ ...base }).namespace).toBe('runtime-instance');
    expect(validateCreateUnit({ ...base, operationID: undefined }).operationID).toMatch(/^generated-/);
  });

  it('names the field at fault', () => {
    expect(fieldOf(() => validateCreateUnit({ ...base, name: 'Bad_Name' }))).toBe('name');
    expect(fieldOf(() => validateCreateUnit({ ...base, name: 'a'.repeat(64) }))).toBe('name');
    expect(fieldOf(() => validateCreateUnit({ ...base, namespace: 'runtime-stock' }))).toBe('namespace');
    expect(fieldOf(() => validateCreateUnit({ ...base, specName: '' }))).toBe('specName');
    expect(fieldOf(() => validateCreateUnit({ ...base, image: 'has space' }))).toBe('image');
    expect(fieldOf(() => validateCreateUnit({ ...base, image: undefined }))).toBe('image');
    expect(fieldOf(() => validateCreateUnit('nope'))).toBe('body');
    expect(fieldOf(() => validateCreateUnit({ ...base, access: { primaryPort: 'http' } }))).toBe('access.primaryPort');
  });

  it('hashes the payload, not the operationID', () => {
    const a = validateCreateUnit({ ...base });
    const b = validateCreateUnit({ ...base, operationID: 'op-2' });
    const c = validateCreateUnit({ ...base, image: 'python:3.13' });
    expect(createUnitHash(a)).toBe(createUnitHash(b));
    expect(createUnitHash(a)).not.toBe(createUnitHash(c));
  });
});

describe('validateTemplate', () => {
  it('checks env names: valid, unique, not injected by the platform', () => {
    expect(validateTemplate({ envs: [{ name: 'A_B', value: '1' }, { name: 'c.d' }] })!.envs).toEqual([{ name: 'A_B', value: '1' }, { name: 'c.d', value: '' }]);
    expect(fieldOf(() => validateTemplate({ envs: [{ name: '1ABC', value: '' }] }))).toBe('template.envs[0].name');
    expect(fieldOf(() => validateTemplate({ envs: [{ name: 'A=B' }] }))).toBe('template.envs[0].name');
    expect(fieldOf(() => validateTemplate({ envs: [{ name: 'X' }, { name: 'X' }] }))).toBe('template.envs[1].name');
    expect(fieldOf(() => validateTemplate({ envs: [{ name: 'GPU_COUNT', value: '9' }] }))).toBe('template.envs[0].name');
    expect(fieldOf(() => validateTemplate({ envs: [{ name: 'X', value: 3 }] }))).toBe('template.envs[0].value');
  });

  it('checks ports: 1–65535, valid unique names, unique port/protocol, protocol enum', () => {
    expect(validateTemplate({ ports: [{ name: 'http', port: 80 }, { name: 'dns', port: 80, protocol: 'UDP' }] })!.ports).toHaveLength(2);
    expect(fieldOf(() => validateTemplate({ ports: [{ name: 'http', port: 0 }] }))).toBe('template.ports[0].port');
    expect(fieldOf(() => validateTemplate({ ports: [{ name: 'http', port: 65536 }] }))).toBe('template.ports[0].port');
    expect(fieldOf(() => validateTemplate({ ports: [{ name: 'http', port: 80.5 }] }))).toBe('template.ports[0].port');
    expect(fieldOf(() => validateTemplate({ ports: [{ name: 'HTTP', port: 80 }] }))).toBe('template.ports[0].name');
    expect(fieldOf(() => validateTemplate({ ports: [{ name: 'a-very-long-port-name', port: 80 }] }))).toBe('template.ports[0].name');
    expect(fieldOf(() => validateTemplate({ ports: [{ name: '8080', port: 80 }] }))).toBe('template.ports[0].name');
    expect(fieldOf(() => validateTemplate({ ports: [{ name: 'a', port: 80 }, { name: 'a', port: 81 }] }))).toBe('template.ports[1].name');
    expect(fieldOf(() => validateTemplate({ ports: [{ name: 'a', port: 80 }, { name: 'b', port: 80 }] }))).toBe('template.ports[1].port');
    expect(fieldOf(() => validateTemplate({ ports: [{ name: 'a', port: 80, protocol: 'HTTP' }] }))).toBe('template.ports[0].protocol');
    expect(fieldOf(() => validateTemplate({ command: 'python' }))).toBe('template.command');
  });

  it('is optional and drops empty lists', () => {
    expect(validateTemplate(undefined)).toBeUndefined();
    expect(validateTemplate({ command: [], envs: [] })).toBeUndefined();
  });
});

describe('validateAccess', () => {
  const ports = [{ name: 'http', port: 8080 }];
  it('primaryPort must name a port; naming one requires ports; scheme from the enum', () => {
    expect(validateAccess({ primaryPort: 'http', scheme: 'https' }, ports)).toEqual({ primaryPort: 'http', scheme: 'https' });
    expect(validateAccess({}, ports)).toBeUndefined();
    expect(fieldOf(() => validateAccess({ primaryPort: 'grpc' }, ports))).toBe('access.primaryPort');
    expect(fieldOf(() => validateAccess({ primaryPort: 'http' }, undefined))).toBe('access.primaryPort');
    expect(fieldOf(() => validateAccess({ scheme: 'ftp' }, ports))).toBe('access.scheme');
  });
});

describe('validateMounts', () => {
  it('mountPaths absolute, not /, no .., no duplicates; each storage once', () => {
    expect(validateMounts([{ name: 'a', mountPath: '/data', readOnly: true }])).toEqual([{ name: 'a', mountPath: '/data', readOnly: true }]);
    expect(fieldOf(() => validateMounts([{ name: 'a', mountPath: 'data' }]))).toBe('storageMounts[0].mountPath');
    expect(fieldOf(() => validateMounts([{ name: 'a', mountPath: '/' }]))).toBe('storageMounts[0].mountPath');
    expect(fieldOf(() => validateMounts([{ name: 'a', mountPath: '//' }]))).toBe('storageMounts[0].mountPath');
    expect(fieldOf(() => validateMounts([{ name: 'a', mountPath: '/x/../etc' }]))).toBe('storageMounts[0].mountPath');
    expect(fieldOf(() => validateMounts([{ name: 'a', mountPath: '/x' }, { name: 'b', mountPath: '/x/' }]))).toBe('storageMounts[1].mountPath');
    expect(fieldOf(() => validateMounts([{ name: 'a', mountPath: '/x' }, { name: 'a', mountPath: '/y' }]))).toBe('storageMounts[1].name');
    expect(fieldOf(() => validateMounts([{ name: 'A', mountPath: '/x' }]))).toBe('storageMounts[0].name');
    expect(fieldOf(() => validateMounts([{ name: 'a', mountPath: '/x', readOnly: 'yes' }]))).toBe('storageMounts[0].readOnly');
    expect(fieldOf(() => validateMounts({}))).toBe('storageMounts');
  });
});

describe('validateSeedStock', () => {
  it('checks operationID, specName, memory quantity, gpu and replicas', () => {
    expect(validateSeedStock({ operationID: 'x', specName: 'g1.1', memory: '16Gi', gpu: 1, replicas: 2 })).toEqual({ operationID: 'x', specName: 'g1.1', memory: '16Gi', gpu: 1, replicas: 2 });
    expect(validateSeedStock({ operationID: 'x', specName: 'g1.1', memory: '1Gi' })).toMatchObject({ gpu: 0, replicas: 1 });
    const ok = { operationID: 'x', specName: 'g1.1', memory: '16Gi', gpu: 1, replicas: 1 };
    expect(fieldOf(() => validateSeedStock({ ...ok, operationID: '' }))).toBe('operationID');
    expect(fieldOf(() => validateSeedStock({ ...ok, specName: 'g 1' }))).toBe('specName');
    expect(fieldOf(() => validateSeedStock({ ...ok, specName: 'g'.repeat(43) }))).toBe('specName');
    expect(fieldOf(() => validateSeedStock({ ...ok, memory: '16GB' }))).toBe('memory');
    expect(fieldOf(() => validateSeedStock({ ...ok, memory: '0' }))).toBe('memory');
    expect(fieldOf(() => validateSeedStock({ ...ok, gpu: -1 }))).toBe('gpu');
    expect(fieldOf(() => validateSeedStock({ ...ok, gpu: 1.5 }))).toBe('gpu');
    expect(fieldOf(() => validateSeedStock({ ...ok, replicas: 0 }))).toBe('replicas');
    expect(fieldOf(() => validateSeedStock({ ...ok, replicas: 101 }))).toBe('replicas');
  });
});
