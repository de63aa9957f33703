// Writes an OCI image layout (https://github.com/opencontainers/image-spec/blob/main/image-layout.md)
// from gzip-compressed layer tarballs, with no tool beyond Node: blobs named by their SHA-256,
// one manifest, an index.json naming it. Everything in it is derived from the inputs and
// SOURCE_DATE_EPOCH, so equal inputs give byte-equal blobs and the same manifest digest.
//
// usage: node oci-layout.mjs <layout-dir> <ref-name> <config.json-fragment> <layer.tar.gz>...
//   config fragment: the image's "config" object (User, Entrypoint, Env, …) and labels.
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createGunzip } from 'node:zlib';

const [layoutDir, refName, configFile, ...layers] = process.argv.slice(2);
if (!layoutDir || !refName || !configFile || layers.length === 0) {
  process.stderr.write('usage: node oci-layout.mjs <layout-dir> <ref-name> <config.json> <layer.tar.gz>...\n');
  process.exit(2);
}
const epoch = Number(process.env.SOURCE_DATE_EPOCH);
if (!Number.isInteger(epoch)) throw new Error('SOURCE_DATE_EPOCH must be set (seconds since 1970)');
const created = new Date(epoch * 1000).toISOString().replace('.000Z', 'Z');

mkdirSync(`${layoutDir}/blobs/sha256`, { recursive: true });

async function sha256OfStream(stream) {
  const h = createHash('sha256');
  for await (const chunk of stream) h.update(chunk);
  return h.digest('hex');
}

function putBlob(bytes) {
  const hex = createHash('sha256').update(bytes).digest('hex');
  writeFileSync(`${layoutDir}/blobs/sha256/${hex}`, bytes);
  return { digest: `sha256:${hex}`, size: bytes.length };
}

const layerDescs = [];
const diffIds = [];
for (const file of layers) {
  const gz = await sha256OfStream(createReadStream(file));
  const size = readFileSync(file).length;
  renameSync(file, `${layoutDir}/blobs/sha256/${gz}`);
  diffIds.push(`sha256:${await sha256OfStream(createReadStream(`${layoutDir}/blobs/sha256/${gz}`).pipe(createGunzip()))}`);
  layerDescs.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${gz}`, size });
}

const fragment = JSON.parse(readFileSync(configFile, 'utf8'));
const config = {
  created,
  architecture: 'amd64',
  os: 'linux',
  config: fragment.config,
  rootfs: { type: 'layers', diff_ids: diffIds },
  history: (fragment.history ?? []).map((comment) => ({ created, created_by: 'hack/image/build.sh', comment })),
};
const configDesc = { mediaType: 'application/vnd.oci.image.config.v1+json', ...putBlob(Buffer.from(JSON.stringify(config))) };
const manifest = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: configDesc,
  layers: layerDescs,
  annotations: { 'org.opencontainers.image.created': created, ...fragment.annotations },
};
const manifestDesc = putBlob(Buffer.from(JSON.stringify(manifest)));
writeFileSync(`${layoutDir}/oci-layout`, JSON.stringify({ imageLayoutVersion: '1.0.0' }));
writeFileSync(
  `${layoutDir}/index.json`,
  JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifestDesc, annotations: { 'org.opencontainers.image.ref.name': refName } }],
  }),
);
process.stdout.write(`${manifestDesc.digest}\n`);
