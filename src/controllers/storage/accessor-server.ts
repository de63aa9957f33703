/**
 * The accessor's HTTP file server: nginx serving the storage's volume read-only. Pure builders.
 *
 * Rule: ../shared/spec/contract.md ("Owned objects and naming", Accessor): port 8080 named `http`,
 * "serving the volume read-only (the PVC is mounted read-only) and listing its directories (`/`
 * lists the volume's root)". busybox httpd, used before, answers 404 for `/` and every directory
 * without an index.html (it has no listing), so nginx with `autoindex` replaces it:
 * - `/<path>/` lists the directory (HTML), `/<path>` serves the file with HEAD and Range;
 * - `/.accessor/json/<path>/` is the same listing as JSON (name, type, mtime, size), for clients;
 * - only GET and HEAD are allowed (anything else: 403), and the volume is mounted read-only anyway;
 * - symbolic links are not followed (`disable_symlinks on`: 403), so a link in the volume never
 *   serves a file of the container's own filesystem;
 * - a directory is listed, not replaced by an index.html in it;
 * - runs as a non-root user with a read-only root filesystem: the config, pid and temp files go to
 *   an emptyDir at /tmp.
 */
import type { V1Container } from '@kubernetes/client-node';
import { ACCESSOR_IMAGE, ACCESSOR_JSON_PREFIX, ACCESSOR_PORT } from '../../api/constants';

/** Where the volume is mounted in the accessor container. */
export const ACCESSOR_DATA_DIR = '/data';
/** The unprivileged user the accessor runs as (nginx's user in the official image). */
export const ACCESSOR_UID = 101;

/**
 * nginx.conf of the accessor (contract: read-only, lists directories, `/` is the volume's root).
 * `index` names an improbable file (`.accessor-no-index-2b7e`) instead of index.html, so a directory
 * is listed rather than replaced by a page the volume happens to hold.
 */
export function accessorNginxConfig(port = ACCESSOR_PORT, root = ACCESSOR_DATA_DIR): string {
  return `worker_processes 1;
pid /tmp/nginx.pid;
error_log stderr warn;
events { worker_connections 256; }
http {
  access_log /dev/stdout;
  client_body_temp_path /tmp/client_body;
  proxy_temp_path /tmp/proxy;
  fastcgi_temp_path /tmp/fastcgi;
  uwsgi_temp_path /tmp/uwsgi;
  scgi_temp_path /tmp/scgi;
  types { text/html html htm; text/plain txt log md; application/json json; image/png png; image/jpeg jpg jpeg; }
  default_type application/octet-stream;
  charset utf-8;
  server_tokens off;
  server {
    listen ${port};
    root ${root};
    disable_symlinks on;
    autoindex on;
    autoindex_exact_size on;
    autoindex_localtime off;
    index .accessor-no-index-2b7e;
    location / {
      limit_except GET { deny all; }
    }
    location ^~ ${ACCESSOR_JSON_PREFIX} {
      limit_except GET { deny all; }
      alias ${root}/;
      autoindex_format json;
    }
  }
}
`;
}

/**
 * The accessor container: writes {@link accessorNginxConfig} to /tmp and execs nginx in the
 * foreground on it; the volume read-only at /data, non-root, read-only root filesystem, no
 * privilege escalation, every capability dropped.
 */
export function accessorContainer(): V1Container {
  const conf = accessorNginxConfig();
  return {
    name: 'accessor',
    image: ACCESSOR_IMAGE,
    command: ['sh', '-c', `cat > /tmp/nginx.conf <<'EOF'\n${conf}EOF\nexec nginx -c /tmp/nginx.conf -e stderr -g 'daemon off;'`],
    ports: [{ name: 'http', containerPort: ACCESSOR_PORT, protocol: 'TCP' }],
    volumeMounts: [
      { name: 'data', mountPath: ACCESSOR_DATA_DIR, readOnly: true },
      { name: 'tmp', mountPath: '/tmp' },
    ],
    readinessProbe: { httpGet: { path: '/', port: 'http' }, periodSeconds: 10 },
    securityContext: {
      runAsNonRoot: true,
      runAsUser: ACCESSOR_UID,
      runAsGroup: ACCESSOR_UID,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    },
  };
}
