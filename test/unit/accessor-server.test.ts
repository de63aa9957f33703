/**
 * The accessor's file server (contract: read-only, port 8080 named `http`, lists directories, `/`
 * is the volume's root). busybox httpd answered 404 for every directory; nginx autoindex lists them.
 */
import { describe, expect, it } from 'vitest';
import { accessorContainer, accessorNginxConfig } from '../../src/controllers/storage/accessor-server';
import { ACCESSOR_JSON_PREFIX } from '../../src/api/constants';
import { desiredAccessorDeployment } from '../../src/controllers/storage/children';
import type { GPUStorage } from '../../src/api/types';

const storage: GPUStorage = {
  apiVersion: 'runtime.lokiwager.io/v1alpha1',
  kind: 'GPUStorage',
  metadata: { name: 'model-cache', namespace: 'runtime-instance', uid: 'u1' },
  spec: { size: '1Gi', accessor: { enabled: true } },
};

describe('accessorNginxConfig', () => {
  const conf = accessorNginxConfig();
  const lines = conf.split('\n').map((l) => l.trim());

  it('serves /data on 8080 and lists every directory, the root included (HTML and JSON)', () => {
    expect(lines).toContain('listen 8080;');
    expect(lines).toContain('root /data;');
    expect(lines).toContain('autoindex on;');
    expect(conf).toMatch(new RegExp(`location \\^~ ${ACCESSOR_JSON_PREFIX.replaceAll('.', '\\.')} \\{\\s+limit_except GET \\{ deny all; \\}\\s+alias /data/;\\s+autoindex_format json;`));
    // index.html in a directory does not hide its listing.
    expect(lines).toContain('index .accessor-no-index-2b7e;');
  });

  it('is read-only and does not follow symlinks out of the volume', () => {
    // limit_except GET also allows HEAD; every other method is denied, in both locations.
    expect(conf.match(/limit_except GET \{ deny all; \}/g)).toHaveLength(2);
    expect(conf).not.toMatch(/dav_methods|client_max_body_size/);
    expect(lines).toContain('disable_symlinks on;');
  });

  it('writes nothing outside /tmp (read-only root filesystem)', () => {
    for (const l of lines.filter((l) => /^(pid|\w+_temp_path) /.test(l))) expect(l).toMatch(/ \/tmp\//);
    expect(lines).toContain('error_log stderr warn;');
    expect(lines).toContain('access_log /dev/stdout;');
  });

  it('takes the port and the root', () => {
    const c = accessorNginxConfig(9000, '/srv');
    expect(c).toContain('listen 9000;');
    expect(c).toContain('root /srv;');
    expect(c).toContain('alias /srv/;');
  });
});

describe('accessorContainer', () => {
  const c = accessorContainer();
  it('writes the config to /tmp and execs nginx in the foreground on it', () => {
    expect(c.command?.slice(0, 2)).toEqual(['sh', '-c']);
    const script = c.command![2]!;
    expect(script.startsWith("cat > /tmp/nginx.conf <<'EOF'\n")).toBe(true);
    expect(script).toContain(`\n${accessorNginxConfig()}EOF\n`);
    expect(script.endsWith("exec nginx -c /tmp/nginx.conf -e stderr -g 'daemon off;'")).toBe(true);
    expect(c.image).toBe('docker.io/library/nginx:1.27');
  });

  it('port http 8080, volume read-only at /data, /tmp writable, ready when / answers', () => {
    expect(c.ports).toEqual([{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
    expect(c.volumeMounts).toEqual([
      { name: 'data', mountPath: '/data', readOnly: true },
      { name: 'tmp', mountPath: '/tmp' },
    ]);
    expect(c.readinessProbe?.httpGet).toEqual({ path: '/', port: 'http' });
  });

  it('non-root, read-only root filesystem, no privilege escalation, no capabilities', () => {
    expect(c.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 101,
      runAsGroup: 101,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
  });
});

describe('desiredAccessorDeployment', () => {
  it('mounts the PVC read-only and an emptyDir at /tmp', () => {
    const d = desiredAccessorDeployment(storage, 1);
    const spec = d.spec!.template.spec!;
    expect(spec.containers).toEqual([accessorContainer()]);
    expect(spec.volumes).toEqual([
      { name: 'data', persistentVolumeClaim: { claimName: 'model-cache', readOnly: true } },
      { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
    ]);
  });
});
